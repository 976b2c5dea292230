import {
  CopyImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RegisterImageCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import Database from "better-sqlite3";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Cloud } from "../../src/cloud/cloud.js";
import { VolumeStore } from "../../src/volumes/store.js";
import { image, runCli, serveProcess, tempDir } from "../helpers.js";

/**
 * The endpoint is the only writer: `amiboot snapshot import` uploads through
 * it while it serves other clients that add and free snapshots and chunks
 * (RegisterImage, CopyImage, DeregisterImage with its snapshots), and
 * nothing is corrupted.
 */
const dir = tempDir();
const home = path.join(dir, "home");
const env = { ...process.env, AMIBOOT_HOME: home };
let server: ChildProcess | undefined;
afterAll(() => {
  server?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const BLOCK = 512 * 1024;
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

/** The blocks a raw disk must become: index -> SHA-256, zero blocks absent. */
function expectedBlocks(file: string): Record<string, string> {
  const bytes = fs.readFileSync(file);
  const out: Record<string, string> = {};
  for (let at = 0, i = 0; at < bytes.length; at += BLOCK, i++) {
    const b = Buffer.alloc(BLOCK);
    bytes.copy(b, 0, at, Math.min(at + BLOCK, bytes.length));
    if (b.some((x) => x !== 0)) out[i] = createHash("sha256").update(b).digest("hex");
  }
  return out;
}

async function stop(p: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => p.once("exit", resolve));
  p.kill();
  await exited;
}

describe("amiboot snapshot import while amiboot serve handles other clients", () => {
  it("leaves the store verified, SQLite intact and the imported snapshot whole, registrable and bootable", async () => {
    const local = new Cloud(home);
    const keys = local.accounts.defaultAccount();
    local.close();
    let endpoint: string;
    ({ server, endpoint } = await serveProcess(env));
    const amiboot = (...args: string[]) => runCli([...args, "--endpoint", endpoint], { env, nodeFlags: [] });
    const base = JSON.parse((await amiboot("snapshot", "import", image("mbr.img"), "--json")).stdout).id as string;
    const ec2 = (region = "us-east-1") => new EC2Client({ endpoint, region, credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey }, maxAttempts: 1 });
    const register = (name: string, snapshotId = base) =>
      ec2().send(new RegisterImageCommand({ Name: name, Architecture: "i386", VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }] }));

    // Two imports through the CLI, and meanwhile a client that keeps adding and freeing snapshots and chunks.
    const imports = Promise.all([amiboot("snapshot", "import", image("hvm-linux.img"), "--json"), amiboot("image", "import", image("pv-linux.img"), "--name", "pv-import", "--json")]);
    let importsDone = false;
    void imports.finally(() => (importsDone = true));
    let rounds = 0;
    while (!importsDone || rounds < 3) {
      const { ImageId } = await register(`busy-${rounds}`);
      await ec2().send(new DescribeImagesCommand({ Owners: ["self"] }));
      const copy = await ec2("eu-west-1").send(new CopyImageCommand({ SourceImageId: ImageId!, SourceRegion: "us-east-1", Name: `copy-${rounds}` }));
      // Deleting the copy's snapshot frees chunks (a collection) while the uploads hold theirs.
      await ec2("eu-west-1").send(new DeregisterImageCommand({ ImageId: copy.ImageId!, DeleteAssociatedSnapshots: true }));
      rounds++;
    }
    const [snap, img] = await imports;
    expect(snap.code).toBe(0);
    expect(img.stderr).toBe("");
    expect(img.code).toBe(0);
    const imported = JSON.parse(snap.stdout) as { id: string };
    const { imageId: pvImage, snapshotId: pvSnap } = JSON.parse(img.stdout) as { imageId: string; snapshotId: string };

    // Registering the imported snapshot and booting it works.
    const { ImageId: hvmImage } = await register("imported-hvm", imported.id);
    const run = await amiboot("run", hvmImage!, "--type", "t1.micro", "--json");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const instanceId = JSON.parse(run.stdout).instances[0].instanceId as string;
    await ec2().send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    const snapshots = (await ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots!;
    expect(snapshots.map((s) => s.SnapshotId)).toEqual(expect.arrayContaining([base, imported.id, pvSnap]));
    expect(snapshots.every((s) => s.State === "completed")).toBe(true);
    expect((await ec2().send(new DescribeImagesCommand({ ImageIds: [pvImage] }))).Images![0]!.State).toBe("available");
    await stop(server);
    server = undefined;

    // Afterwards: every chunk verified, every snapshot exactly its disk, SQLite intact, every recorded snapshot in the store.
    const store = new VolumeStore(home);
    expect(store.verify().problems).toEqual([]);
    expect(store.listUploads()).toEqual([]);
    expect(store.getSnapshot(imported.id).blocks).toEqual(expectedBlocks(image("hvm-linux.img")));
    expect(store.getSnapshot(pvSnap).blocks).toEqual(expectedBlocks(image("pv-linux.img")));
    expect(store.getSnapshot(imported.id).size).toBe(fs.statSync(image("hvm-linux.img")).size);
    const db = new Database(path.join(home, "amiboot.sqlite"), { readonly: true });
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      const recorded = db.prepare("select id from snapshots").pluck().all() as string[];
      expect(recorded).toEqual(expect.arrayContaining([base, imported.id, pvSnap]));
      // Each copy's snapshot was freed again: the store holds exactly the recorded snapshots.
      expect(store.listSnapshots().map((m) => m.id).sort()).toEqual([...recorded].sort());
      expect(rounds).toBeGreaterThanOrEqual(3);
    } finally {
      db.close();
    }
  });
});
