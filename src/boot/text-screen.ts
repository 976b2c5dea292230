/**
 * The guest's VGA text screen, rebuilt from v86's `screen-put-char` events.
 * Serial-console guests never look at it, but the BIOS, boot loaders and the
 * kernel's real-mode setup code write there (SeaBIOS's banner, "This kernel
 * requires an x86-64 CPU"), so errors can quote what a monitor would show.
 */
export class TextScreen {
  private rows: string[][] = [];
  private readonly dirty = new Set<number>();

  constructor(
    private width = 80,
    private height = 25,
  ) {}

  resize(width: number, height: number): void {
    this.width = Math.min(width, 256);
    this.height = Math.min(height, 128);
    this.rows = [];
  }

  put(row: number, col: number, chr: number): void {
    if (row < 0 || row >= this.height || col < 0 || col >= this.width) return;
    const r = (this.rows[row] ??= []);
    r[col] = chr >= 0x20 && chr < 0x7f ? String.fromCharCode(chr) : " ";
    this.dirty.add(row);
  }

  /** Text of the rows changed since the last call. */
  takeChanged(): string[] {
    const out = [...this.dirty].sort((a, b) => a - b).map((r) => this.row(r));
    this.dirty.clear();
    return out.filter((l) => l.length > 0);
  }

  /** The non-blank rows, top to bottom. */
  lines(): string[] {
    const out: string[] = [];
    for (let r = 0; r < this.height; r++) {
      const l = this.row(r);
      if (l) out.push(l);
    }
    return out;
  }

  private row(r: number): string {
    const cells = this.rows[r];
    if (!cells) return "";
    return Array.from({ length: this.width }, (_, c) => cells[c] ?? " ").join("").trimEnd();
  }
}
