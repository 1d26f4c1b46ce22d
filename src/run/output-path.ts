// `runbook run TEMPLATE --output PATH`: the placeholders of PATH, so each target gets its own executed copy.

import * as path from 'node:path';

/** What a placeholder of an output path stands for. */
export interface OutputPathValues {
  /** The run's connection: profile name (or password-free URI; only host, port and database are used). */
  connection: string;
  environment: string;
  /** The run id (`20261128T020041Z-7f3a`). */
  run: string;
  /** The run's start, UTC ISO 8601 (`{date}` is its date). */
  started: string;
}

/** Placeholders `--output` understands, with what they become (docs/ci.md). */
export const OUTPUT_PLACEHOLDERS: Readonly<Record<string, string>> = {
  connection: 'the connection profile name (a URI: host-port-database)',
  environment: 'the environment (production, staging, …)',
  date: 'the run\'s start date, UTC (2026-11-28)',
  run: 'the run id (20261128T020041Z-7f3a)',
};

/** An output path that cannot be used; nothing was written. */
export class OutputPathError extends Error {
  override readonly name = 'OutputPathError';
}

/**
 * One path component from a value: characters outside `A-Z a-z 0-9 . _ -` become `-`, and a leading
 * dot too, so a value can neither leave the directory (`..`) nor hide the file. A URI keeps only its
 * host, port and database: whatever else it holds (a user, a password) never reaches a file name.
 */
export function pathComponent(value: string): string {
  let v = value;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    try {
      const u = new URL(v);
      v = [u.hostname, u.port, u.pathname.replace(/^\//, '')].filter((x) => x !== '').join('-');
    } catch {
      v = 'uri';
    }
  }
  const out = v.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').replace(/-+$/, '');
  return out === '' ? 'unnamed' : out;
}

/**
 * Expands `{connection}`, `{environment}`, `{date}` and `{run}` in an output path; `{{` and `}}` are
 * literal braces. Each value becomes one safe path component ({@link pathComponent}).
 * @throws OutputPathError naming an unknown placeholder or an unmatched brace
 */
export function expandOutputPath(template: string, v: OutputPathValues): string {
  const values: Record<string, string> = {
    connection: pathComponent(v.connection),
    environment: pathComponent(v.environment),
    date: pathComponent(v.started.slice(0, 10)),
    run: pathComponent(v.run),
  };
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}|[{}]/g, (m: string, name: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    if (name === undefined) throw new OutputPathError(`--output ${template}: unmatched "${m}" (write {{ or }} for a literal brace)`);
    const value = values[name];
    if (value === undefined) throw new OutputPathError(`--output ${template}: unknown placeholder {${name}} (known: ${Object.keys(OUTPUT_PLACEHOLDERS).map((k) => `{${k}}`).join(', ')})`);
    return value;
  });
}

/**
 * The executed copy's path for a run of `templateFile`: the expansion, resolved against the working
 * directory. The template must stay byte-identical, so a path that is the template itself is refused.
 * @throws OutputPathError for an unknown placeholder, or when the path is the template
 */
export function outputPathFor(templateFile: string, template: string, v: OutputPathValues, cwd = process.cwd()): string {
  const out = path.resolve(cwd, expandOutputPath(template, v));
  if (out === path.resolve(cwd, templateFile)) throw new OutputPathError(`--output ${template} is the template itself (${templateFile}); the template must stay unchanged: use a placeholder such as executed/{connection}-{date}.runbook`);
  return out;
}
