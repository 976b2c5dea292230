import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hvmPlan, planDirs } from "../../src/boot/plan.js";
import { amibootHome } from "../../src/home.js";
import { BootPool } from "../../src/pool/pool.js";
import { image, MARKER, tempDir } from "../helpers.js";

const pool = new BootPool({ maxThreads: 2 });
const dirs = planDirs(amibootHome());
const dir = tempDir();
afterAll(async () => {
  await pool.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const names = (r: { milestones: { name: string }[] }) => r.milestones.map((m) => m.name);

function expectIncreasing(r: { milestones: { atMs: number }[] }) {
  const times = r.milestones.map((m) => m.atMs);
  expect(times).toEqual([...times].sort((a, b) => a - b));
}

describe("booting real images in v86 workers", () => {
  it("boots mbr.img: the boot sector prints its line and halts", async () => {
    const r = await pool.boot(await hvmPlan(image("mbr.img"), { timeoutSeconds: 60 }, dirs)).result;
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: true, outcome: "halted", mode: "hvm", name: "mbr.img" });
    expect(r.console).toContain("amiboot mbr.img: hello from the boot sector");
    expect(names(r)).toEqual(["bios", "halted"]);
    expect(r.screen.join("\n")).toMatch(/SeaBIOS/);
  });

  it("boots hvm-linux.img to its user-space marker, milestones in order", async () => {
    const run = pool.boot(await hvmPlan(image("hvm-linux.img"), { until: MARKER, timeoutSeconds: 150 }, dirs));
    const streamed: Buffer[] = [];
    run.on("console", (b) => streamed.push(Buffer.from(b)));
    const r = await run.result;
    expect(r.error).toBeUndefined();
    expect(r.outcome).toBe("until");
    expect(names(r)).toEqual(["bios", "loader", "kernel", "init", "until"]);
    expectIncreasing(r);
    const text = Buffer.concat(streamed).toString("latin1");
    expect(text).toContain("Linux version 6.1.0");
    expect(text).toContain(MARKER);
  });

  it("takes input on the serial port: the busybox shell powers the guest off", async () => {
    const run = pool.boot(await hvmPlan(image("hvm-linux.img"), { timeoutSeconds: 150 }, dirs));
    let seen = "";
    let sent = false;
    run.on("console", (b) => {
      seen += Buffer.from(b).toString("latin1");
      // Busybox's line editor asks for the cursor position (ESC[6n) once it reads.
      if (!sent && seen.includes(MARKER) && seen.endsWith("# \x1b[6n")) {
        sent = true;
        run.send("echo shell-says-$((6*7)); poweroff -f\n");
      }
    });
    const r = await run.result;
    expect(r.error).toBeUndefined();
    expect(r.outcome).toBe("poweroff");
    expect(seen).toContain("shell-says-42");
    expect(names(r).at(-1)).toBe("poweroff");
  });

  it("runs two boots at once and both succeed", async () => {
    const plan = await hvmPlan(image("hvm-linux.img"), { until: MARKER, timeoutSeconds: 170 }, dirs);
    const runs = [pool.boot(plan), pool.boot(plan)];
    const results = await Promise.all(runs.map((r) => r.result));
    for (const r of results) expect(r).toMatchObject({ ok: true, outcome: "until" });
  });

  it("stops a boot mid-way within a second and frees its worker", async () => {
    const controller = new AbortController();
    const run = pool.boot(await hvmPlan(image("hvm-linux.img"), { until: MARKER, timeoutSeconds: 150 }, dirs), { signal: controller.signal });
    await new Promise<void>((resolve) => run.on("milestone", (m) => m.name === "loader" && resolve()));
    const t = performance.now();
    controller.abort();
    const r = await run.result;
    expect(performance.now() - t).toBeLessThan(1000);
    expect(r).toMatchObject({ ok: false, outcome: "aborted", error: { code: "BootAborted" } });
    // The pool still boots: the worker was replaced or freed.
    const next = await pool.boot(await hvmPlan(image("mbr.img"), { timeoutSeconds: 60 }, dirs)).result;
    expect(next.outcome).toBe("halted");
  });

  it("ends a boot that takes too long, with the last console lines in the error", async () => {
    const r = await pool.boot(await hvmPlan(image("hvm-linux.img"), { until: "this text never appears", timeoutSeconds: 2 }, dirs)).result;
    expect(r.outcome).toBe("timeout");
    expect(r.error?.code).toBe("BootTimeout");
    expect(r.error?.message).toMatch(/did not show 'this text never appears' within 2 s; last console lines: .*SYSLINUX/);
    expect(r.elapsedMs).toBeLessThan(10_000);
  });

  it("refuses an x86_64 kernel with an error naming the architecture", async () => {
    const r = await pool.boot(await hvmPlan(image("hvm-x86_64.img"), { timeoutSeconds: 60 }, dirs)).result;
    expect(r.outcome).toBe("error");
    expect(r.error?.code).toBe("UnsupportedOperation");
    expect(r.error?.message).toMatch(/x86-64 CPU.*32-bit i686 CPU without long mode/);
  });

  it("a worker that crashes fails only its own boot", async () => {
    const copy = path.join(dir, "vanishing.img");
    fs.copyFileSync(image("hvm-linux.img"), copy);
    const doomed = pool.boot(await hvmPlan(copy, { until: MARKER, timeoutSeconds: 150 }, dirs));
    const healthy = pool.boot(await hvmPlan(image("mbr.img"), { timeoutSeconds: 60 }, dirs));
    // Cut the disk away while the boot loader is reading the kernel from it.
    doomed.once("milestone", () => fs.truncateSync(copy, 1024 * 1024));
    const [bad, good] = await Promise.all([doomed.result, healthy.result]);
    expect(bad.outcome).toBe("error");
    expect(bad.error?.code).toBe("WorkerCrashed");
    expect(bad.error?.message).toMatch(/truncated while in use/);
    expect(good.outcome).toBe("halted");
  });
});
