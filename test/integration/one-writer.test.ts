import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli, serveProcess, tempDir } from "../helpers.js";

/**
 * While `amiboot serve` runs, it is the only writer of its data directory:
 * a second server and the local commands that would write beside it refuse,
 * naming the server; once it stops, they work again.
 */
const dir = tempDir();
const home = path.join(dir, "home");
const env = { ...process.env, AMIBOOT_HOME: home };
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const amiboot = (...args: string[]) => runCli(args, { env, nodeFlags: [] });

describe("one writer: the running server owns its data directory", () => {
  it("refuses a second server and the local writing commands while it runs, and allows them after", async () => {
    const { server, endpoint } = await serveProcess(env);
    try {
      const second = await amiboot("serve", "--port", "0");
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`amiboot: error ResourceBusy: another amiboot server (pid ${server.pid}, ${endpoint}) already serves ${home}`);

      for (const args of [["volume", "create", "--size", "1"], ["volume", "delete", "vol-0123456789abcdef0"], ["volume", "snapshot", "vol-0123456789abcdef0"], ["account", "create"]]) {
        const r = await amiboot(...args);
        expect(r.code, args.join(" ")).toBe(1);
        expect(r.stderr, args.join(" ")).toMatch(new RegExp(`^amiboot: error ResourceBusy: 'amiboot ${args[0]} ${args[1]}' changes ${home} directly, which the running amiboot server \\(pid ${server.pid}, ${endpoint.replace(/[.]/g, "\\.")}\\) owns; `));
      }
      // Booting an EBS volume writes to it: refused too, before anything is opened.
      const boot = await amiboot("boot", "vol-0123456789abcdef0");
      expect(boot.code).toBe(1);
      expect(boot.stderr).toContain(`ResourceBusy: 'amiboot boot vol-…' changes ${home} directly, which the running amiboot server (pid ${server.pid}, ${endpoint}) owns; `);
      // Reading is allowed.
      expect((await amiboot("volume", "list", "--json")).code).toBe(0);
    } finally {
      const stopped = new Promise((resolve) => server.once("exit", resolve));
      server.kill();
      await stopped;
    }

    // The lock went with the server.
    expect(fs.existsSync(path.join(home, "server.json"))).toBe(false);
    const vol = await amiboot("volume", "create", "--size", "1", "--json");
    expect(vol.code).toBe(0);
    expect(JSON.parse(vol.stdout).id).toMatch(/^vol-[0-9a-f]{17}$/);
    const account = await amiboot("account", "create", "--json");
    expect(account.code).toBe(0);
    expect(JSON.parse(account.stdout).accountId).toMatch(/^\d{12}$/);
  });

  it("takes over the lock of a server that was killed", async () => {
    const first = await serveProcess(env);
    const killed = new Promise((resolve) => first.server.once("exit", resolve));
    first.server.kill("SIGKILL");
    await killed;
    // The dead server's lock is still there, and taken over by the next one.
    expect(JSON.parse(fs.readFileSync(path.join(home, "server.json"), "utf8")).pid).toBe(first.server.pid);
    const next = await serveProcess(env);
    try {
      expect(JSON.parse(fs.readFileSync(path.join(home, "server.json"), "utf8"))).toMatchObject({ pid: next.server.pid, url: next.endpoint });
    } finally {
      const stopped = new Promise((resolve) => next.server.once("exit", resolve));
      next.server.kill();
      await stopped;
    }
  });
});
