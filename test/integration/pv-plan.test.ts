import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diskPlan, planDirs, pvPlan, type DiskSpec } from "../../src/boot/plan.js";
import { pvKernel } from "../../src/boot/pv-kernel.js";
import { planPvKernel } from "../../src/pool/planner.js";
import { image, ROOT, tempDir } from "../helpers.js";

// No VM boots here: these are the PV plans a launch makes before its VM starts.
const home = tempDir();
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

const pv = image("pv-linux.img");
const rootDisk = (file: string): DiskSpec => ({ kind: "raw-file", path: file, size: fs.statSync(file).size });

/** Runs `work` while a 10 ms interval ticks on this thread; the longest gap between ticks is how long the thread was blocked. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ value: T; stallMs: number; ms: number }> {
  let last = performance.now();
  let stallMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 10);
  const t0 = performance.now();
  try {
    // A first tick before the work starts, so that a block at its very start is measured too.
    await new Promise((r) => setTimeout(r, 30));
    last = performance.now();
    const value = await work();
    const ms = performance.now() - t0 - 30;
    stallMs = Math.max(stallMs, performance.now() - last);
    return { value, stallMs: Math.round(stallMs), ms: Math.round(ms) };
  } finally {
    clearInterval(tick);
  }
}

describe("PV boot planning stays off the caller's thread", () => {
  it("the calling thread keeps ticking while a PV plan reads the disk and unpacks; the second plan hits the cache", async () => {
    const dirs = planDirs(path.join(home, "a"));
    const first = await longestStall(() => diskPlan("pv-linux", [rootDisk(pv)], "pv", { memoryMiB: 256 }, {}, dirs));
    const second = await longestStall(() => diskPlan("pv-linux", [rootDisk(pv)], "pv", { memoryMiB: 256 }, {}, dirs));
    console.log(`PV plan of pv-linux.img: first ${first.ms} ms (longest stall ${first.stallMs} ms), second ${second.ms} ms (longest stall ${second.stallMs} ms)`);

    expect(first.stallMs).toBeLessThan(100);
    expect(second.stallMs).toBeLessThan(100);
    const [a, b] = [first.value.pv!, second.value.pv!];
    expect(a.notes).toEqual([expect.stringMatching(/^kernel unpacked on the host \(xz, 15\.\d MiB vmlinux, \d+ ms\)$/), expect.stringMatching(/^initrd unpacked on the host \(gzip, \d+\.\d -> \d+\.\d MiB, \d+ ms\)$/)]);
    expect(b.notes).toEqual([expect.stringMatching(/^kernel unpacked on the host \(xz, 15\.\d MiB vmlinux, cached\)$/), expect.stringMatching(/^initrd unpacked on the host \(gzip, \d+\.\d -> \d+\.\d MiB, cached\)$/)]);
    expect(Buffer.from(b.kernel).equals(Buffer.from(a.kernel))).toBe(true);
    expect(Buffer.from(b.initrd!).equals(Buffer.from(a.initrd!))).toBe(true);
    expect(fs.readdirSync(path.join(dirs.cacheDir, "kernels")).length).toBe(2);
    expect(fs.readdirSync(path.join(dirs.cacheDir, "initrds")).length).toBe(2);
  });

  it("the same work on the calling thread would stall it (what the measure above would catch)", async () => {
    const task = { disk: rootDisk(pv), name: "pv-linux", memoryMiB: 256, guestDecompress: false, cacheDir: path.join(home, "b") };
    const inline = await longestStall(async () => pvKernel(task));
    console.log(`the same PV plan on the calling thread: ${inline.ms} ms, longest stall ${inline.stallMs} ms`);
    expect(inline.stallMs).toBeGreaterThan(100);
  });

  it("errors keep their codes and messages across the thread", async () => {
    const dirs = planDirs(path.join(home, "c"));
    const hvm = rootDisk(image("hvm-linux.img"));
    const task = { disk: hvm, name: "hvm-linux.img", memoryMiB: 256, guestDecompress: false, cacheDir: dirs.cacheDir };
    let inThread: unknown;
    try {
      pvKernel(task);
    } catch (err) {
      inThread = err;
    }
    const worker = await diskPlan("hvm-linux.img", [hvm], "pv", { memoryMiB: 256 }, {}, dirs).catch((e: unknown) => e);
    expect(worker).toMatchObject({ name: "Ec2Error", code: "PvGrub.MenuNotFound", op: "boot.findMenu" });
    expect(worker).toEqual(inThread);
    expect((worker as Error).message).toBe((inThread as Error).message);
    await expect(pvPlan(pv, { memoryMiB: 64 }, dirs)).rejects.toMatchObject({ code: "InvalidParameterValue", message: expect.stringMatching(/^a PV boot with a \d+\.\d MiB initrd needs more than \d+ MiB of memory/) });
  });

  it("a plan over its time limit ends the worker with InvalidDiskImage.Timeout, and the next plan runs", async () => {
    const cacheDir = path.join(home, "d");
    const task = { disk: rootDisk(pv), name: "pv-linux.img", memoryMiB: 256, guestDecompress: false, cacheDir };
    await expect(planPvKernel(task, { timeLimitMs: 5 })).rejects.toMatchObject({
      code: "InvalidDiskImage.Timeout",
      message: "PV-GRUB's reading of 'pv-linux.img' (menu.lst, kernel, initrd) took more than 0.005 s; the disk is damaged or built to hang its reader",
    });
    expect((await planPvKernel(task)).entry.index).toBe(0);
  });

  it("an idle planner keeps no process alive", async () => {
    const script = `import { pvPlan, planDirs } from ${JSON.stringify(path.join(ROOT, "dist/src/boot/plan.js"))};
      const p = await pvPlan(${JSON.stringify(pv)}, {}, planDirs(${JSON.stringify(path.join(home, "e"))}));
      console.log(p.pv.entry.index);`;
    const t0 = performance.now();
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(out.trim()).toBe("0");
    // The worker's idle timeout is 10 s: exiting well before it means the idle thread did not hold the process.
    expect(performance.now() - t0).toBeLessThan(8_000);
  });
});
