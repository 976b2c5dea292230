import net from "node:net";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { Ec2Error } from "../../src/errors.js";
import { PortForward, type PortForwardOptions } from "../../src/net/port-forward.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A plain TCP server standing in for the guest's side: it answers each line upper-cased and ends when the client ends. */
async function guestServer(): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    s.on("data", (d) => s.write(d.toString().toUpperCase()));
    s.on("end", () => s.end("<bye>"));
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => { server.close(r); server.closeAllConnections?.(); }));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

/** `openGuest` over real loopback TCP: a refused connect is ECONNREFUSED, like a guest port nobody listens on. */
function dial(port: () => number): (guestPort: number) => Promise<Duplex> {
  return () =>
    new Promise((resolve, reject) => {
      const s = net.connect({ port: port(), host: "127.0.0.1", allowHalfOpen: true });
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });
}

async function forward(options: Partial<PortForwardOptions> & Pick<PortForwardOptions, "openGuest">): Promise<PortForward> {
  const f = await PortForward.open({ guestPort: 22, hostPort: 0, ...options });
  cleanups.push(() => f.close());
  return f;
}

/** Connects, writes, half-closes, and reads until the other side closes. */
function exchange(port: number, text: string, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on("data", (c) => chunks.push(c));
    s.on("error", reject);
    s.on("close", () => resolve(Buffer.concat(chunks).toString()));
    s.end(text);
  });
}

describe("port forward", () => {
  it("pipes a loopback client to the guest port, both half-closes included", async () => {
    const guest = await guestServer();
    const f = await forward({ openGuest: dial(() => guest.port) });
    expect(f.address.address).toBe("127.0.0.1");
    expect(await exchange(f.address.port, "hello")).toBe("HELLO<bye>");
    expect(await exchange(f.address.port, "again")).toBe("AGAIN<bye>");
    expect(guest.accepted()).toBe(2);
  });

  it("retries while the guest does not listen yet", async () => {
    const guest = await guestServer();
    let attempts = 0;
    const f = await forward({
      retry: { firstDelayMs: 5 },
      openGuest: (p) => {
        attempts++;
        // The first two tries hit a closed port: real refusals.
        return dial(() => (attempts <= 2 ? closedPort : guest.port))(p);
      },
    });
    const closedPort = await freePort();
    expect(await exchange(f.address.port, "late")).toBe("LATE<bye>");
    expect(attempts).toBe(3);
  });

  it("gives up after its retries, closes the client and says why", async () => {
    const closedPort = await freePort();
    const lines: string[] = [];
    const f = await forward({ retry: { attempts: 3, firstDelayMs: 5 }, openGuest: dial(() => closedPort), log: (l) => lines.push(l) });
    // Closed with the client's bytes unread: the client sees a reset (or an empty answer).
    expect(await exchange(f.address.port, "anyone?").catch((e: NodeJS.ErrnoException) => e.code)).toMatch(/^(|ECONNRESET)$/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/guest port 22 did not accept after 3 attempt\(s\)/);
    expect(f.connections).toBe(0);
    // A client polling a guest that is still booting: counted, not logged again, until the guest accepts.
    await exchange(f.address.port, "still?").catch(() => undefined);
    expect(lines).toHaveLength(1);
  });

  it("closes the listener and every open connection", async () => {
    const guest = await guestServer();
    const f = await forward({ openGuest: dial(() => guest.port) });
    const port = f.address.port;
    const client = net.connect(port, "127.0.0.1");
    const closed = new Promise((r) => client.on("close", r));
    client.on("error", () => undefined);
    client.write("x");
    await new Promise((r) => client.once("data", r));
    expect(f.connections).toBe(1);
    await f.close();
    await closed;
    await expect(exchange(port, "x")).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("reports a host port that is taken as HostPortInUse and keeps the process alive", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => taken.close(r)));
    const hostPort = (taken.address() as net.AddressInfo).port;
    const opening = PortForward.open({ guestPort: 22, hostPort, openGuest: dial(() => 1) });
    await expect(opening).rejects.toBeInstanceOf(Ec2Error);
    await expect(opening).rejects.toMatchObject({ code: "HostPortInUse", message: `The host port 127.0.0.1:${hostPort} (for guest port 22) is already in use by another program.` });
    await expect(PortForward.open({ guestPort: 22, hostPort: 0, hostAddress: "203.0.113.7", openGuest: dial(() => 1) })).rejects.toMatchObject({ code: "HostPortUnavailable" });
    await expect(PortForward.open({ guestPort: 0, hostPort: 0, openGuest: dial(() => 1) })).rejects.toMatchObject({ code: "InvalidParameterValue" });
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
