import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
    expect(launched.instances[0]).toMatchObject({ instanceId: expect.stringMatching(/^i-[0-9a-f]{17}$/), state: "running", secondsToUserSpace: expect.any(Number) });

    const list = await amiboot("instance", "list");
    expect(list.stdout).toMatch(new RegExp(`^INSTANCE\\s+IMAGE\\s+STATE.*\\n${id}\\s+${imageId}\\s+running\\s+t1\\.micro\\s+ebs\\s+hvm`));
    expect((await amiboot("console", id)).stdout).toContain(MARKER);

    // A live console: what is typed reaches the guest's shell, its answer comes back; Ctrl-] detaches.
    for (let i = 0; i < 100 && !(await amiboot("console", id)).stdout.includes("AMIBOOT-DISKS-READY"); i++) await new Promise((r) => setTimeout(r, 200));
    const attached = spawn(process.execPath, [CLI, "console", id, "--attach", "--endpoint", endpoint], { env, stdio: ["pipe", "pipe", "pipe"] });
    let seen = "";
    attached.stdout!.on("data", (d: Buffer) => (seen += d.toString("latin1")));
    attached.stdin!.write("echo ATTACHED-$((20+22))\n");
    for (let i = 0; i < 100 && !/^ATTACHED-42/m.test(seen); i++) await new Promise((r) => setTimeout(r, 200));
    expect(seen).toMatch(/^ATTACHED-42/m);
    const detached = new Promise<number | null>((r) => attached.once("exit", r));
    attached.stdin!.write(Buffer.from([0x1d]));
    expect(await detached).toBe(0);

    const created = await amiboot("image", "create", id, "--name", "cli-made", "--no-reboot", "--json");
    expect(JSON.parse(created.stdout).imageId).toMatch(/^ami-/);
    expect(await stateOf(id)).toBe("running");

    const stop = await amiboot("instance", "stop", id);
    expect(stop.stdout).toBe(`${id}  running -> stopping\n`);
    for (let i = 0; i < 100 && (await stateOf(id)) !== "stopped"; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await stateOf(id)).toBe("stopped");

    // Started again, then the server stops (SIGTERM): the instance is stopped, not lost.
    expect((await amiboot("instance", "start", id)).stdout).toBe(`${id}  stopped -> pending\n`);
    for (let i = 0; i < 100 && (await stateOf(id)) !== "running"; i++) await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    await exited;
    await serve();
    const after = JSON.parse((await amiboot("instance", "show", id, "--json")).stdout);
    expect(after).toMatchObject({ State: { Name: "stopped" }, StateReason: { Code: "Server.InternalError" } });
  });

  it("says why a launch cannot happen, with EC2's codes", async () => {
    const r = await amiboot("run", "ami-00000000000000000");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("amiboot: error InvalidAMIID.NotFound: The image id '[ami-00000000000000000]' does not exist\n");
    const c = await amiboot("console", "i-nope");
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("InvalidInstanceID.Malformed");
  });
});
