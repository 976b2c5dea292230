import { describe, expect, it } from "vitest";
import { connectedStream, type GuestConnection, GuestStream } from "../../src/net/guest-stream.js";
import { MetadataService } from "../../src/net/imds.js";
import { sampleFacts } from "./net-facts.js";

/**
 * Stands in for v86's TCPConnection (the engine's object, not ours): one
 * handler per event, bytes written go to a send buffer that the "guest"
 * acknowledges with ack().
 */
class EngineConnection implements GuestConnection {
  readonly handlers: Record<string, (...args: never[]) => void> = {};
  readonly send_buffer = { length: 0 };
  readonly written: Buffer[] = [];
  closes = 0;
  write(data: Uint8Array): void {
    if (this.closes) return; // v86 drops writes after close()
    this.written.push(Buffer.from(data));
    this.send_buffer.length += data.length;
  }
  close(): void {
    this.closes++;
  }
  on(event: string, handler: (...args: never[]) => void): void {
    this.handlers[event] = handler;
  }
  emit(event: "data", data: Uint8Array): void;
  emit(event: "shutdown" | "close" | "connect"): void;
  emit(event: string, data?: Uint8Array): void {
    (this.handlers[event] as ((d?: Uint8Array) => void) | undefined)?.(data);
  }
  ack(n: number): void {
    this.send_buffer.length = Math.max(0, this.send_buffer.length - n);
  }
  text(): string {
    return Buffer.concat(this.written).toString();
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe("guest stream", () => {
  it("copies the guest's bytes out of the engine's reused buffer and ends on its FIN", async () => {
    const conn = new EngineConnection();
    const stream = new GuestStream(conn);
    const frame = new TextEncoder().encode("hello");
    conn.emit("data", frame);
    frame.fill(0x21); // v86 reuses its frame buffer for the next packet
    conn.emit("data", new TextEncoder().encode(" world"));
    conn.emit("shutdown");
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    await new Promise((r) => stream.once("end", r));
    expect(Buffer.concat(chunks).toString()).toBe("hello world");
    expect(conn.closes).toBe(0); // the host side may still answer (half-open)
    stream.end("bye");
    await tick();
    expect(conn.text()).toBe("bye");
    expect(conn.closes).toBe(1);
    stream.destroy();
    expect(conn.closes).toBe(1);
  });

  it("turns a reset into ECONNRESET and does not close a released connection", async () => {
    const conn = new EngineConnection();
    const stream = new GuestStream(conn);
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => stream.on("error", resolve));
    conn.emit("close");
    expect((await failed).code).toBe("ECONNRESET");
    expect(conn.closes).toBe(0);
  });

  it("applies backpressure on writes while the guest has not acknowledged", async () => {
    const conn = new EngineConnection();
    const stream = new GuestStream(conn, { maxUnsent: 64 * 1024, pollMs: 1 });
    let peak = 0;
    const acker = setInterval(() => {
      peak = Math.max(peak, conn.send_buffer.length);
      conn.ack(16 * 1024);
    }, 1);
    const chunk = Buffer.alloc(32 * 1024, 7);
    for (let i = 0; i < 64; i++) {
      peak = Math.max(peak, conn.send_buffer.length);
      if (!stream.write(chunk)) await new Promise((r) => stream.once("drain", r));
    }
    await new Promise<void>((resolve) => stream.end(resolve));
    clearInterval(acker);
    expect(Buffer.concat(conn.written).length).toBe(64 * 32 * 1024);
    expect(peak).toBeLessThanOrEqual(64 * 1024 + 32 * 1024);
  });

  it("resets a guest that sends more than the reader takes", async () => {
    const conn = new EngineConnection();
    const stream = new GuestStream(conn, { maxUnread: 100_000 });
    const failed = new Promise<Error>((resolve) => stream.on("error", resolve));
    for (let i = 0; i < 100 && !stream.destroyed; i++) conn.emit("data", new Uint8Array(1460));
    expect((await failed).message).toMatch(/more than the reader takes/);
    expect(conn.closes).toBe(1);
  });

  it("carries an HTTP exchange with the metadata service, half-closed as busybox nc does", async () => {
    const conn = new EngineConnection();
    const svc = new MetadataService(sampleFacts());
    svc.handle(new GuestStream(conn));
    conn.emit("data", new TextEncoder().encode("GET /latest/meta-data/local-ipv4 HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"));
    conn.emit("shutdown");
    await expect.poll(() => conn.closes).toBe(1);
    expect(conn.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n10\.0\.0\.5$/);
    svc.close();
  });

  it("waits for a host-initiated handshake, and reports a refusal or silence", async () => {
    const ok = new EngineConnection();
    const opening = connectedStream(ok, 1000);
    ok.emit("connect");
    expect(await opening).toBeInstanceOf(GuestStream);

    const refused = new EngineConnection();
    const refusing = connectedStream(refused, 1000);
    refused.emit("close");
    await expect(refusing).rejects.toMatchObject({ code: "ECONNREFUSED" });

    const silent = new EngineConnection();
    await expect(connectedStream(silent, 20)).rejects.toMatchObject({ code: "ETIMEDOUT" });
    expect(silent.closes).toBe(1);
  });
});
