import net from "node:net";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Ec2Error } from "../errors.js";

/**
 * A host TCP port that reaches one guest port: each client connection is
 * piped to a guest connection opened by `openGuest` (engine-agnostic: v86's
 * `adapter.connect`, or anything else that yields a Duplex). Security-group
 * rules open one per allowed port; revoking the rule, stopping or
 * terminating the instance closes it with every connection it carries.
 */
export interface PortForwardOptions {
  guestPort: number;
  /** 0: any free port (read it back from `address`). */
  hostPort: number;
  /** Loopback unless the user asks for another address. */
  hostAddress?: string;
  /** Opens a connection to the guest port; rejects with code ECONNREFUSED while the guest does not listen. */
  openGuest(port: number): Promise<Duplex>;
  /** Where reasons for dropped clients go (the instance's log). */
  log?: (line: string) => void;
  retry?: Partial<RetryPolicy>;
}

/** How long a client waits for a guest that does not listen yet (a booting sshd). */
export interface RetryPolicy {
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ attempts: 12, firstDelayMs: 100, maxDelayMs: 2_000 });

/** Guest errors worth another try: nobody listens yet, or the SYN went unanswered. */
const RETRYABLE = new Set(["ECONNREFUSED", "ETIMEDOUT"]);

export class PortForward {
  private readonly clients = new Set<net.Socket>();
  private closed = false;
  /** Clients closed since the guest last accepted: only the first is logged (a client polling a booting guest would log one a second). */
  private refused = 0;
  /** Where it listens, kept: `server.address()` is null once closed. */
  private bound = { address: "", port: 0 };

  private constructor(
    private readonly server: net.Server,
    private readonly options: PortForwardOptions,
    private readonly retry: RetryPolicy,
  ) {}

  /** Listens on the host port; a port that is taken is a `HostPortInUse` error, never an uncaught event. */
  static async open(options: PortForwardOptions): Promise<PortForward> {
    const host = options.hostAddress ?? "127.0.0.1";
    for (const [name, port, min] of [["guest", options.guestPort, 1], ["host", options.hostPort, 0]] as const) {
      if (!Number.isInteger(port) || port < min || port > 65535) {
        throw new Ec2Error("InvalidParameterValue", `The ${name} port ${port} is not a port number (${min} to 65535).`, "net.portForward");
      }
    }
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    const forward = new PortForward(server, options, { ...DEFAULT_RETRY, ...options.retry });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, host, options)));
      server.listen({ port: options.hostPort, host, exclusive: true }, () => resolve());
    });
    const { address, port } = server.address() as net.AddressInfo;
    forward.bound = { address, port };
    server.on("error", (err) => forward.log(`listener error: ${err.message}`));
    server.on("connection", (client) => forward.accept(client));
    return forward;
  }

  /** The address and port the listener got. */
  get address(): { address: string; port: number } {
    return { ...this.bound };
  }

  /** Client connections open now. */
  get connections(): number {
    return this.clients.size;
  }

  /** Stops listening and closes every connection it carries. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.clients) client.destroy();
    this.clients.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    this.clients.add(client);
    client.on("error", () => client.destroy());
    client.once("close", () => this.clients.delete(client));
    void this.connectGuest(client);
  }

  private async connectGuest(client: net.Socket): Promise<void> {
    const { guestPort } = this.options;
    let delay = this.retry.firstDelayMs;
    for (let attempt = 1; ; attempt++) {
      if (client.destroyed || this.closed) return;
      let guest: Duplex;
      try {
        guest = await this.options.openGuest(guestPort);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? "";
        if (!RETRYABLE.has(code) || attempt >= this.retry.attempts) {
          if (this.refused++ === 0) this.log(`closed a client: guest port ${guestPort} did not accept after ${attempt} attempt(s) (${(err as Error).message}); more such clients are counted, not logged, until it accepts`);
          client.destroy();
          return;
        }
        await sleep(delay);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
        continue;
      }
      if (client.destroyed || this.closed) {
        guest.destroy();
        return;
      }
      if (this.refused > 0) this.log(`guest port ${guestPort} accepts now (${this.refused} client(s) closed before)`);
      this.refused = 0;
      splice(client, guest);
      return;
    }
  }

  private log(line: string): void {
    this.options.log?.(`port forward ${this.bound.address}:${this.bound.port} -> guest port ${this.options.guestPort}: ${line}`);
  }
}

/** Both directions, each ending with its FIN; an error on either side ends both. */
function splice(client: net.Socket, guest: Duplex): void {
  const fail = (): void => {
    client.destroy();
    guest.destroy();
  };
  guest.on("error", fail);
  client.on("error", fail);
  client.once("close", () => guest.destroy());
  client.pipe(guest);
  guest.pipe(client);
  client.resume();
}

function listenError(err: NodeJS.ErrnoException, host: string, options: PortForwardOptions): Ec2Error {
  const where = `${host}:${options.hostPort} (for guest port ${options.guestPort})`;
  if (err.code === "EADDRINUSE") {
    return new Ec2Error("HostPortInUse", `The host port ${where} is already in use by another program.`, "net.portForward");
  }
  return new Ec2Error("HostPortUnavailable", `The host port ${where} cannot be opened: ${err.code ?? err.message}.`, "net.portForward");
}
