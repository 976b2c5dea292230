import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConsoleLines } from "../boot/console-lines.js";
import { pvGrub } from "../boot/pv-grub.js";
import { BootTimer } from "../boot/timer.js";
import { memoryOf } from "../cloud/instance-types.js";
import { Ec2Error } from "../errors.js";
import { RawFileDevice } from "../volumes/raw-file.js";
import type { BenchCase, BenchSample } from "./results.js";
import type { Runner } from "./runner.js";
import type { SuiteOptions } from "./suite-options.js";

const OP = "benchmark.bench";

/** The first line of `qemu-system-i386 --version`, or undefined when QEMU is not installed. */
export function qemuVersion(): string | undefined {
  const r = spawnSync("qemu-system-i386", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n")[0] : undefined;
}

/** Whether QEMU is installed; when not, says so once per call (its cases are left out). */
export function qemuFound(o: Pick<SuiteOptions, "log">): boolean {
  if (qemuVersion()) return true;
  o.log("bench: qemu-system-i386 not found (apt-get install qemu-system-x86): no QEMU cases");
  return false;
}

/** QEMU TCG on the same disk (HVM), or QEMU's direct boot of the kernel and initrd the shim picks (PV); undefined when QEMU is missing. */
export function qemuRunner(o: SuiteOptions, file: string, mode: "hvm" | "pv", id: string): Runner | undefined {
  if (!qemuFound(o)) return undefined;
  // The guest memory of the instance type the amiboot cases launch.
  const base = ["-accel", "tcg", "-m", String(memoryOf(o.instanceType, OP)), "-nographic", "-no-reboot"];
  let args: string[];
  if (mode === "hvm") args = [...base, "-drive", `file=${file},format=raw,snapshot=on`];
  else {
    const dev = new RawFileDevice(file);
    let choice;
    try {
      choice = pvGrub(dev, path.basename(file));
    } finally {
      dev.close();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-bench-qemu-"));
    fs.writeFileSync(path.join(dir, "vmlinuz"), choice.kernel);
    if (choice.initrd) fs.writeFileSync(path.join(dir, "initrd"), choice.initrd);
    args = [...base, "-kernel", path.join(dir, "vmlinuz"), ...(choice.initrd ? ["-initrd", path.join(dir, "initrd")] : []), "-append", choice.cmdline, "-drive", `file=${file},format=raw,snapshot=on`];
  }
  const c: BenchCase = { id, label: `${path.basename(file)}: ${mode.toUpperCase()}, QEMU TCG`, engine: "qemu", params: { image: path.basename(file), mode, engine: "qemu-tcg" }, samples: [] };
  return { case: c, measure: () => measureProcess("qemu-system-i386", args, o.marker, o.timeoutSeconds * 1000) };
}

/**
 * `amiboot boot` in a fresh process per run, timed from spawn as QEMU is: a
 * cold start including Node's own, with the V8 flag bin/amiboot.js sets. For
 * PV also with --guest-decompress (the guest unpacks its kernel, as real
 * PV-GRUB leaves it). Needs the build (bin/amiboot.js runs dist/).
 */
export function amibootProcessRunners(o: SuiteOptions, file: string, mode: "hvm" | "pv", idPrefix: string): Runner[] {
  const bin = path.join(packageRoot(), "bin", "amiboot.js");
  const variants = mode === "pv" ? [false, true] : [false];
  return variants.map((guestDecompress) => {
    const args = ["--v8-pool-size=1", bin, "boot", file, "--mode", mode, ...(o.marker ? ["--until", o.marker] : []), "--timeout", String(o.timeoutSeconds), ...(guestDecompress ? ["--guest-decompress"] : [])];
    const c: BenchCase = {
      id: `${idPrefix}${guestDecompress ? "-guest-decompress" : ""}`,
      label: `${path.basename(file)}: ${mode.toUpperCase()}, amiboot boot process${guestDecompress ? " --guest-decompress" : ""}`,
      engine: "amiboot",
      params: { image: path.basename(file), mode, engine: "amiboot-boot-process", guestDecompress },
      samples: [],
    };
    // A little longer than the boot's own --timeout, so that the child reports its timeout itself.
    return { case: c, measure: () => measureProcess(process.execPath, args, o.marker, o.timeoutSeconds * 1000 + 10_000) };
  });
}

/**
 * Starts a process, reads its serial console on stdout and times from spawn:
 * to the marker (then the process is killed), or without a marker ("") to
 * the process ending by itself with status 0 (the guest powered off).
 */
export function measureProcess(command: string, args: string[], marker: string, timeoutMs = 300_000): Promise<BenchSample> {
  return new Promise((resolve, reject) => {
    const timer = new BootTimer(marker || undefined);
    const lines = new ConsoleLines();
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "ignore"] });
    const milestones = () => Object.fromEntries(timer.milestones.map((m) => [m.name, Math.round(m.atMs)]));
    let timedOut = false;
    const kill = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    let done = false;
    child.on("error", (err) => {
      clearTimeout(kill);
      done = true;
      reject(new Ec2Error("BootFailed", `${command} did not start: ${err.message}`, OP));
    });
    child.stdout.on("data", (chunk: Buffer) => {
      if (done) return;
      for (const b of chunk) {
        const line = lines.pushByte(b);
        const hit = line !== undefined ? timer.line(line) : [timer.partial(lines.current)].filter((m) => m !== undefined);
        const until = marker ? hit.find((m) => m.name === "until") : undefined;
        if (until) {
          done = true;
          child.kill("SIGKILL");
          resolve({ totalMs: Math.round(until.atMs), milestones: milestones(), boots: 1 });
          return;
        }
      }
    });
    child.on("exit", (status) => {
      clearTimeout(kill);
      if (done) return;
      done = true;
      const goal = marker ? `the marker '${marker}'` : "a power-off";
      const tail = lines.tail(3).join(" / ");
      if (timedOut) reject(new Ec2Error("BootTimeout", `${command}: ${marker ? `'${marker}' not seen` : "no power-off"} within ${timeoutMs / 1000} s; last lines: ${tail}`, OP));
      else if (!marker && status === 0) resolve({ totalMs: Math.round(timer.elapsedMs()), milestones: milestones(), boots: 1 });
      else reject(new Ec2Error("BootFailed", `${command} ended (status ${status}) without ${goal}; last lines: ${tail}`, OP));
    });
  });
}

/** The checkout: dist/src/benchmark/ when built, src/benchmark/ under the test runner. */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = ["../../..", "../.."].map((p) => path.resolve(here, p)).find((dir) => {
    const file = path.join(dir, "package.json");
    return fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string }).name === "amiboot";
  });
  if (!root) throw new Ec2Error("InternalError", `amiboot's package.json is not above ${here}`, OP);
  return root;
}
