import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CLI, image, MARKER, runCli, serveProcess, tempDir } from "../helpers.js";

const dir = tempDir();
const env = { ...process.env, AMIBOOT_HOME: path.join(dir, "home") };
let server: ChildProcess;
let endpoint: string;

/** (Re)starts `amiboot serve` on this test's data directory. */
async function serve(): Promise<void> {
  ({ server, endpoint } = await serveProcess(env));
}

beforeAll(serve);
afterAll(() => {
  server.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

const amiboot = (...args: string[]) => runCli([...args, "--endpoint", endpoint], { env, nodeFlags: [] });

/** The first test's instance, left stopped by the server's stop. */
let stoppedId = "";
/** Its root volume. */
let rootVolume = "";

async function stateOf(id: string): Promise<string> {
  return JSON.parse((await amiboot("instance", "show", id, "--json")).stdout).State.Name;
}

describe("amiboot run, instance and console, as clients of 'amiboot serve'", () => {
  it("runs an image to user space, shows it, reads its console, images it, stops it; a server stop leaves it stopped", async () => {
    const { imageId } = JSON.parse((await amiboot("image", "import", image("hvm-linux.img"), "--name", "cli-hvm", "--json")).stdout);
    const run = await amiboot("run", imageId, "--type", "t1.micro", "--json");
    expect(run.code).toBe(0);
    const launched = JSON.parse(run.stdout);
    const id = launched.instances[0].instanceId;
    stoppedId = id;
    expect(launched.instances[0]).toMatchObject({ instanceId: expect.stringMatching(/^i-[0-9a-f]{17}$/), state: "running", secondsToUserSpace: expect.any(Number) });

    const list = await amiboot("instance", "list");
    expect(list.stdout).toMatch(new RegExp(`^INSTANCE\\s+IMAGE\\s+STATE.*\\n${id}\\s+${imageId}\\s+running\\s+t1\\.micro\\s+ebs\\s+hvm`));
    expect((await amiboot("console", id)).stdout).toContain(MARKER);

    // A live console: what is typed reaches the guest's shell, its answer comes back; Ctrl-] detaches.
    await vi.waitFor(async () => expect((await amiboot("console", id)).stdout).toContain("AMIBOOT-DISKS-READY"), { timeout: 20_000, interval: 200 });
    const attached = spawn(process.execPath, [CLI, "console", id, "--attach", "--endpoint", endpoint], { env, stdio: ["pipe", "pipe", "pipe"] });
    let seen = "";
    attached.stdout!.on("data", (d: Buffer) => (seen += d.toString("latin1")));
    attached.stdin!.write("echo ATTACHED-$((20+22))\n");
    await vi.waitFor(() => expect(seen).toMatch(/^ATTACHED-42/m), { timeout: 20_000, interval: 100 });
    const detached = new Promise<number | null>((r) => attached.once("exit", r));
    attached.stdin!.write(Buffer.from([0x1d]));
    expect(await detached).toBe(0);

    const created = await amiboot("image", "create", id, "--name", "cli-made", "--no-reboot", "--json");
    expect(JSON.parse(created.stdout).imageId).toMatch(/^ami-/);
    expect(await stateOf(id)).toBe("running");

    const stop = await amiboot("instance", "stop", id);
    expect(stop.stdout).toBe(`${id}  running -> stopping\n`);
    expect(await amiboot("instance", "wait", id, "--until", "stopped", "--timeout", "20")).toMatchObject({ code: 0, stdout: `${id}  stopped\n` });
    expect(await stateOf(id)).toBe("stopped");

    // Started again, then the server stops (SIGTERM): the instance is stopped, not lost.
    expect((await amiboot("instance", "start", id)).stdout).toBe(`${id}  stopped -> pending\n`);
    expect(await amiboot("instance", "wait", id, "--until", "running", "--timeout", "20")).toMatchObject({ code: 0, stdout: `${id}  running\n` });
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
    await serve();
    const after = JSON.parse((await amiboot("instance", "show", id, "--json")).stdout);
    expect(after).toMatchObject({ State: { Name: "stopped" }, StateReason: { Code: "Server.InternalError" } });
    rootVolume = after.BlockDeviceMappings[0].Ebs.VolumeId;
    expect(rootVolume).toMatch(/^vol-[0-9a-f]{17}$/);
  });

  it("says why a launch cannot happen, with EC2's codes", async () => {
    const r = await amiboot("run", "ami-00000000000000000");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("amiboot: error InvalidAMIID.NotFound: The image id '[ami-00000000000000000]' does not exist\n");
    // Waiting on an instance that will never get there fails at once, with why.
    const w = await amiboot("instance", "wait", stoppedId, "--until", "running", "--timeout", "5");
    expect(w).toMatchObject({ code: 1, stderr: `amiboot: error InstanceFailed: ${stoppedId} is stopped: Server.InternalError: the amiboot server stopped while the instance was running\n` });
    // A server that could never boot anything refuses to start.
    const slots = await runCli(["serve", "--port", "0", "--boot-slots", "0"], { env: { ...env, AMIBOOT_HOME: path.join(dir, "never") }, nodeFlags: [] });
    expect(slots).toMatchObject({ code: 2, stdout: "", stderr: "amiboot: error InvalidParameterValue: The option bootSlots must be an integer >= 1 (got 0).\n" });
    expect(fs.existsSync(path.join(dir, "never", "amiboot.sqlite"))).toBe(false);
    const c = await amiboot("console", "i-nope");
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("InvalidInstanceID.Malformed");
  });

  it("keeps a stopped instance's volume: 'volume delete' says VolumeInUse and deletes nothing", async () => {
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
    const local = (...args: string[]) => runCli(args, { env, nodeFlags: [] });
    const r = await local("volume", "delete", rootVolume);
    expect(r).toMatchObject({ code: 1, stdout: "", stderr: `amiboot: error VolumeInUse: Volume ${rootVolume} is currently attached to ${stoppedId}\n` });
    const volumes = JSON.parse((await local("volume", "list", "--json")).stdout) as { id: string }[];
    expect(volumes.map((v) => v.id)).toContain(rootVolume);
    await serve();
  });
});
