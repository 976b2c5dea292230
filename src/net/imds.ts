import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { Duplex } from "node:stream";
import { Ec2Error } from "../errors.js";
import { errorPage, type InstanceFacts, metadataTree, resolveMetadata } from "./metadata.js";

/**
 * One instance's metadata service (169.254.169.254:80): a real `node:http`
 * server that never listens on a host port. Whoever carries the guest's
 * network hands it one `Duplex` per guest TCP connection ({@link handle}),
 * so it serves v86's user-space stack and any other engine alike.
 *
 * IMDSv1 and IMDSv2 as EC2 documents them ("Use the Instance Metadata
 * Service to access instance metadata"): `PUT /latest/api/token` with
 * `X-aws-ec2-metadata-token-ttl-seconds` (1–21600, else 400; refused with 403
 * when it carries `X-Forwarded-For`), then `X-aws-ec2-metadata-token` on
 * requests: 401 when tokens are required and it is missing, and whenever a
 * token is given but invalid or expired. `HttpEndpoint=disabled`: the
 * connection is closed without an answer.
 */

export interface MetadataOptions {
  httpTokens: "optional" | "required";
  httpEndpoint: "enabled" | "disabled";
  /**
   * Kept and reported, not enforced: the guest's packets reach us through
   * the emulator's own stack, where an IP TTL has no hops to count.
   */
  httpPutResponseHopLimit: number;
}

export const DEFAULT_METADATA_OPTIONS: Readonly<MetadataOptions> = Object.freeze({
  httpTokens: "optional",
  httpEndpoint: "enabled",
  httpPutResponseHopLimit: 1,
});

/** What one guest may cost the host. */
export interface ImdsLimits {
  /** Open connections per instance; more are closed at once. */
  maxConnections: number;
  /** A connection with no request (or no answer finished) for this long is closed. */
  idleTimeoutMs: number;
  /** Request header bytes (node's `maxHeaderSize`); beyond: 431 and closed. */
  maxHeaderBytes: number;
  /** A request that announces a longer body gets its answer, then the connection is closed. */
  maxBodyBytes: number;
}

export const DEFAULT_IMDS_LIMITS: Readonly<ImdsLimits> = Object.freeze({
  maxConnections: 32,
  idleTimeoutMs: 10_000,
  maxHeaderBytes: 8 * 1024,
  maxBodyBytes: 1024,
});

const TOKEN_PATH = "/latest/api/token";
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER = "x-aws-ec2-metadata-token";
const MAX_TTL_SECONDS = 21_600;
const MAX_HOP_LIMIT = 64;

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
};

export class MetadataService {
  private readonly server: http.Server;
  private readonly open = new Set<Duplex>();
  private readonly idle = new WeakMap<object, IdleTimer>();
  private readonly limits: ImdsLimits;
  /** Signs this instance's tokens: a token names its expiry and is valid for this service only. */
  private readonly secret = randomBytes(32);
  private options: MetadataOptions;
  private facts: InstanceFacts;
  private tree: ReturnType<typeof metadataTree>;
  private closed = false;

  constructor(
    facts: InstanceFacts,
    options: Partial<MetadataOptions> = {},
    limits: Partial<ImdsLimits> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.facts = facts;
    this.tree = metadataTree(facts);
    this.options = checkOptions({ ...DEFAULT_METADATA_OPTIONS, ...options });
    this.limits = { ...DEFAULT_IMDS_LIMITS, ...limits };
    this.server = http.createServer({ maxHeaderSize: this.limits.maxHeaderBytes }, (req, res) => this.answer(req, res));
    // A client that half-closes after its request (busybox nc, some PUTs) must still get the answer.
    // (a public field of node's Server that @types/node does not declare)
    (this.server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  }

  /** The options now in force (ModifyInstanceMetadataOptions changes them at run time). */
  get metadataOptions(): Readonly<MetadataOptions> {
    return { ...this.options };
  }

  /** How many guest connections are open now. */
  get connections(): number {
    return this.open.size;
  }

  setOptions(patch: Partial<MetadataOptions>): void {
    this.options = checkOptions({ ...this.options, ...patch });
  }

  /** New facts (security groups changed, a public address given): later requests see them. */
  setFacts(facts: InstanceFacts): void {
    this.facts = facts;
    this.tree = metadataTree(facts);
  }

  /** Serves one guest connection; the service owns it from now on. */
  handle(conn: Duplex): void {
    if (this.closed || this.options.httpEndpoint === "disabled" || this.open.size >= this.limits.maxConnections) {
      conn.destroy();
      return;
    }
    this.open.add(conn);
    conn.on("error", () => conn.destroy());
    const idle = new IdleTimer(this.limits.idleTimeoutMs, () => conn.destroy());
    conn.once("close", () => {
      idle.stop();
      this.open.delete(conn);
    });
    this.idle.set(conn, idle);
    this.server.emit("connection", conn);
    idle.restart();
  }

  /** Closes every open connection; later ones are refused (stop, terminate). */
  close(): void {
    this.closed = true;
    for (const conn of this.open) conn.destroy();
    this.open.clear();
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const idle = this.idle.get(req.socket);
    idle?.stop();
    res.once("finish", () => idle?.restart());
    if (this.options.httpEndpoint === "disabled") {
      req.socket.destroy();
      return;
    }
    const announced = Number(req.headers["content-length"] ?? 0);
    if (req.headers["transfer-encoding"] !== undefined || !(announced <= this.limits.maxBodyBytes)) {
      // Answer, then close: the body is never read into memory.
      res.shouldKeepAlive = false;
      res.once("finish", () => req.socket.destroy());
    }
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === TOKEN_PATH || path === `${TOKEN_PATH}/`) {
      this.issueToken(req, res);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.fail(res, 405, { Allow: "GET, HEAD" });
      return;
    }
    const token = req.headers[TOKEN_HEADER];
    if (token !== undefined ? !this.validToken(String(token)) : this.options.httpTokens === "required") {
      this.fail(res, 401);
      return;
    }
    const found = resolveMetadata(this.facts, path, this.tree);
    this.send(res, found.status, found.contentType, found.body);
  }

  private issueToken(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== "PUT") {
      this.fail(res, 405, { Allow: "PUT" });
      return;
    }
    // A PUT relayed by a proxy on the instance is the SSRF case IMDSv2 exists to stop.
    if (req.headers["x-forwarded-for"] !== undefined) {
      this.fail(res, 403);
      return;
    }
    const raw = req.headers[TTL_HEADER];
    const ttl = typeof raw === "string" && /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!(ttl >= 1 && ttl <= MAX_TTL_SECONDS)) {
      this.fail(res, 400);
      return;
    }
    res.setHeader("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", String(ttl));
    this.send(res, 200, "text/plain", this.makeToken(this.now() + ttl * 1000));
  }

  private makeToken(expiresAtMs: number): string {
    const expiry = Buffer.alloc(8);
    expiry.writeBigUInt64BE(BigInt(Math.ceil(expiresAtMs)));
    return Buffer.concat([expiry, this.sign(expiry)]).toString("base64url");
  }

  private validToken(token: string): boolean {
    const bytes = Buffer.from(token, "base64url");
    if (bytes.length !== 40 || bytes.toString("base64url") !== token) return false;
    const expiry = bytes.subarray(0, 8);
    if (!timingSafeEqual(bytes.subarray(8), this.sign(expiry))) return false;
    return Number(expiry.readBigUInt64BE()) > this.now();
  }

  private sign(expiry: Buffer): Buffer {
    return createHmac("sha256", this.secret).update(this.facts.instanceId).update(expiry).digest();
  }

  private fail(res: http.ServerResponse, status: number, headers: Record<string, string> = {}): void {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    this.send(res, status, "text/html", errorPage(status, REASONS[status] ?? "Error"));
  }

  private send(res: http.ServerResponse, status: number, contentType: string, body: string | Uint8Array): void {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    res.writeHead(status, REASONS[status] ?? "OK", {
      "Content-Type": contentType,
      "Content-Length": String(bytes.length),
      Server: "EC2ws",
    });
    res.end(res.req.method === "HEAD" ? undefined : bytes);
  }
}

/** Checks options with EC2's ranges; the message names the parameter as the API spells it. */
export function checkOptions(options: MetadataOptions): MetadataOptions {
  const bad = (name: string, value: unknown, allowed: string): never => {
    throw new Ec2Error("InvalidParameterValue", `Value (${String(value)}) for parameter ${name} is invalid. ${allowed}`, "net.metadataOptions");
  };
  if (options.httpTokens !== "optional" && options.httpTokens !== "required") bad("HttpTokens", options.httpTokens, "Valid values: optional, required.");
  if (options.httpEndpoint !== "enabled" && options.httpEndpoint !== "disabled") bad("HttpEndpoint", options.httpEndpoint, "Valid values: enabled, disabled.");
  const hops = options.httpPutResponseHopLimit;
  if (!Number.isInteger(hops) || hops < 1 || hops > MAX_HOP_LIMIT) bad("HttpPutResponseHopLimit", hops, `Valid values: 1 to ${MAX_HOP_LIMIT}.`);
  return options;
}

/** One timer, stopped while a request is being answered and restarted after. */
class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {}
  restart(): void {
    this.stop();
    this.timer = setTimeout(this.fire, this.ms);
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}
