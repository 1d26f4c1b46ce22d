// Notification targets (`notify` in the front matter or a connection profile): which webhooks hear about a run.
//
// A target names the environment variable (or, in VS Code, the secret) that holds the webhook URL, never the URL:
// a webhook URL is a credential (anyone holding it can post), and the file ends up in git.

/** One notification target. */
export interface NotifyTarget {
  /** Environment variable holding the webhook URL (in VS Code: the secret stored under this name). */
  url_env: string;
  /** `slack`: Slack-compatible incoming-webhook JSON (`{"text","blocks"}`); `json`: `{"event":"run.started",…}`. */
  format: 'slack' | 'json';
  /** Also send an event after each step (cell) completes. Default false. */
  steps: boolean;
}

/** Result of reading a `notify` list. */
export type NotifyParse = { ok: true; targets: NotifyTarget[] } | { ok: false; error: string };

const KEYS = ['url_env', 'format', 'steps'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why the URL is not in the file, and where it goes instead. */
export const WEBHOOK_URL_HELP =
  'a webhook URL is a secret (anyone who has it can post to the channel) and the file ends up in git: put the URL in an environment variable and name that variable with url_env ' +
  '(in VS Code: the command "Runbook: Set Notification Webhook" keeps it in SecretStorage under that name)';

function targetOf(v: unknown, n: number): NotifyTarget | string {
  const where = `notify entry ${n}`;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return `${where} must be a mapping such as {url_env: SLACK_WEBHOOK_URL, format: slack}`;
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) {
    if (/^(url|uri|webhook|webhook_url|href|endpoint)$/i.test(k)) return `${where} has a "${k}" key: ${WEBHOOK_URL_HELP}`;
    if (!KEYS.includes(k)) return `${where} has an unknown key "${k}" (known: ${KEYS.join(', ')})`;
  }
  const env = m.url_env;
  if (typeof env !== 'string' || !ENV_NAME.test(env)) {
    if (typeof env === 'string' && /:\/\//.test(env)) return `${where}: url_env holds a URL, not the name of an environment variable: ${WEBHOOK_URL_HELP}`;
    return `${where} needs url_env, the name of the environment variable that holds the webhook URL (letters, digits and _), got ${JSON.stringify(env) ?? 'nothing'}`;
  }
  if (m.format !== 'slack' && m.format !== 'json') return `${where} needs format: slack or json, got ${JSON.stringify(m.format) ?? 'nothing'}`;
  if (m.steps !== undefined && typeof m.steps !== 'boolean') return `${where}: steps must be true or false, got ${JSON.stringify(m.steps)}`;
  return { url_env: env, format: m.format, steps: m.steps === true };
}

/**
 * Reads a `notify` list: each entry `{url_env: VAR, format: slack | json, steps?: true}`. A `url` key (or any key
 * that would hold the URL) is refused, so is a url_env that holds a URL. Never throws; the error names the entry
 * (1-based) and says what to write. An absent value is an empty list.
 */
export function parseNotifyTargets(value: unknown): NotifyParse {
  if (value === undefined || value === null) return { ok: true, targets: [] };
  if (!Array.isArray(value)) return { ok: false, error: 'notify must be a list of targets, each {url_env: VAR, format: slack | json, steps?: true}' };
  const targets: NotifyTarget[] = [];
  for (const [i, v] of value.entries()) {
    const t = targetOf(v, i + 1);
    if (typeof t === 'string') return { ok: false, error: t };
    targets.push(t);
  }
  return { ok: true, targets };
}
