// Where the shared harness-postgres corpus is: $RUNBOOK_CORPUS, else `shared/corpus/harness-postgres` beside the
// repository or beside any folder above it (a checkout in /work/main and a worktree in /work/wt/NAME both find it).

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The corpus folder, or undefined when there is none (the corpus test and benchmark then skip, never fake).
 *
 * @param root the repository root
 */
export function corpusDir(root: string): string | undefined {
  const fromEnv = process.env.RUNBOOK_CORPUS;
  if (fromEnv) return existsSync(fromEnv) ? resolve(fromEnv) : undefined;
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const candidate = join(dirname(dir), 'shared', 'corpus', 'harness-postgres');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
