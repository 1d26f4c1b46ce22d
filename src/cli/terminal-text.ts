// Makes text from files and servers safe to print on a terminal: control characters are shown as escapes, never obeyed.

/** Options of {@link terminalText}. */
export interface TerminalTextOptions {
  /**
   * Keep line breaks (`\n`, and `\r\n` as `\n`) as line breaks: true for messages that span lines
   * (a server error with DETAIL and HINT lines), false (the default) for anything printed as one line
   * (cell names, progress, a file name in a status line), where a line break could print a line that
   * looks like the tool's own (`[2/2] #2 ok`).
   */
  multiline?: boolean;
  /** With `multiline`: text put after every kept line break, so continuation lines stand apart from the tool's own lines. */
  indent?: string;
}

// What a terminal obeys instead of printing: C0 controls (ESC starts CSI/OSC sequences that move the
// cursor, clear the screen, set the title or hyperlinks; CR and BS overwrite what is on the line),
// DEL, C1 controls (U+009B is CSI on 8-bit terminals, ECMA-48 §5.3), U+2028/U+2029, and the bidi
// embeddings, overrides and isolates that reorder what is shown (Unicode UAX #9; CVE-2021-42574).
// Tab is printed: it only moves to the next tab stop.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this matches
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

// JSON's short escapes, so the text reads as it would in the file's record.
const SHORT: Record<string, string> = { '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r' };

function escape(c: string): string {
  return Object.hasOwn(SHORT, c) ? SHORT[c] : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every character a terminal would obey rather than print ({@link UNSAFE}) written as its
 * JSON escape (`\u001b`, `\r`, `\b`, `\u202e`), so an escape sequence in a server message, a cell
 * name or a file name can neither forge a line, move the cursor, clear the screen nor reorder what is
 * shown. Printable text, tabs and (with `multiline`) line breaks are kept. Only what is printed
 * changes: files keep the real text.
 *
 * Linear in the length of `text`; returns `text` itself when nothing needs escaping.
 */
export function terminalText(text: string, options: TerminalTextOptions = {}): string {
  if (!UNSAFE.test(text)) return text;
  if (!options.multiline) return text.replace(UNSAFE_ALL, escape);
  const indent = options.indent ?? '';
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(UNSAFE_ALL, escape))
    .join(`\n${indent}`);
}

/** {@link terminalText} for text printed as lines: line breaks kept, everything else escaped. */
export function terminalLines(text: string, indent = ''): string {
  return terminalText(text, { multiline: true, indent });
}
