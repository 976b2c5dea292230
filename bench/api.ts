/**
 * EC2 endpoint benchmark: DescribeImages latency with many images (through
 * the real AWS SDK over HTTP on loopback, SigV4 included), and requests per
 * second for signed calls from concurrent clients.
 *
 *   npm run bench:api -- [--images 10000] [--calls 200] [--clients 4]
 */
import { DescribeImagesCommand, DescribeRegionsCommand, EC2Client } from "@aws-sdk/client-ec2";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Ec2Server } from "../src/api/server.js";
import { quantile } from "../src/benchmark/stats.js";
import { Cloud } from "../src/cloud/cloud.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({ options: { images: { type: "string", default: "10000" }, calls: { type: "string", default: "200" }, clients: { type: "string", default: "4" } } });
const count = Number(values.images);
const calls = Number(values.calls);
const clients = Number(values.clients);

const home = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-bench-api-"));
const cloud = new Cloud(home);
const owner = cloud.accounts.defaultAccount();
const snap = cloud.snapshots.importDisk(owner.accountId, "us-east-1", path.join(ROOT, "images/build/mbr.img")).snapshotId;
cloud.db.transaction(() => {
  for (let i = 0; i < count; i++) {
    cloud.images.register(owner.accountId, "us-east-1", { name: `img-${i}`, rootDeviceName: "/dev/sda1", blockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] });
  }
})();
const server = await Ec2Server.start(cloud, { port: 0 });
const client = () => new EC2Client({ endpoint: server.url, region: "us-east-1", credentials: { accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey }, maxAttempts: 1 });

const ec2 = client();
await ec2.send(new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "name", Values: ["img-1"] }] })); // warm up
const lat: number[] = [];
for (let i = 0; i < calls; i++) {
  const t = performance.now();
  await ec2.send(new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "name", Values: [`img-${i % count}`] }] }));
  lat.push(performance.now() - t);
}

const t0 = performance.now();
await Promise.all(
  Array.from({ length: clients }, async () => {
    const c = client();
    for (let i = 0; i < calls; i++) await c.send(new DescribeRegionsCommand({}));
  }),
);
const rps = (clients * calls) / ((performance.now() - t0) / 1000);

console.log(`\nEC2 endpoint on loopback (one run, this machine)\n`);
console.log(`DescribeImages (name filter) with ${count} images: p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms  (goal p99 < 20 ms)`);
console.log(`signed DescribeRegions, ${clients} concurrent clients: ${rps.toFixed(0)} requests/s`);

const out = path.join(ROOT, "bench/results");
fs.mkdirSync(out, { recursive: true });
const file = path.join(out, `api-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
fs.writeFileSync(file, JSON.stringify({ images: count, calls, clients, describeImagesMs: lat, rps }, null, 2));
console.log(`results: ${path.relative(process.cwd(), file)}`);
await server.close();
cloud.close();
fs.rmSync(home, { recursive: true, force: true });
