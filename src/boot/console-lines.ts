/**
 * Splits a serial console byte stream into lines and keeps the last few,
 * for error messages and `--json`. Bytes are Latin-1; escapes are dropped.
 */
export class ConsoleLines {
  private partial = "";
  private readonly lines: string[] = [];

  constructor(private readonly keep = 40) {}

  /** Feeds bytes; returns the lines they completed. */
  push(bytes: Uint8Array): string[] {
    const done: string[] = [];
    for (const b of bytes) {
      const line = this.pushByte(b);
      if (line !== undefined) done.push(line);
    }
    return done;
  }

  /** Feeds one byte; returns the line it completed, if any. */
  pushByte(b: number): string | undefined {
    if (b === 0x0a) {
      const line = clean(this.partial);
      this.partial = "";
      this.lines.push(line);
      if (this.lines.length > this.keep) this.lines.shift();
      return line;
    }
    if (b !== 0x0d && this.partial.length < 4096) this.partial += String.fromCharCode(b);
    return undefined;
  }

  /** The line being written, not yet ended by a newline. */
  get current(): string {
    return this.partial;
  }

  /** The last `n` lines, the unfinished one included when it has text. */
  tail(n = this.keep): string[] {
    const all = this.partial.trim() ? [...this.lines, clean(this.partial)] : this.lines.slice();
    return all.slice(-n);
  }
}

// ANSI escape sequences and other control characters, kept out of messages.
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|[\x00-\x08\x0b-\x1f\x7f]/g;

function clean(s: string): string {
  return s.replace(ESCAPES, "");
}
