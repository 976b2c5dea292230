import { DescribeImagesCommand, DescribeRegionsCommand, RunInstancesCommand } from "@aws-sdk/client-ec2";
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES, MAX_DRAINED_BYTES } from "../../src/api/body.js";
import type { Credentials } from "../../src/cloud/accounts.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { image } from "../helpers.js";

// Oversized requests, as a new user would send them with an SDK: each gets an
// EC2 error envelope, never a closed connection (which clients retry).
const endpoint = new TestEndpoint();
let owner: Credentials;
let imageId: string;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  const snap = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
  imageId = cloud.images.register(owner.accountId, "us-east-1", {
    name: "limits",
    architecture: "i386",
    virtualizationType: "hvm",
    rootDeviceName: "/dev/sda1",
    blockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }],
  }).imageId;
});
afterAll(() => endpoint.dispose());

const ids = (n: number) => Array.from({ length: n }, (_, i) => `ami-${i.toString(16).padStart(17, "0")}`);

describe("oversized requests", () => {
  it("answers 100,000 ImageId.N with 413 RequestEntityTooLarge, and keeps serving", async () => {
    const e = await ec2Error(endpoint.ec2(owner).send(new DescribeImagesCommand({ ImageIds: ids(100_000) })));
    expect(e).toMatchObject({ name: "RequestEntityTooLarge", status: 413 });
    expect(e.message).toBe(`The request body is larger than the ${MAX_BODY_BYTES} bytes this endpoint accepts`);
    expect((await endpoint.ec2(owner).send(new DescribeRegionsCommand({}))).Regions?.length).toBeGreaterThan(0);
  });

  it("refuses more than 1000 ImageId.N with InvalidParameterValue naming the parameter", async () => {
    const e = await ec2Error(endpoint.ec2(owner).send(new DescribeImagesCommand({ ImageIds: ids(1001) })));
    expect(e).toMatchObject({ name: "InvalidParameterValue", status: 400, message: "The list ImageId has more than 1000 items" });
  });

  it("answers 50,000 filter values with 413, and over 200 with EC2's FilterLimitExceeded", async () => {
    const describe = (values: string[]) => endpoint.ec2(owner).send(new DescribeImagesCommand({ Filters: [{ Name: "image-id", Values: values }] }));
    expect(await ec2Error(describe(ids(50_000)))).toMatchObject({ name: "RequestEntityTooLarge", status: 413 });
    expect(await ec2Error(describe(ids(201)))).toMatchObject({ name: "FilterLimitExceeded", status: 400, message: "The maximum number of filter values specified on a single call is 200" });
    expect(await ec2Error(describe(ids(1001)))).toMatchObject({ name: "InvalidParameterValue", status: 400, message: "The list Filter.1.Value has more than 1000 items" });
    expect((await describe(ids(200))).Images).toEqual([]);
  });

  it("answers a 20 MB UserData with 413, and UserData over 16 KiB with EC2's InvalidParameterValue", async () => {
    const run = (userData: string) => endpoint.ec2(owner).send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, UserData: userData }));
    const huge = await ec2Error(run(Buffer.alloc(20_000_000, 1).toString("base64")));
    expect(huge).toMatchObject({ name: "RequestEntityTooLarge", status: 413 });
    const over = await ec2Error(run(Buffer.alloc(16 * 1024 + 1, 1).toString("base64")));
    expect(over).toMatchObject({ name: "InvalidParameterValue", status: 400, message: "User data is limited to 16384 bytes (got 16385)." });
    expect(endpoint.cloud.instances.describe(owner.accountId, "us-east-1", { instanceIds: [], filters: [] })).toEqual([]);
  });

  it("refuses a body declared beyond what it drains at once, unread, and closes the connection", async () => {
    const r = await rawPost({ "content-length": String(MAX_DRAINED_BYTES + 1) }, (req) => req.write(Buffer.alloc(1024)));
    expect(r.status).toBe(413);
    expect(r.body).toContain("<Code>RequestEntityTooLarge</Code>");
    await r.closed;
  });

  it("answers a chunked body that never ends once it passes the drain cap", async () => {
    let sent = 0;
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const r = await rawPost({ "transfer-encoding": "chunked" }, (req, answered) => {
      const more = () => {
        while (!answered() && sent <= MAX_DRAINED_BYTES * 2) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", more);
        }
      };
      more();
    });
    expect(r.status).toBe(413);
    expect(r.body).toContain("<Code>RequestEntityTooLarge</Code>");
    expect(sent).toBeLessThanOrEqual(MAX_DRAINED_BYTES * 2);
  });
});

describe("malformed requests", () => {
  it("answers a URL that does not parse with InvalidRequest (400), not InternalError", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(new URL(endpoint.server.url).port), "127.0.0.1", () => s.write("GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      let out = "";
      s.on("data", (d) => (out += d));
      s.on("end", () => resolve(out));
      s.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain("<Code>InvalidRequest</Code><Message>The request URL &apos;//[&apos; cannot be parsed</Message>");
  });
});

/** A POST with a body the caller writes; resolves with the answer (the request may be cut off after it). */
function rawPost(headers: Record<string, string>, write: (req: http.ClientRequest, answered: () => boolean) => void): Promise<{ status: number; body: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let closed!: Promise<void>;
    const req = http.request(endpoint.server.url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers } }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, closed }));
      res.on("error", reject);
    });
    req.on("socket", (socket) => (closed = new Promise((done) => socket.once("close", () => done()))));
    // Writes after the server closed fail with EPIPE/ECONNRESET; the answer is what counts.
    req.on("error", (err) => (answered ? undefined : reject(err)));
    write(req, () => answered);
  });
}
