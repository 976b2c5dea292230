import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { image, runCli, serveProcess, tempDir } from "../helpers.js";

const dir = tempDir();
const env = { ...process.env, AMIBOOT_HOME: path.join(dir, "home") };
let server: ChildProcess;
let endpoint: string;

beforeAll(async () => {
  ({ server, endpoint } = await serveProcess(env));
});
afterAll(() => {
  server.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const amiboot = (...args: string[]) => runCli([...args, "--endpoint", endpoint], { env, nodeFlags: [] });

describe("amiboot image commands, as clients of 'amiboot serve'", () => {
  it("imports a disk as an image, lists, tags, shares and shows it", async () => {
    const imp = await amiboot("image", "import", image("mbr.img"), "--name", "cli-mbr", "--json");
    expect(imp.code).toBe(0);
    const { imageId, snapshotId } = JSON.parse(imp.stdout);
    expect(imageId).toMatch(/^ami-/);
    expect(snapshotId).toMatch(/^snap-/);
    const list = await amiboot("image", "list");
    expect(list.stdout).toMatch(new RegExp(`^IMAGE\\s+NAME\\s+STATE.*\\n${imageId}\\s+cli-mbr\\s+available\\s+i386\\s+hvm\\s+ebs`));
    expect((await amiboot("image", "tag", imageId, "team=boot")).stdout).toBe(`tagged ${imageId}: team=boot\n`);
    expect((await amiboot("image", "share", imageId, "all")).code).toBe(0);
    const show = JSON.parse((await amiboot("image", "show", imageId, "--json")).stdout);
    expect(show).toMatchObject({ ImageId: imageId, Public: true, Tags: [{ Key: "team", Value: "boot" }] });
    expect(show.BlockDeviceMappings[0].Ebs.SnapshotId).toBe(snapshotId);
    // The SDK's notice about Node 22 stays out of the user's terminal.
    expect(list.stderr).toBe("");
  });

  it("lists and deletes snapshots through the endpoint", async () => {
    const snap = JSON.parse((await amiboot("snapshot", "import", image("mbr.img"), "--description", "spare", "--json")).stdout);
    const list = await amiboot("snapshot", "list");
    expect(list.stdout).toMatch(new RegExp(`^SNAPSHOT\\s+SIZE\\s+STATE\\s+CREATED\\s+DESCRIPTION\\n(.*\\n)*${snap.id}\\s+1 GiB\\s+completed\\s+\\S+\\s+spare\\n`));
    expect((await amiboot("snapshot", "delete", snap.id)).stdout).toBe(`deleted ${snap.id}\n`);
    expect((await amiboot("snapshot", "list", "--json")).stdout).not.toContain(snap.id);
    const bad = await amiboot("snapshot", "delete", "snap-x", "--json");
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.code).toBe("InvalidSnapshotID.Malformed");
  });

  it("prints EC2's errors in one line and exits 2", async () => {
    const r = await amiboot("image", "show", "ami-00000000000000000");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("amiboot: error InvalidAMIID.NotFound: The image id '[ami-00000000000000000]' does not exist\n");
  });
});
