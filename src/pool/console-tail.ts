/** The last `limit` bytes of a serial console, as GetConsoleOutput returns them. */
export class ConsoleTail {
  private buffer = Buffer.alloc(0);

  constructor(private readonly limit = 64 * 1024) {}

  push(bytes: Uint8Array): void {
    const joined = Buffer.concat([this.buffer, bytes]);
    this.buffer = joined.length > this.limit ? joined.subarray(joined.length - this.limit) : joined;
  }

  bytes(): Buffer {
    return this.buffer;
  }
}
