// Notification webhook URLs in VS Code: kept in SecretStorage under the name a `notify` target's url_env gives, never in a file.
import * as vscode from 'vscode';
import { fromNotebookDocument } from './notebookData';
import type { Prompts } from './prompts';
import { parseNotifyTargets } from '../format/notify-targets';

const PREFIX = 'runbook.notify.';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The webhook URLs stored for `notify` targets, by url_env name (VS Code API: `ExtensionContext.secrets`). */
export class WebhookSecrets {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  /** The URL stored under a url_env name; undefined when none is. */
  get(name: string): Thenable<string | undefined> {
    return this.secrets.get(PREFIX + name);
  }

  /** Stores a URL under a url_env name, or deletes it for ''. */
  async set(name: string, url: string): Promise<void> {
    if (url === '') await this.secrets.delete(PREFIX + name);
    else await this.secrets.store(PREFIX + name, url);
  }
}

/**
 * "Runbook: Set Notification Webhook": asks for the url_env name (offering the active notebook's front matter
 * targets) and the URL (hidden as a password is), and stores it. An empty URL removes the stored one.
 * @returns the name stored under, or undefined when dismissed
 */
export async function setNotificationWebhook(webhooks: WebhookSecrets, prompts: Prompts, given?: { name?: string; url?: string }): Promise<string | undefined> {
  const nb = vscode.window.activeNotebookEditor?.notebook;
  const fm = nb ? parseNotifyTargets(fromNotebookDocument(nb).frontMatter?.data?.notify) : undefined;
  const suggested = fm?.ok ? fm.targets[0]?.url_env : undefined;
  const name = given?.name ?? (await prompts.input({
    title: 'Notification webhook', prompt: 'The url_env name of the notify target (in the front matter or connections.yaml)', value: suggested, ignoreFocusOut: true,
    validateInput: (v) => (ENV_NAME.test(v.trim()) ? undefined : 'Letters, digits and _, not starting with a digit: the url_env of a notify target.'),
  }))?.trim();
  if (!name) return undefined;
  const url = given?.url ?? (await prompts.input({
    title: `Webhook URL for ${name}`, prompt: 'Kept in VS Code\'s SecretStorage, never in a file. Empty removes it.', password: true, ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' || /^https?:\/\/\S+$/i.test(v.trim()) ? undefined : 'An http:// or https:// URL.'),
  }));
  if (url === undefined) return undefined;
  await webhooks.set(name, url.trim());
  return name;
}
