import { Duplex } from "node:stream";

/**
 * One TCP connection of an emulator's user-space network stack, as v86's
 * "fetch" adapter hands it out (`TCPConnection` in v86's fake_network.js,
 * absent from its typings): guest-initiated ones arrive with the
 * `tcp-connection` bus event, host-initiated ones come from
 * `adapter.connect(port)`. `on()` keeps one handler per event.
 */
export interface GuestConnection {
  /** Queues bytes towards the guest (copied); no backpressure of its own. */
  write(data: Uint8Array): void;
  /** Host side done: a FIN once what was written is acknowledged. */
  close(): void;
  on(event: "data", handler: (data: Uint8Array) => void): void;
  /** `shutdown`: the guest's FIN; `close`: a reset; `connect`: a host-initiated handshake completed. */
  on(event: "shutdown" | "close" | "connect", handler: () => void): void;
  /**
   * Bytes written and not yet acknowledged by the guest. v86 keeps them in
   * this ring buffer and shrinks it as ACKs arrive (one segment in flight);
   * it is the only measure of what we have queued, so backpressure reads it.
   */
  readonly send_buffer?: { readonly length: number };
}

export interface GuestStreamLimits {
  /** Bytes queued towards the guest beyond which writes wait (backpressure). */
  maxUnsent: number;
  /** Bytes from the guest that nobody reads, beyond which the connection is reset. */
  maxUnread: number;
  /** How often a waiting write looks at the unsent count again (v86 signals no ACK). */
  pollMs: number;
}

export const DEFAULT_GUEST_STREAM_LIMITS: Readonly<GuestStreamLimits> = Object.freeze({
  maxUnsent: 256 * 1024,
  maxUnread: 1024 * 1024,
  pollMs: 5,
});

/** Raised on the stream when the guest resets the connection. */
export function resetError(message = "the guest reset the connection"): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: "ECONNRESET" });
}

/**
 * A `stream.Duplex` over a guest connection: the guest's bytes are copied out
 * of v86's reused views and read here, its FIN ends the readable side, and
 * ending the writable side closes the connection (a FIN towards the guest).
 * Towards the guest, writes wait while more than `maxUnsent` bytes are
 * unacknowledged; from the guest, a reader that falls `maxUnread` bytes
 * behind gets the connection reset (v86 acknowledges at once and cannot be
 * told to slow down).
 */
export class GuestStream extends Duplex {
  private readonly limits: GuestStreamLimits;
  private closedConn = false;
  private waiting: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: GuestConnection,
    limits: Partial<GuestStreamLimits> = {},
  ) {
    super({ allowHalfOpen: true });
    this.limits = { ...DEFAULT_GUEST_STREAM_LIMITS, ...limits };
    conn.on("data", (view) => {
      if (this.destroyed || this.readableEnded) return;
      this.push(Buffer.from(view)); // a copy: v86 reuses the frame buffer the view points into
      if (this.readableLength > this.limits.maxUnread) this.destroy(resetError("the guest sent more than the reader takes"));
    });
    conn.on("shutdown", () => this.push(null));
    conn.on("close", () => {
      this.closedConn = true; // a reset: v86 has already released the connection
      this.destroy(resetError());
    });
  }

  /** Bytes queued towards the guest and not yet acknowledged. */
  get unsent(): number {
    return this.conn.send_buffer?.length ?? 0;
  }

  override _read(): void {
    // Nothing to resume: the guest's bytes are pushed as they come.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.closedConn) {
      callback(resetError());
      return;
    }
    this.conn.write(chunk);
    this.whenDrained(callback);
  }

  /** Corked writes (node:http's head and body) in one piece: v86 sends one segment per ACK, so fewer round trips. */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), "binary", callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeConn();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.waiting);
    this.closeConn();
    callback(error);
  }

  private whenDrained(callback: (error?: Error | null) => void): void {
    if (this.unsent <= this.limits.maxUnsent || this.destroyed) {
      callback();
      return;
    }
    this.waiting = setTimeout(() => this.whenDrained(callback), this.limits.pollMs);
  }

  private closeConn(): void {
    if (this.closedConn) return;
    this.closedConn = true;
    this.conn.close();
  }
}

/**
 * Waits for a host-initiated connection's handshake: resolves with its
 * stream on `connect`; rejects with ECONNREFUSED on a reset before it (no
 * one listens on the guest port yet), or ETIMEDOUT after `timeoutMs` (v86
 * never retransmits a SYN the guest did not answer).
 */
export function connectedStream(
  conn: GuestConnection,
  timeoutMs: number,
  limits: Partial<GuestStreamLimits> = {},
): Promise<GuestStream> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.close();
      reject(Object.assign(new Error(`no answer from the guest in ${timeoutMs} ms`), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    conn.on("close", () => {
      clearTimeout(timer);
      reject(Object.assign(new Error("the guest refused the connection"), { code: "ECONNREFUSED" }));
    });
    conn.on("connect", () => {
      clearTimeout(timer);
      resolve(new GuestStream(conn, limits));
    });
  });
}
