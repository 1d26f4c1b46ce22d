// Keeps the first and last bytes of a long output, cut on UTF-8 character boundaries, and counts what it drops.

/** True for a UTF-8 continuation byte (10xxxxxx): a cut before it would split a character. */
const isContinuation = (byte: number): boolean => (byte & 0xc0) === 0x80;

/**
 * The head and tail of a text that arrives in pieces, at most `maxBytes` UTF-8 bytes in all (half
 * each; the tail gets what the head's cut left over), with memory bounded by about that. Cuts fall
 * between characters, so both parts are valid UTF-8 and hold no half of a surrogate pair, whatever
 * the pieces were; a text of at most `maxBytes` bytes is kept whole.
 */
export class ByteWindow {
  private readonly max: number;
  private readonly half: number;
  private head = '';
  private headBytes = 0;
  private headFull = false;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  /** @param maxBytes UTF-8 bytes kept in all: `floor(maxBytes / 2)` from the start, as many from the end */
  constructor(maxBytes: number) {
    this.max = Math.max(0, Math.floor(maxBytes));
    this.half = Math.floor(this.max / 2);
  }

  /** Bytes the tail may keep: what the head left of `maxBytes`. */
  private get tailRoom(): number {
    return this.max - this.headBytes;
  }

  /** Adds the next piece of text (any length). */
  push(text: string): void {
    if (text === '') return;
    const bytes = Buffer.from(text, 'utf8');
    this.total += bytes.length;
    let rest = bytes;
    if (!this.headFull) {
      const room = this.half - this.headBytes;
      if (bytes.length <= room) {
        this.head += text;
        this.headBytes += bytes.length;
        return;
      }
      let cut = room;
      while (cut > 0 && isContinuation(bytes[cut])) cut--;
      this.head += bytes.subarray(0, cut).toString('utf8');
      this.headBytes += cut;
      this.headFull = true;
      rest = bytes.subarray(cut);
    }
    this.tail.push(rest);
    this.tailBytes += rest.length;
    const room = this.tailRoom;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= room) this.tailBytes -= this.tail.shift()!.length;
    if (this.tailBytes > 2 * room + 65536) {
      // One huge piece: keep a copy of its end only (a cut inside a character is mended in result()).
      const joined = Buffer.concat(this.tail);
      this.tail = [Buffer.from(joined.subarray(joined.length - room))];
      this.tailBytes = room;
    }
  }

  /** The kept head and tail (their concatenation is the whole text when nothing was dropped) and the bytes dropped between them. */
  result(): { head: string; tail: string; omitted: number } {
    let kept = Buffer.concat(this.tail);
    if (kept.length > this.tailRoom) {
      let start = kept.length - this.tailRoom;
      while (start < kept.length && isContinuation(kept[start])) start++;
      kept = kept.subarray(start);
    }
    return { head: this.head, tail: kept.toString('utf8'), omitted: this.total - this.headBytes - kept.length };
  }
}
