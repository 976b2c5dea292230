/**
 * Cold-boot benchmark: time from process start to the guest's user-space
 * marker, for amiboot (with and without the V8 flags it adopts) and, when
 * installed, QEMU TCG on the same disk. Runs are interleaved so drift hits
 * every case alike; every process's console goes through the same BootTimer.
 *
 *   npm run bench:boot -- [--runs N] [--warmup N] [--image FILE] [--no-qemu]
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BootTimer, type Milestone } from "../src/boot/timer.js";
import { ConsoleLines } from "../src/boot/console-lines.js";
import { summary } from "./stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MARKER = "AMIBOOT-USERSPACE-READY";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    image: { type: "string", default: path.join(ROOT, "images/build/hvm-linux.img") },
    "no-qemu": { type: "boolean", default: false },
    out: { type: "string", default: path.join(ROOT, "bench/results") },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const image = path.resolve(values.image!);

interface Case {
  name: string;
  command: string[];
}

const amiboot = (flags: string[]): string[] => [process.execPath, ...flags, path.join(ROOT, "bin/amiboot.js"), "boot", image, "--until", MARKER, "--timeout", "300"];
const cases: Case[] = [
  { name: "amiboot", command: amiboot(["--v8-pool-size=1"]) },
  { name: "amiboot (default V8 flags)", command: amiboot([]) },
];
const qemu = spawnSync("qemu-system-i386", ["--version"], { encoding: "utf8" });
if (!values["no-qemu"] && qemu.status === 0) {
  cases.push({
    name: "qemu-tcg",
    command: ["qemu-system-i386", "-accel", "tcg", "-m", "128", "-nographic", "-no-reboot", "-drive", `file=${image},format=raw,snapshot=on`],
  });
} else if (!values["no-qemu"]) {
  console.error("bench: qemu-system-i386 not found (apt-get install qemu-system-x86); measuring amiboot alone");
}

interface Sample {
  case: string;
  run: number;
  markerMs: number;
  milestones: Milestone[];
}

/** Starts the command, ends it when the marker shows; times since spawn. */
function measure(c: Case, timeoutMs = 300_000): Promise<{ markerMs: number; milestones: Milestone[] }> {
  return new Promise((resolve, reject) => {
    const timer = new BootTimer(MARKER);
    const lines = new ConsoleLines();
    const child = spawn(c.command[0]!, c.command.slice(1), { stdio: ["pipe", "pipe", "ignore"] });
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let done = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (done) return;
      for (const b of chunk) {
        const line = lines.pushByte(b);
        const hit = line !== undefined ? timer.line(line) : [timer.partial(lines.current)].filter((m) => m !== undefined);
        if (hit.some((m) => m.name === "until")) {
          done = true;
          resolve({ markerMs: timer.elapsedMs(), milestones: timer.milestones });
          child.kill("SIGKILL");
          return;
        }
      }
    });
    child.on("exit", () => {
      clearTimeout(kill);
      if (!done) reject(new Error(`${c.name} ended without showing ${MARKER}; last lines: ${lines.tail(3).join(" / ")}`));
    });
  });
}

const samples: Sample[] = [];
for (let r = -warmup; r < runs; r++) {
  for (const c of cases) {
    const m = await measure(c);
    const tag = r < 0 ? "warm-up" : `run ${r + 1}/${runs}`;
    console.error(`bench: ${tag} ${c.name}: ${(m.markerMs / 1000).toFixed(2)} s`);
    if (r >= 0) samples.push({ case: c.name, run: r, ...m });
  }
}

const MILESTONES = ["loader", "kernel", "init", "until"] as const;
const rows = cases.map((c) => {
  const mine = samples.filter((s) => s.case === c.name);
  const marker = summary(mine.map((s) => s.markerMs));
  const perMilestone = Object.fromEntries(
    MILESTONES.map((name) => [name, summary(mine.map((s) => s.milestones.find((m) => m.name === name)?.atMs ?? Number.NaN)).median]),
  );
  return { case: c.name, marker, perMilestone };
});

const s = (ms: number) => (ms / 1000).toFixed(2);
console.log(`\nCold boot of ${path.basename(image)} to '${MARKER}' (${runs} runs after ${warmup} warm-up; seconds from process start)\n`);
console.log(["case".padEnd(28), "min", "median", "max", ...MILESTONES.map((m) => `${m}~`)].map((h, i) => (i ? h.padStart(8) : h)).join(""));
for (const r of rows) {
  console.log([r.case.padEnd(28), s(r.marker.min), s(r.marker.median), s(r.marker.max), ...MILESTONES.map((m) => s(r.perMilestone[m]!))].map((v, i) => (i ? v.padStart(8) : v)).join(""));
}
console.log("(~ = median time of each milestone)");

const ratios: Record<string, { median: number; pairs: number[] }> = {};
const peer = rows.find((r) => r.case === "qemu-tcg");
if (peer) {
  for (const r of rows.filter((r) => r !== peer)) {
    // Pair run i of each case: the runs were interleaved, so pairs saw the same machine state.
    const pairs = samples
      .filter((x) => x.case === r.case)
      .map((x) => x.markerMs / samples.find((q) => q.case === peer.case && q.run === x.run)!.markerMs);
    ratios[r.case] = { median: r.marker.median / peer.marker.median, pairs };
    console.log(`ratio ${r.case} / qemu-tcg: ${(r.marker.median / peer.marker.median).toFixed(2)} (per run: ${pairs.map((p) => p.toFixed(2)).join(", ")})`);
  }
}

fs.mkdirSync(values.out!, { recursive: true });
const file = path.join(values.out!, `boot-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
const machine = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, loadavg: os.loadavg(), qemu: qemu.stdout?.split("\n")[0] };
fs.writeFileSync(file, JSON.stringify({ image, marker: MARKER, runs, warmup, machine, rows, ratios, samples }, null, 2));
console.log(`\nsamples: ${path.relative(process.cwd(), file)}`);
