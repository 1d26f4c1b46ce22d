// Fingerprints of a cell's parsed state, to tell whether it was edited since it was read.

import type { Cell, Output, RawOutput } from './model';

/** Signature of what a cell's own text stands for: kind, language, options and source. */
export function cellSignature(cell: Cell): string {
  return JSON.stringify([cell.kind, cell.language ?? null, cell.options, cell.source]);
}

/** What an output's raw text stands for (the body is compared as a string, not copied). */
export function outputSignature(output: Output): Omit<RawOutput, 'text'> {
  const sig: Omit<RawOutput, 'text'> = { record: JSON.stringify(output.record) };
  if (output.body !== undefined) sig.body = output.body;
  if (output.bodyLang !== undefined) sig.bodyLang = output.bodyLang;
  return sig;
}

/** True when an output still holds what its raw text was parsed into. */
export function outputUnchanged(output: Output, raw: RawOutput): boolean {
  return output.body === raw.body && output.bodyLang === raw.bodyLang && JSON.stringify(output.record) === raw.record;
}
