// Who is running the runbook: recorded as `by` in every output.

import { spawnSync } from 'node:child_process';
import * as os from 'node:os';

/**
 * The operator's name: `$RUNBOOK_OPERATOR`, else git's `user.name` (as seen from `cwd`), else the
 * OS user name. Never throws.
 */
export function operatorName(cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.RUNBOOK_OPERATOR) return env.RUNBOOK_OPERATOR;
  try {
    const r = spawnSync('git', ['config', 'user.name'], { cwd, encoding: 'utf8', timeout: 2000 });
    const name = r.status === 0 ? r.stdout.trim() : '';
    if (name) return name;
  } catch {
    // git not installed: fall through.
  }
  try {
    return os.userInfo().username;
  } catch {
    return env.USER ?? env.USERNAME ?? 'unknown';
  }
}
