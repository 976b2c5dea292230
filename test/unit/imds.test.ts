import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Ec2Error } from "../../src/errors.js";
import { type ImdsLimits, type MetadataOptions, MetadataService } from "../../src/net/imds.js";
import { sampleFacts } from "./net-facts.js";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A metadata service behind a real loopback TCP listener: each accepted socket is one guest connection. */
async function serve(options: Partial<MetadataOptions> = {}, limits: Partial<ImdsLimits> = {}, now?: () => number) {
  const svc = new MetadataService(sampleFacts(), options, limits, now);
  const listener = net.createServer({ allowHalfOpen: true }, (socket) => svc.handle(socket));
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const port = (listener.address() as net.AddressInfo).port;
  opened.push(async () => {
    svc.close();
    await new Promise((resolve) => listener.close(resolve));
  });
  const request = (path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path, method: init.method ?? "GET", headers: init.headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end();
    });
  const token = async (ttl = "21600"): Promise<string> => {
    const answer = await request("/latest/api/token", { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": ttl } });
    expect(answer.status).toBe(200);
    return answer.body;
  };
  return { svc, port, request, token };
}

/** Sends raw bytes and collects everything until the server closes. */
function raw(port: number, bytes: string | Buffer, opts: { end?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString()));
    socket.write(bytes);
    if (opts.end) socket.end();
  });
}

const opened: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (opened.length) await opened.pop()!();
});

describe("metadata service (IMDS)", () => {
  it("answers IMDSv1 requests with EC2's headers", async () => {
    const { request } = await serve();
    const answer = await request("/latest/meta-data/instance-id");
    expect(answer).toMatchObject({ status: 200, body: "i-0123456789abcdef0" });
    expect(answer.headers).toMatchObject({ "content-type": "text/plain", "content-length": "19", server: "EC2ws" });
    expect((await request("/latest/meta-data/")).body.split("\n")).toContain("placement/");
    const user = await request("/latest/user-data");
    expect(user).toMatchObject({ status: 200, body: "#!/bin/sh\necho hello\n" });
    expect(user.headers["content-type"]).toBe("application/octet-stream");
    const missing = await request("/latest/meta-data/nope");
    expect(missing.status).toBe(404);
    expect(missing.headers["content-type"]).toBe("text/html");
    expect(missing.body).toContain("<h1>404 - Not Found</h1>");
    const head = await request("/latest/meta-data/instance-id", { method: "HEAD" });
    expect(head).toMatchObject({ status: 200, body: "" });
    expect((await request("/latest/meta-data/instance-id", { method: "POST" })).status).toBe(405);
  });

  it("issues IMDSv2 tokens and honours them", async () => {
    const { request, token } = await serve();
    const put = await request("/latest/api/token", { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" } });
    expect(put.status).toBe(200);
    expect(put.headers["x-aws-ec2-metadata-token-ttl-seconds"]).toBe("60");
    expect(put.body).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const answer = await request("/latest/meta-data/instance-id", { headers: { "X-aws-ec2-metadata-token": await token() } });
    expect(answer).toMatchObject({ status: 200, body: "i-0123456789abcdef0" });
    // An invalid token is refused even while tokens are optional.
    expect((await request("/latest/meta-data/instance-id", { headers: { "X-aws-ec2-metadata-token": "bogus" } })).status).toBe(401);
    const forged = put.body.slice(0, -2) + (put.body.endsWith("AA") ? "BA" : "AA");
    expect((await request("/latest/meta-data/instance-id", { headers: { "X-aws-ec2-metadata-token": forged } })).status).toBe(401);
  });

  it("refuses bad token requests as EC2 does", async () => {
    const { request } = await serve();
    for (const ttl of ["0", "21601", "abc", "-5", "1.5", ""]) {
      const answer = await request("/latest/api/token", { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": ttl } });
      expect(answer.status, `ttl ${JSON.stringify(ttl)}`).toBe(400);
    }
    expect((await request("/latest/api/token", { method: "PUT" })).status).toBe(400);
    const relayed = await request("/latest/api/token", { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.9" } });
    expect(relayed.status).toBe(403);
    expect(relayed.body).toContain("403 - Forbidden");
    expect((await request("/latest/api/token")).status).toBe(405);
  });

  it("requires a token when HttpTokens is required, and tokens expire", async () => {
    let now = 1_000_000;
    const { request, token, svc } = await serve({ httpTokens: "required" }, {}, () => now);
    const v1 = await request("/latest/meta-data/instance-id");
    expect(v1.status).toBe(401);
    expect(v1.body).toContain("401 - Unauthorized");
    const t = await token("2");
    expect((await request("/latest/meta-data/instance-id", { headers: { "X-aws-ec2-metadata-token": t } })).status).toBe(200);
    now += 2_001;
    expect((await request("/latest/meta-data/instance-id", { headers: { "X-aws-ec2-metadata-token": t } })).status).toBe(401);
    // Changed at run time (ModifyInstanceMetadataOptions): IMDSv1 works again.
    svc.setOptions({ httpTokens: "optional" });
    expect((await request("/latest/meta-data/instance-id")).status).toBe(200);
  });

  it("binds a token to its instance", async () => {
    const a = await serve();
    const b = await serve();
    const t = await a.token();
    expect((await b.request("/latest/meta-data/instance-id", { headers: { "X-aws-ec2-metadata-token": t } })).status).toBe(401);
  });

  it("closes connections without an answer when HttpEndpoint is disabled", async () => {
    const { port, request, svc } = await serve();
    svc.setOptions({ httpEndpoint: "disabled" });
    expect(await raw(port, "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n")).toBe("");
    await expect(request("/latest/meta-data/instance-id")).rejects.toThrow(/socket hang up|ECONNRESET/);
    svc.setOptions({ httpEndpoint: "enabled" });
    expect((await request("/latest/meta-data/instance-id")).status).toBe(200);
    expect(svc.metadataOptions).toEqual({ httpTokens: "optional", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
  });

  it("rejects invalid options with EC2's error", async () => {
    const { svc } = await serve();
    expect(() => svc.setOptions({ httpTokens: "sometimes" as "optional" })).toThrow(Ec2Error);
    expect(() => svc.setOptions({ httpPutResponseHopLimit: 65 })).toThrow(/HttpPutResponseHopLimit/);
    try {
      svc.setOptions({ httpEndpoint: "off" as "enabled" });
    } catch (err) {
      expect(err).toMatchObject({ code: "InvalidParameterValue", message: "Value (off) for parameter HttpEndpoint is invalid. Valid values: enabled, disabled." });
    }
    expect(svc.metadataOptions.httpTokens).toBe("optional");
  });

  it("answers a client that half-closes after its request (busybox nc)", async () => {
    const { port } = await serve();
    const reply = await raw(port, "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 30\r\n\r\n", { end: true });
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toMatch(/\r\n\r\n[A-Za-z0-9_-]{40,}$/);
  });

  it("serves keep-alive and pipelined requests on one connection", async () => {
    const { port } = await serve();
    const get = "GET /latest/meta-data/instance-type HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
    const reply = await raw(port, get + get + get.replace("HTTP/1.1", "HTTP/1.1").replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"));
    expect(reply.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(reply.match(/t1\.micro/g)).toHaveLength(3);
  });

  it("answers a 1 MB header line with 431 and keeps serving", async () => {
    const { port, request } = await serve();
    const reply = await raw(port, `GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(1024 * 1024)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    expect((await request("/latest/meta-data/instance-id")).status).toBe(200);
  });

  it("answers a request with a large body, then closes without reading it", async () => {
    const { port } = await serve();
    const body = "x".repeat(64 * 1024);
    const reply = await raw(port, `PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token-ttl-seconds: 5\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toMatch(/Connection: close/i);
  });

  it("closes idle connections", async () => {
    const { port, svc } = await serve({}, { idleTimeoutMs: 200 });
    const started = Date.now();
    expect(await raw(port, "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n")).toBe("");
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await expect.poll(() => svc.connections).toBe(0);
  });

  it("stays bounded under a flood of 1,000 connections", async () => {
    const { port, svc, request } = await serve({}, { maxConnections: 32 });
    global.gc?.();
    const before = process.memoryUsage();
    const sockets: net.Socket[] = [];
    let refused = 0;
    await Promise.all(
      Array.from({ length: 1000 }, () =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, "127.0.0.1", () => {
            s.write("GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            resolve();
          });
          s.on("error", () => undefined);
          s.on("close", () => refused++);
          sockets.push(s);
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.connections).toBeLessThanOrEqual(32);
    expect(refused).toBeGreaterThanOrEqual(1000 - 32);
    const after = process.memoryUsage();
    expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * 1024 * 1024);
    sockets.forEach((s) => s.destroy());
    await expect.poll(() => svc.connections).toBe(0);
    expect((await request("/latest/meta-data/instance-id")).status).toBe(200);
  });

  it("closes every connection and refuses new ones once closed", async () => {
    const { port, svc } = await serve();
    const pending = raw(port, "GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n");
    await new Promise((r) => setTimeout(r, 50));
    expect(svc.connections).toBe(1);
    svc.close();
    expect(await pending).toBe("");
    expect(await raw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")).toBe("");
  });
});
