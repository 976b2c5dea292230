import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { image, runCli, serveProcess, tempDir } from "../helpers.js";

const dir = tempDir();
const home = path.join(dir, "home");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const amiboot = (...args: string[]) => runCli(args, { env: { ...process.env, AMIBOOT_HOME: home }, nodeFlags: [] });

describe("amiboot snapshot, volume and bundle commands", () => {
  it("imports through 'amiboot serve', creates a volume, snapshots and exports it, with --json for scripts", async () => {
    // The upload goes through the endpoint (EBS direct); the volume commands then work on the stopped server's store.
    const { server, endpoint } = await serveProcess({ ...process.env, AMIBOOT_HOME: home });
    const imp = await amiboot("snapshot", "import", image("hvm-linux.img"), "--description", "sample", "--json", "--endpoint", endpoint);
    const stopped = new Promise((resolve) => server.once("exit", resolve));
    server.kill();
    await stopped;
    expect(imp.code).toBe(0);
    const snap = JSON.parse(imp.stdout);
    expect(snap).toMatchObject({ id: expect.stringMatching(/^snap-[0-9a-f]{17}$/), size: fs.statSync(image("hvm-linux.img")).size, description: "sample" });
    expect(snap.blocks).toBeUndefined();
    // Owned by the local default account, in the default region.
    expect(snap).toMatchObject({ ownerId: expect.stringMatching(/^\d{12}$/), region: "us-east-1" });
    expect(snap.blocksUploaded + snap.zeroBlocksSkipped).toBe(Math.ceil(snap.size / (512 * 1024)));

    const vol = JSON.parse((await amiboot("volume", "create", "--snapshot", snap.id, "--json")).stdout);
    expect(vol).toMatchObject({ id: expect.stringMatching(/^vol-/), snapshotId: snap.id });
    const out = path.join(dir, "export.img");
    expect((await amiboot("volume", "export", vol.id, out)).stdout).toBe(`wrote ${out} (33.0 MiB)\n`);
    expect(fs.readFileSync(out).equals(fs.readFileSync(image("hvm-linux.img")))).toBe(true);

    const incr = JSON.parse((await amiboot("volume", "snapshot", vol.id, "--json")).stdout);
    expect(incr).toMatchObject({ parent: snap.id, stats: { changedBlocks: 0, newChunks: 0 } });
    expect((await amiboot("snapshot", "verify", "--json")).stdout).toContain('"problems": []');
  });

  it("answers unknown ids with EC2's errors and exit 2", async () => {
    const r = await amiboot("volume", "create", "--snapshot", "snap-0123456789abcdef0");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("amiboot: error InvalidSnapshot.NotFound: The snapshot 'snap-0123456789abcdef0' does not exist.\n");
    const m = await amiboot("snapshot", "import", path.join(dir, "missing.img"), "--json");
    expect(m.code).toBe(2);
    expect(JSON.parse(m.stdout).error.code).toBe("InvalidParameterValue");
  });

  it("bundles an image and verifies the bundle; a damaged part is InvalidManifest", async () => {
    const bucket = path.join(dir, "bucket");
    const c = JSON.parse((await amiboot("bundle", "create", image("hvm-linux.img"), "--bucket", bucket, "--prefix", "hvm", "--json")).stdout);
    expect(c.manifestPath).toBe(path.join(bucket, "hvm.manifest.xml"));
    expect(c.manifest.parts).toHaveLength(4);
    expect((await amiboot("bundle", "verify", c.manifestPath)).stdout).toBe(`${c.manifestPath}: ok, 4 parts, 33.0 MiB, i386\n`);
    const part = path.join(bucket, "hvm.part.2");
    const b = fs.readFileSync(part);
    b[1000] ^= 1;
    fs.writeFileSync(part, b);
    const bad = await amiboot("bundle", "verify", c.manifestPath);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^amiboot: error InvalidManifest: .*hvm\.part\.2/);
  });
});
