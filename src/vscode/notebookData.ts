// Converts between the format's Runbook model and VS Code's NotebookData: cells, their metadata and their outputs.
import * as vscode from 'vscode';
import type { Cell, CellKind, Output, Runbook } from '../format/model';

/** Mime type of a cell output's structured item, drawn by the notebook renderer (src/renderer/). */
export const RESULT_MIME = 'application/vnd.runbook.result+json';

const BOM = '\uFEFF';

/** VS Code language id of checklist cells (a GFM task list run as a step). Declared in package.json. */
export const CHECKLIST_LANGUAGE = 'runbook-checklist';

/**
 * VS Code language id of SQL cells, declared in package.json with the name "PostgreSQL" and a grammar
 * that includes VS Code's SQL one. VS Code's own `sql` language is named "MS SQL" (T-SQL), which is
 * what the notebook showed under every SQL cell before.
 */
export const SQL_LANGUAGE = 'postgres';

/** VS Code language id for each executable cell kind. */
export const LANGUAGE_OF_KIND: Readonly<Record<Exclude<CellKind, 'markdown'>, string>> = {
  sql: SQL_LANGUAGE,
  shell: 'shellscript',
  checklist: CHECKLIST_LANGUAGE,
};

/** Fence language written for a cell created in VS Code (an existing cell keeps the one it was written with). */
const DEFAULT_FENCE: Readonly<Record<'sql' | 'shell', string>> = { sql: 'sql', shell: 'bash' };

/**
 * What a cell's metadata keeps of the model (under the key `runbook`): everything the format needs
 * besides the cell's text and outputs, so an untouched cell serializes to its original bytes.
 */
export interface CellMeta {
  kind: CellKind;
  /** Fence language as written (`sql`, `bash`, `sh`…), for code cells. */
  language?: string;
  options: Record<string, unknown>;
  /** The format's RawCell: the cell's original text and what it stood for. Lone surrogates (invalid
   *  UTF-8 kept by the format) survive VS Code's IPC because it uses JSON, which escapes them. */
  raw?: Cell['raw'];
  /** The cell's text starts with a byte order mark (first cell of a file with a BOM). VS Code's text
   *  model drops a leading U+FEFF from the cell's text, so it is put back when the file is written. */
  bom?: boolean;
}

/** What a notebook's metadata keeps of the model (under `runbook`): all but the cells and problems. */
export interface NotebookMeta {
  frontMatter?: Runbook['frontMatter'];
  trailing: string;
  eol: '\n' | '\r\n';
  /** The migration log section (src/format/log-model.ts): its events and the text it was read from. */
  log?: Runbook['log'];
}

/** The payload of a {@link RESULT_MIME} output item, and what an output's metadata keeps (under `runbook`). */
export interface ResultPayload {
  record: Output['record'];
  body?: string;
  bodyLang?: string;
}

/**
 * The cell kind a notebook cell stands for, from its VS Code kind and language id. A cell in VS Code's
 * own `sql` language is a SQL cell too: a notebook restored from a backup made before SQL cells were
 * `postgres`, a cell pasted from elsewhere, or one switched to "MS SQL" in the language picker.
 */
export function kindOfCell(cellKind: vscode.NotebookCellKind, languageId: string): CellKind | undefined {
  if (cellKind === vscode.NotebookCellKind.Markup) return 'markdown';
  if (languageId === SQL_LANGUAGE || languageId === 'sql') return 'sql';
  if (languageId === 'shellscript') return 'shell';
  if (languageId === CHECKLIST_LANGUAGE) return 'checklist';
  return undefined;
}

/**
 * One line for the text/plain item when an output has no body: status, error and SQLSTATE.
 * Keeps the notebook readable in views that do not load the renderer.
 */
export function plainTextOf(output: Output): string {
  const earlier = typeof output.record.recorded_for === 'string' ? `(recorded for an earlier text of this cell: ${output.record.recorded_for})\n` : '';
  if (output.body !== undefined) return earlier + output.body;
  const r = output.record;
  const parts = [String(r.status)];
  if (r.error) parts.push(`ERROR: ${r.error.message}${r.error.sqlstate ? ` (SQLSTATE ${r.error.sqlstate})` : ''}`);
  return earlier + parts.join('\n');
}

/** A VS Code output for a model output: the structured item for the renderer, then text/plain. */
export function toCellOutput(output: Output, extra?: Record<string, unknown>): vscode.NotebookCellOutput {
  const payload: ResultPayload = { record: output.record, body: output.body, bodyLang: output.bodyLang };
  return new vscode.NotebookCellOutput(
    [vscode.NotebookCellOutputItem.json({ ...payload, ...extra }, RESULT_MIME), vscode.NotebookCellOutputItem.text(plainTextOf(output))],
    { runbook: payload },
  );
}

/** The model output a VS Code output stands for; undefined for outputs this extension did not make. */
export function fromCellOutput(output: { items: readonly vscode.NotebookCellOutputItem[]; metadata?: Record<string, unknown> }): Output | undefined {
  let payload = output.metadata?.runbook as ResultPayload | undefined;
  if (!payload) {
    const item = output.items.find((i) => i.mime === RESULT_MIME);
    if (item) payload = JSON.parse(new TextDecoder().decode(item.data)) as ResultPayload & { live?: boolean };
    // The live view of a cell still running is not an output of the runbook: it is never saved.
    if ((payload as { live?: boolean } | undefined)?.live) return undefined;
  }
  if (!payload || typeof payload.record !== 'object' || payload.record === null) return undefined;
  const out: Output = { record: payload.record };
  if (payload.body !== undefined) out.body = payload.body;
  if (payload.bodyLang !== undefined) out.bodyLang = payload.bodyLang;
  return out;
}

function executionSummary(outputs: Output[]): vscode.NotebookCellExecutionSummary | undefined {
  const last = outputs[outputs.length - 1]?.record;
  if (!last) return undefined;
  const start = typeof last.started === 'string' ? Date.parse(last.started) : NaN;
  const summary: { success?: boolean; timing?: { startTime: number; endTime: number } } = {};
  if (last.status === 'ok') summary.success = true;
  else if (last.status === 'error' || last.status === 'cancelled') summary.success = false;
  if (Number.isFinite(start)) summary.timing = { startTime: start, endTime: start + (typeof last.ms === 'number' ? last.ms : 0) };
  return summary;
}

/** NotebookData for a parsed runbook; see {@link fromNotebookData} for the way back. */
export function toNotebookData(rb: Runbook): vscode.NotebookData {
  const cells = rb.cells.map((cell) => {
    const meta: CellMeta = { kind: cell.kind, options: cell.options };
    if (cell.language !== undefined) meta.language = cell.language;
    if (cell.raw) meta.raw = cell.raw;
    if (cell.source.startsWith(BOM)) meta.bom = true;
    const data =
      cell.kind === 'markdown'
        ? new vscode.NotebookCellData(vscode.NotebookCellKind.Markup, cell.source, 'markdown')
        : new vscode.NotebookCellData(vscode.NotebookCellKind.Code, cell.source, LANGUAGE_OF_KIND[cell.kind]);
    data.metadata = { runbook: meta };
    data.outputs = cell.outputs.map((o) => toCellOutput(o));
    const summary = executionSummary(cell.outputs);
    if (summary) data.executionSummary = summary;
    return data;
  });
  const nb = new vscode.NotebookData(cells);
  const meta: NotebookMeta = { trailing: rb.trailing, eol: rb.eol };
  if (rb.frontMatter) meta.frontMatter = rb.frontMatter;
  if (rb.log) meta.log = rb.log;
  nb.metadata = { runbook: meta };
  return nb;
}

/** The shape shared by NotebookCellData (serializer) and NotebookCell (controller) that conversion reads. */
export interface CellLike {
  kind: vscode.NotebookCellKind;
  languageId: string;
  value: string;
  metadata?: Record<string, unknown>;
  outputs?: readonly { items: readonly vscode.NotebookCellOutputItem[]; metadata?: Record<string, unknown> }[];
}

/** The model cell for a notebook cell: its text, kind, fence language, options, outputs and raw text. */
export function fromCellLike(c: CellLike): Cell {
  const meta = c.metadata?.runbook as CellMeta | undefined;
  let kind = kindOfCell(c.kind, c.languageId);
  let value = c.value;
  if (kind === undefined) {
    // A code cell in a language the runbook format does not run: written as a fenced Markdown block.
    kind = 'markdown';
    value = '```' + c.languageId + '\n' + c.value + '\n```';
  }
  const sameKind = meta?.kind === kind;
  if (meta?.bom && !value.startsWith(BOM)) value = BOM + value;
  const cell: Cell = { kind, source: value, options: sameKind && meta?.options ? meta.options : {}, outputs: [] };
  if (kind === 'sql' || kind === 'shell') cell.language = sameKind && meta?.language ? meta.language : DEFAULT_FENCE[kind];
  if (meta?.raw !== undefined) cell.raw = meta.raw;
  for (const o of c.outputs ?? []) {
    const out = fromCellOutput(o);
    if (out) cell.outputs.push(out);
  }
  return cell;
}

/** The runbook model a notebook stands for, from NotebookData (serializer) or a NotebookDocument's parts. */
export function fromNotebookParts(metadata: Record<string, unknown> | undefined, cells: readonly CellLike[]): Runbook {
  const meta = metadata?.runbook as NotebookMeta | undefined;
  const rb: Runbook = {
    cells: cells.map(fromCellLike),
    trailing: meta?.trailing ?? '',
    eol: meta?.eol ?? '\n',
    problems: [],
  };
  if (meta?.frontMatter !== undefined) rb.frontMatter = meta.frontMatter;
  if (meta?.log !== undefined) rb.log = meta.log;
  return rb;
}

/** The runbook model for NotebookData handed to the serializer. */
export function fromNotebookData(data: vscode.NotebookData): Runbook {
  return fromNotebookParts(
    data.metadata,
    data.cells.map((c) => ({ kind: c.kind, languageId: c.languageId, value: c.value, metadata: c.metadata, outputs: c.outputs })),
  );
}

/** The runbook model of an open notebook document (for the runner: cells in order, with their outputs). */
export function fromNotebookDocument(doc: vscode.NotebookDocument): Runbook {
  return fromNotebookParts(
    doc.metadata,
    doc.getCells().map((c) => ({ kind: c.kind, languageId: c.document.languageId, value: c.document.getText(), metadata: c.metadata, outputs: c.outputs })),
  );
}
