import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bootPlan, planDirs, type BootPlan } from "../../src/boot/plan.js";
import { amibootHome } from "../../src/home.js";
import { BootPool, type BootRun } from "../../src/pool/pool.js";
import { image, MARKER, tempDir } from "../helpers.js";

// Warm launches on machines prepared ahead of them (BootPool's standbyMachines).
const dirs = planDirs(amibootHome());
const dir = tempDir();
const pools: BootPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function newPool(options: ConstructorParameters<typeof BootPool>[0]): BootPool {
  const pool = new BootPool(options);
  pools.push(pool);
  return pool;
}

/** Boots hvm-linux.img cold to its marker, saving its state in `file`; resolves once the state is on disk. */
async function capture(pool: BootPool, file: string): Promise<BootPlan> {
  const plan = await bootPlan(image("hvm-linux.img"), "hvm", { until: MARKER, timeoutSeconds: 170 }, [], dirs);
  const run = pool.boot({ ...plan, captureState: file });
  const saved = new Promise<string>((resolve) => run.once("state-saved", (s) => resolve(s.path)));
  expect((await run.result).outcome).toBe("until");
  expect(await saved).toBe(file);
  return plan;
}

async function until(check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

function consoleOf(run: BootRun): () => string {
  let text = "";
  run.on("console", (b) => (text += Buffer.from(b).toString("latin1")));
  return () => text;
}

describe("warm launches on prepared machines", () => {
  it("prepares a machine once the state is saved; the next launch of that state runs on it, with its own disk", async () => {
    const pool = newPool({ maxThreads: 2, standbyMachines: 1 });
    const file = path.join(dir, "hvm.v86state");
    const plan = await capture(pool, file);
    // Prepared as the state was saved; ready (restored, waiting) a moment later.
    expect(pool.standbyStates()).toEqual([file]);
    await pool.standbysReady();

    const run = pool.boot({ ...plan, restoreState: file, keepRunning: true, until: MARKER });
    // Taken by the launch: none left until this one has reached its marker, then one again for the next launch.
    expect(pool.standbyStates()).toEqual([]);
    const text = consoleOf(run);
    const until0 = await new Promise<{ text: string }>((resolve) => run.on("milestone", (m) => m.name === "until" && resolve(m)));
    expect(until0.text).toBe(`restored from ${file} ahead of the launch`);
    // The guest carries on from its marker: its init probes the disks anew, through the disk the launch attached.
    await until(() => text().includes("AMIBOOT-DISKS-READY"));
    await until(() => text().endsWith("# \x1b[6n") || /# $/.test(text()));
    run.send("echo standby-says-$((6*7)); poweroff -f\n");
    const r = await run.result;
    expect(r.error).toBeUndefined();
    expect(r.outcome).toBe("poweroff");
    expect(text()).toContain("standby-says-42");
    expect(text()).not.toContain("Linux version");
    await until(() => pool.standbyStates().length === 1);
  });

  it("gives a standby's thread to a boot that needs it, and drops a standby no launch takes", async () => {
    const pool = newPool({ maxThreads: 2, standbyMachines: 1, standbyIdleMs: 3000 });
    const file = path.join(dir, "yield.v86state");
    await capture(pool, file);
    await until(() => pool.standbyStates().length === 1);
    // Two boots at once on two threads: the standby gives its thread up for the second.
    const mbr = await bootPlan(image("mbr.img"), "hvm", { timeoutSeconds: 60 }, [], dirs);
    const results = await Promise.all([pool.boot(mbr).result, pool.boot(mbr).result]);
    expect(results.map((r) => r.outcome)).toEqual(["halted", "halted"]);
    expect(pool.standbyStates()).toEqual([]);

    // Prepared again by a warm launch; left unused, it goes after its idle time.
    const warm = await pool.boot({ ...(await bootPlan(image("hvm-linux.img"), "hvm", { until: MARKER, timeoutSeconds: 60 }, [], dirs)), restoreState: file }).result;
    expect(warm.outcome).toBe("until");
    await until(() => pool.standbyStates().length === 1);
    await until(() => pool.standbyStates().length === 0, 10_000);
  });

  it("ends a launch on a prepared machine by a stop sent right after it", async () => {
    const pool = newPool({ maxThreads: 2, standbyMachines: 1 });
    const file = path.join(dir, "early.v86state");
    const plan = await capture(pool, file);
    // Taken at once (its restore may not be done yet); the stop is the first message after the launch.
    const run = pool.boot({ ...plan, restoreState: file, keepRunning: true });
    run.stop();
    const t = performance.now();
    const r = await run.result;
    expect(r.outcome).toBe("stopped");
    expect(performance.now() - t).toBeLessThan(10_000);
    // The pool goes on: the next launch of the state restores it from the file.
    const next = pool.boot({ ...plan, restoreState: file, until: MARKER });
    expect((await next.result).outcome).toBe("until");
  });

  it("a state that does not restore fails its own launch only, and leaves no standby", async () => {
    const pool = newPool({ maxThreads: 2, standbyMachines: 1 });
    const bad = path.join(dir, "bad.v86state");
    fs.writeFileSync(bad, Buffer.alloc(4096, 7));
    const plan = await bootPlan(image("hvm-linux.img"), "hvm", { until: MARKER, timeoutSeconds: 60 }, [], dirs);
    const r = await pool.boot({ ...plan, restoreState: bad }).result;
    expect(r.ok).toBe(false);
    expect(pool.standbyStates()).toEqual([]);
    const next = await pool.boot(await bootPlan(image("mbr.img"), "hvm", { timeoutSeconds: 60 }, [], dirs)).result;
    expect(next.outcome).toBe("halted");
  });
});
