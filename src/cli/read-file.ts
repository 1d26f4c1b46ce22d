// Reading the file a command was given, with the one wording every command uses when it cannot.

import * as fs from 'node:fs';

/**
 * The bytes of `file`, or why it cannot be read in a few words (`no such file`, `is a directory`, the system's
 * message otherwise, e.g. `EACCES: permission denied, open 'x'`). Never throws.
 */
export function readFileBytes(file: string): { bytes: Buffer } | { error: string } {
  try {
    return { bytes: fs.readFileSync(file) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message };
  }
}
