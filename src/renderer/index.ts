// Notebook renderer for `application/vnd.runbook.result+json`: record summary, result tables, errors; runs in the browser.
import { STYLE } from './style';
import { parseAlignedBody, toCsv, toMarkdown, type Table } from './table';

/** The parts of VS Code's renderer API this renderer uses (vscode-notebook-renderer: `ActivationFunction`). */
interface OutputItem {
  readonly id: string;
  readonly mime: string;
  json(): unknown;
}
interface RendererContext {
  postMessage?(message: unknown): void;
}

/** A statement's record as the runner writes it (docs/format.md); fields are optional because old files may lack them. */
interface StatementRecord {
  tag?: string;
  rows?: number;
  kept?: number;
  ms?: number;
  line?: number;
  tx?: string;
  notices?: string[];
}
interface OutputRecord {
  status: string;
  started?: string;
  ms?: number;
  by?: string;
  connection?: string;
  environment?: string;
  server?: string;
  statements?: StatementRecord[];
  error?: { message: string; sqlstate?: string; detail?: string; hint?: string; line?: number; statement?: number };
  exit?: number;
  signal?: string;
  /** Checklist cells: who confirmed each item and when. */
  items?: { text: string; by: string; at: string }[];
  /** The cell was edited after this ran: `sha256:…` of the text it ran (docs/run.md, "Disk, permissions and edits"). */
  recorded_for?: string;
}
/** A result set as the runner hands it over live: exact values, so NULL is known. */
interface LiveResult {
  statement?: number;
  /** `typeOid`: pg_type oid of the column (23 int4 …), for alignment. */
  columns: { name: string; typeOid?: number }[];
  rows: (string | null)[][];
  total?: number;
}
/** A checklist waiting for confirmation, in the running cell's live output (src/vscode/notebookRun.ts). */
interface LiveChecklist {
  token: string;
  items: { text: string; confirmedAt?: string }[];
}
/** The monitoring sampler's view, in the running cell's live output. */
interface LiveMonitor {
  available: boolean;
  rows: [string, string][];
  /** When the view was made, UTC ISO 8601. */
  at: string;
  intervalMs?: number;
}
interface Payload {
  record: OutputRecord;
  body?: string;
  bodyLang?: string;
  results?: LiveResult[];
  /** Set while the cell still runs: what it is doing now (elapsed time, rows so far, waits). */
  progress?: string;
  /** Live: the lock view's latest text (whom the cell waits for, who waits behind it). */
  locks?: string;
  monitor?: LiveMonitor;
  checklist?: LiveChecklist;
}

/** Type OIDs psql right-aligns (print.c column_type_alignment): integers, floats, numeric, oid, xid, cid, money. */
const NUMERIC_OIDS = new Set([20, 21, 23, 700, 701, 1700, 26, 28, 5069, 29, 790]);

/** Values longer than this many characters are cut, with a control to show the rest. */
const TRUNCATE_AT = 160;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** `2026-11-28 02:08:03 UTC`: records are in UTC, and so is what the output shows. */
export function utcText(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A time in UTC, with the local time on hover. */
function timeEl(iso: string, cls = 'rb-meta'): HTMLElement {
  const e = el('span', cls, utcText(iso));
  const d = new Date(iso);
  if (!Number.isNaN(d.getTime())) e.title = `Local time: ${d.toLocaleString(undefined, { timeZoneName: 'short' })}`;
  e.classList.add('rb-time');
  return e;
}

function header(rec: OutputRecord, progress?: string): HTMLElement {
  const h = el('div', 'rb-head');
  h.append(el('span', `rb-status rb-${progress ? 'running' : rec.status}`, progress ? 'running' : rec.status));
  if (typeof rec.ms === 'number') h.append(el('span', 'rb-meta', formatMs(rec.ms)));
  if (rec.connection) {
    const c = el('span', 'rb-meta', rec.connection);
    h.append(c);
    if (rec.environment) h.append(el('span', `rb-env rb-env-${rec.environment}`, rec.environment));
  }
  if (rec.server) h.append(el('span', 'rb-meta', `PostgreSQL ${rec.server}`));
  if (rec.by) h.append(el('span', 'rb-meta', `by ${rec.by}`));
  if (rec.started) h.append(timeEl(rec.started));
  if (typeof rec.exit === 'number' && rec.exit !== 0) h.append(el('span', 'rb-meta', `exit ${rec.exit}`));
  if (rec.signal) h.append(el('span', 'rb-meta', `signal ${rec.signal}`));
  if (progress) h.append(el('span', 'rb-meta', progress));
  if (typeof rec.recorded_for === 'string') h.append(el('span', 'rb-meta rb-earlier', `recorded for an earlier text of this cell (${rec.recorded_for})`));
  return h;
}

function errorBox(err: NonNullable<OutputRecord['error']>): HTMLElement {
  const box = el('div', 'rb-error');
  box.append(el('div', 'rb-error-msg', `ERROR: ${err.message}`));
  const facts: string[] = [];
  if (err.sqlstate) facts.push(`SQLSTATE ${err.sqlstate}`);
  if (typeof err.line === 'number') facts.push(`line ${err.line}`);
  if (typeof err.statement === 'number') facts.push(`statement ${err.statement + 1}`);
  if (facts.length) box.append(el('div', 'rb-meta', facts.join(' · ')));
  if (err.detail) box.append(el('div', undefined, `DETAIL: ${err.detail}`));
  if (err.hint) box.append(el('div', undefined, `HINT: ${err.hint}`));
  return box;
}

function valueCell(v: string | null, nullsKnown: boolean, numeric: boolean): HTMLTableCellElement {
  const td = el('td', numeric ? 'rb-num' : undefined);
  if (v === null) {
    td.append(el('span', 'rb-null', 'NULL'));
    return td;
  }
  if (v === '' && nullsKnown) {
    td.title = 'empty string';
    return td;
  }
  if (v.length <= TRUNCATE_AT) {
    td.textContent = v;
    return td;
  }
  const text = el('span', undefined, v.slice(0, TRUNCATE_AT));
  const more = el('button', 'rb-more', `… ${(v.length - TRUNCATE_AT).toLocaleString()} more characters`);
  more.addEventListener('click', () => {
    const open = more.dataset.open === '1';
    text.textContent = open ? v.slice(0, TRUNCATE_AT) : v;
    more.textContent = open ? `… ${(v.length - TRUNCATE_AT).toLocaleString()} more characters` : 'show less';
    more.dataset.open = open ? '' : '1';
  });
  td.append(text, more);
  return td;
}

function copy(ctx: RendererContext, text: string, button: HTMLButtonElement): void {
  const label = button.textContent;
  const done = (): void => {
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = label), 1200);
  };
  // The extension writes the clipboard (vscode.env.clipboard); a webview may not be allowed to.
  if (ctx.postMessage) {
    ctx.postMessage({ type: 'copy', text });
    done();
    return;
  }
  void navigator.clipboard?.writeText(text).then(done, () => (button.textContent = 'Copy failed'));
}

function tableView(ctx: RendererContext, t: Table, stmt?: StatementRecord): HTMLElement {
  const wrap = el('div', 'rb-table');
  const scroller = el('div', 'rb-scroll');
  const table = el('table');
  const thead = el('thead');
  const hr = el('tr');
  t.columns.forEach((c, i) => hr.append(el('th', t.numeric?.[i] ? 'rb-num' : undefined, c)));
  thead.append(hr);
  const tbody = el('tbody');
  for (const r of t.rows) {
    const tr = el('tr');
    r.forEach((v, i) => tr.append(valueCell(v, t.nullsKnown, t.numeric?.[i] ?? false)));
    tbody.append(tr);
  }
  table.append(thead, tbody);
  scroller.append(table);
  const total = stmt?.rows ?? t.total ?? t.rows.length;
  const foot = el('div', 'rb-foot');
  foot.append(el('span', 'rb-meta', total === 1 ? '1 row' : `${total.toLocaleString()} rows`));
  if (total > t.rows.length) foot.append(el('span', 'rb-warn', `${(total - t.rows.length).toLocaleString()} more rows not kept`));
  if (!t.nullsKnown) {
    const note = el('span', 'rb-meta', 'from saved text: NULL and empty strings both show empty');
    note.title = 'Run the cell again to see NULL marked.';
    foot.append(note);
  }
  const csv = el('button', 'rb-copy', 'Copy CSV');
  csv.addEventListener('click', () => copy(ctx, toCsv(t), csv));
  const md = el('button', 'rb-copy', 'Copy Markdown');
  md.addEventListener('click', () => copy(ctx, toMarkdown(t), md));
  foot.append(csv, md);
  wrap.append(scroller, foot);
  return wrap;
}

function statementsSummary(stmts: StatementRecord[]): HTMLElement | undefined {
  if (stmts.length === 0) return undefined;
  const d = el('details', 'rb-stmts');
  const notices = stmts.reduce((n, s) => n + (s.notices?.length ?? 0), 0);
  d.append(el('summary', undefined, `${stmts.length} statement${stmts.length === 1 ? '' : 's'}${notices ? `, ${notices} notice${notices === 1 ? '' : 's'}` : ''}`));
  if (notices) d.open = true;
  const list = el('ol');
  for (const s of stmts) {
    const li = el('li');
    const bits = [s.tag ?? '—'];
    if (typeof s.ms === 'number') bits.push(formatMs(s.ms));
    if (typeof s.line === 'number') bits.push(`line ${s.line}`);
    if (s.tx && s.tx !== 'idle') bits.push(s.tx);
    li.append(el('span', undefined, bits.join(' · ')));
    for (const n of s.notices ?? []) li.append(el('div', 'rb-notice', n));
    list.append(li);
  }
  d.append(list);
  return d;
}

/** Checkboxes for a waiting checklist: each click confirms its item (the extension records the time). */
function checklistView(ctx: RendererContext, c: LiveChecklist): HTMLElement {
  const box = el('div', 'rb-checklist');
  box.append(el('div', 'rb-meta', ctx.postMessage ? 'Click each item when it is done: your name and the time of the click are recorded.' : 'Confirm in the picker (this view cannot send clicks).'));
  c.items.forEach((it, index) => {
    const label = el('label', 'rb-check');
    const box1 = el('input');
    box1.type = 'checkbox';
    box1.checked = it.confirmedAt !== undefined;
    box1.disabled = it.confirmedAt !== undefined || !ctx.postMessage;
    box1.dataset.index = String(index);
    box1.addEventListener('change', () => {
      if (!box1.checked) return;
      box1.disabled = true;
      ctx.postMessage?.({ type: 'checklistItem', token: c.token, index });
    });
    label.append(box1, el('span', undefined, it.text));
    if (it.confirmedAt) label.append(el('span', 'rb-meta', ' — confirmed '), timeEl(it.confirmedAt));
    box.append(label);
  });
  if (ctx.postMessage) {
    const stop = el('button', 'rb-copy rb-stop', 'Stop here (leave the rest unconfirmed)');
    stop.addEventListener('click', () => {
      stop.disabled = true;
      ctx.postMessage?.({ type: 'checklistStop', token: c.token });
    });
    box.append(stop);
  }
  return box;
}

/** The live lock view and the monitoring view of a running cell. */
function liveView(p: Payload): HTMLElement | undefined {
  if (!p.locks && !p.monitor) return undefined;
  const box = el('div', 'rb-live');
  if (p.locks) {
    const l = el('div', 'rb-locks');
    l.append(el('span', 'rb-live-title', 'Locks '), el('span', 'rb-warn', p.locks));
    box.append(l);
  }
  if (p.monitor) {
    const m = el('div', 'rb-monitor');
    const title = el('div', 'rb-live-title', 'Server ');
    title.append(el('span', 'rb-meta', 'sampled '), timeEl(p.monitor.at));
    if (p.monitor.intervalMs) title.append(el('span', 'rb-meta', ` · every ${p.monitor.intervalMs < 1000 ? `${p.monitor.intervalMs} ms` : `${p.monitor.intervalMs / 1000} s`}`));
    m.append(title);
    const t = el('table', 'rb-monitor-rows');
    for (const [k, v] of p.monitor.rows) {
      const tr = el('tr');
      tr.append(el('th', undefined, k), el('td', undefined, v));
      t.append(tr);
    }
    m.append(t);
    box.append(m);
  }
  return box;
}

function render(ctx: RendererContext, p: Payload, root: HTMLElement): void {
  root.replaceChildren();
  const style = el('style');
  style.textContent = STYLE;
  const box = el('div', 'rb-output');
  box.append(header(p.record, p.progress));
  if (p.checklist) box.append(checklistView(ctx, p.checklist));
  const live = liveView(p);
  if (live) box.append(live);
  if (p.record.error) box.append(errorBox(p.record.error));
  if (Array.isArray(p.record.items) && p.record.items.length) {
    const list = el('ul', 'rb-items');
    for (const it of p.record.items) {
      const li = el('li');
      li.append(el('span', 'rb-ok', '✓ '), el('span', undefined, it.text), el('span', 'rb-meta', ` — ${it.by}, `), timeEl(it.at));
      list.append(li);
    }
    box.append(list);
  }
  const stmts = p.record.statements ?? [];
  const summary = statementsSummary(stmts);
  if (summary) box.append(summary);
  if (p.results && p.results.length) {
    for (const r of p.results) {
      const t: Table = { columns: r.columns.map((c) => c.name), rows: r.rows, total: r.total, nullsKnown: true, numeric: r.columns.map((c) => NUMERIC_OIDS.has(c.typeOid ?? 0)) };
      box.append(tableView(ctx, t, r.statement !== undefined ? stmts[r.statement] : undefined));
    }
  } else if (p.body !== undefined && p.body !== '') {
    if (p.bodyLang === undefined || p.bodyLang === 'text') {
      const tables = stmts.filter((s) => /^SELECT|^FETCH|^SHOW|^EXPLAIN|RETURNING/i.test(s.tag ?? ''));
      let k = 0;
      for (const part of parseAlignedBody(p.body)) {
        if (part.kind === 'text') box.append(el('pre', 'rb-text', part.text));
        else box.append(tableView(ctx, part.table, tables[k++]));
      }
    } else {
      box.append(el('pre', 'rb-text', p.body));
    }
  }
  root.append(style, box);
}

/** Renderer entry point, called once per webview by VS Code. Source: VS Code API, "Notebook Renderer API". */
export function activate(ctx: RendererContext): { renderOutputItem(item: OutputItem, element: HTMLElement): void } {
  return {
    renderOutputItem(item, element) {
      try {
        render(ctx, item.json() as Payload, element);
      } catch (e) {
        element.replaceChildren(el('pre', 'rb-text', `Runbook renderer: cannot show this output (${(e as Error).message}).`));
      }
    },
  };
}
