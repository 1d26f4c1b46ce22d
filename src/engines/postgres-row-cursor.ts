// A pg-cursor that keeps the first rows of a result and only counts the others, so memory stays bounded.

import Cursor from 'pg-cursor';
import type { ResultRow } from './result-table';

/** pg type parsers that keep every value as the text the server sent (no Date, number or JSON parsing). */
export const TEXT_TYPES = { getTypeParser: () => (value: string) => value };

/**
 * Streams a row-returning statement through a portal (`pg-cursor`: Parse/Bind/Execute with a row
 * limit), keeping the first `keep` rows as text arrays and counting the rest without building them.
 * `read(n)` batches therefore hold only kept rows and may be empty while rows are still coming: loop
 * until `done`.
 */
export class RowCountingCursor extends Cursor<ResultRow> {
  /** Rows received so far, kept or not. */
  seen = 0;

  constructor(
    text: string,
    private readonly keep: number,
  ) {
    super(text, undefined, { rowMode: 'array', types: TEXT_TYPES });
  }

  /**
   * Called by pg's Client for each DataRow of the active query. pg-cursor would parse every row into
   * an array and hold the batch; past `keep` rows that is garbage, and at millions of rows it is what
   * drives memory and time, so those are only counted.
   */
  handleDataRow(msg: { fields: unknown[] }): void {
    this.seen++;
    if (this.seen <= this.keep) (Cursor.prototype as unknown as { handleDataRow(m: unknown): void }).handleDataRow.call(this, msg);
  }

  /** True once the portal is finished (CommandComplete, or closed, then ReadyForQuery). */
  get done(): boolean {
    return (this as unknown as { state: string }).state === 'done';
  }
}
