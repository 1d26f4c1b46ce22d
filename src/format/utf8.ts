// Lossless UTF-8 decoding and encoding, so files with invalid UTF-8 or a BOM still round-trip byte for byte.

/**
 * Result of decoding bytes that may not be valid UTF-8.
 * Invalid bytes are mapped to lone surrogates U+DC80–U+DCFF (the "surrogateescape" scheme of
 * Python's PEP 383), which {@link encodeUtf8Lossless} turns back into the same bytes.
 */
export interface DecodedText {
  text: string;
  /** Byte offsets (0-based) of every invalid byte; empty for valid UTF-8. */
  invalidOffsets: number[];
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 bytes without losing any: valid input takes the native decoder (fast path); invalid
 * bytes become lone surrogates U+DC80+byte-0x80… (for bytes ≥ 0x80). A leading BOM is kept as U+FEFF.
 */
export function decodeUtf8Lossless(bytes: Uint8Array): DecodedText {
  try {
    return { text: strict.decode(bytes), invalidOffsets: [] };
  } catch {
    return decodeSlow(bytes);
  }
}

function decodeSlow(bytes: Uint8Array): DecodedText {
  const parts: string[] = [];
  const invalidOffsets: number[] = [];
  let i = 0;
  let runStart = 0;
  const flush = (end: number): void => {
    if (end > runStart) parts.push(strict.decode(bytes.subarray(runStart, end)));
  };
  while (i < bytes.length) {
    const n = validSequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    flush(i);
    invalidOffsets.push(i);
    parts.push(String.fromCharCode(0xdc00 + bytes[i]));
    i += 1;
    runStart = i;
  }
  flush(i);
  return { text: parts.join(''), invalidOffsets };
}

/** Length of the well-formed UTF-8 sequence starting at `i` (RFC 3629, Unicode Table 3-7), or 0. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// A low surrogate in U+DC80–U+DCFF not preceded by a high surrogate stands for one invalid byte.
const ESCAPED_BYTE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** Encodes text to UTF-8, turning the escapes made by {@link decodeUtf8Lossless} back into their bytes. */
export function encodeUtf8Lossless(text: string): Uint8Array {
  if (!ESCAPED_BYTE.test(text)) return Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  const re = new RegExp(ESCAPED_BYTE.source, 'g');
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    chunks.push(Buffer.from(text.slice(last, m.index), 'utf8'));
    chunks.push(Buffer.of(m[0].charCodeAt(0) - 0xdc00));
    last = m.index + 1;
  }
  chunks.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(chunks);
}
