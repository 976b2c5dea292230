/**
 * Cold-boot benchmark: time from process start to the guest's user-space
 * marker. HVM: amiboot (with and without the V8 flag it adopts) and QEMU TCG
 * on the same disk. PV: amiboot's PV-GRUB shim on pv-linux.img and QEMU's
 * direct kernel boot of the same kernel, initrd and command line. Runs are
 * interleaved so drift hits every case alike; every process's console goes
 * through the same BootTimer.
 *
 *   npm run bench:boot -- [--runs N] [--warmup N] [--modes hvm,pv] [--no-qemu]
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Milestone } from "../src/boot/timer.js";
import { measureProcess } from "../src/benchmark/suite.js";
import { summary } from "./stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MARKER = "AMIBOOT-USERSPACE-READY";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    modes: { type: "string", default: "hvm,pv" },
    "no-qemu": { type: "boolean", default: false },
    out: { type: "string", default: path.join(ROOT, "bench/results") },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const modes = values.modes!.split(",");
const IMAGES = path.join(ROOT, "images/build");
const hvmImage = path.join(IMAGES, "hvm-linux.img");
const pvImage = path.join(IMAGES, "pv-linux.img");

interface Case {
  name: string;
  command: string[];
  /** The case this one is compared with: QEMU on the same guest. */
  peer?: string;
}

const amiboot = (image: string, flags: string[], mode = "hvm"): string[] => [
  process.execPath, ...flags, path.join(ROOT, "bin/amiboot.js"), "boot", image, "--mode", mode, "--until", MARKER, "--timeout", "300",
];
const qemu = spawnSync("qemu-system-i386", ["--version"], { encoding: "utf8" });
const withQemu = !values["no-qemu"] && qemu.status === 0;
if (!values["no-qemu"] && !withQemu) console.error("bench: qemu-system-i386 not found (apt-get install qemu-system-x86); measuring amiboot alone");
const QEMU = ["qemu-system-i386", "-accel", "tcg", "-m", "128", "-nographic", "-no-reboot"];
const cases: Case[] = [];
if (modes.includes("hvm")) {
  cases.push({ name: "hvm amiboot", command: amiboot(hvmImage, ["--v8-pool-size=1"]), peer: "hvm qemu-tcg" });
  cases.push({ name: "hvm amiboot (default V8 flags)", command: amiboot(hvmImage, []), peer: "hvm qemu-tcg" });
  if (withQemu) cases.push({ name: "hvm qemu-tcg", command: [...QEMU, "-drive", `file=${hvmImage},format=raw,snapshot=on`] });
}
if (modes.includes("pv")) {
  cases.push({ name: "pv amiboot", command: amiboot(pvImage, ["--v8-pool-size=1"], "pv"), peer: "pv qemu-tcg -kernel" });
  // The same boot with the guest decompressing its own kernel, as real PV-GRUB leaves it.
  cases.push({ name: "pv amiboot --guest-decompress", command: [...amiboot(pvImage, ["--v8-pool-size=1"], "pv"), "--guest-decompress"], peer: "pv qemu-tcg -kernel" });
  if (withQemu) {
    // QEMU's PV peer boots what the shim boots: the same kernel, initrd and command line.
    const cmdline = JSON.parse(fs.readFileSync(path.join(IMAGES, "provenance.json"), "utf8")).cmdline as string;
    cases.push({
      name: "pv qemu-tcg -kernel",
      command: [...QEMU, "-kernel", path.join(IMAGES, "vmlinuz-i386"), "-initrd", path.join(IMAGES, "initrd.img"), "-append", `root=/dev/xvda1 ${cmdline}`, "-drive", `file=${pvImage},format=raw,snapshot=on`],
    });
  }
}

interface Sample {
  case: string;
  run: number;
  markerMs: number;
  milestones: Milestone[];
}

/** Runs the case's command to the marker (the suite's process timer); times since spawn. */
async function measure(c: Case): Promise<{ markerMs: number; milestones: Milestone[] }> {
  const s = await measureProcess(c.command[0]!, c.command.slice(1), MARKER);
  return { markerMs: s.totalMs, milestones: Object.entries(s.milestones).map(([name, atMs]) => ({ name: name as Milestone["name"], atMs, text: "" })) };
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
console.log(`\nCold boot to '${MARKER}' (${runs} runs after ${warmup} warm-up; seconds from process start)\n`);
console.log(["case".padEnd(32), "min", "median", "max", ...MILESTONES.map((m) => `${m}~`)].map((h, i) => (i ? h.padStart(8) : h)).join(""));
for (const r of rows) {
  console.log([r.case.padEnd(32), s(r.marker.min), s(r.marker.median), s(r.marker.max), ...MILESTONES.map((m) => s(r.perMilestone[m]!))].map((v, i) => (i ? v.padStart(8) : v)).join(""));
}
console.log("(~ = median time of each milestone)");

const ratios: Record<string, { peer: string; median: number; pairs: number[] }> = {};
for (const c of cases.filter((c) => c.peer && rows.some((r) => r.case === c.peer))) {
  const mine = rows.find((r) => r.case === c.name)!;
  const peer = rows.find((r) => r.case === c.peer)!;
  // Pair run i of each case: the runs were interleaved, so pairs saw the same machine state.
  const pairs = samples.filter((x) => x.case === c.name).map((x) => x.markerMs / samples.find((q) => q.case === c.peer && q.run === x.run)!.markerMs);
  ratios[c.name] = { peer: c.peer!, median: mine.marker.median / peer.marker.median, pairs };
  console.log(`ratio ${c.name} / ${c.peer}: ${ratios[c.name]!.median.toFixed(2)} (per run: ${pairs.map((p) => p.toFixed(2)).join(", ")})`);
}

fs.mkdirSync(values.out!, { recursive: true });
const file = path.join(values.out!, `boot-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
const machine = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, loadavg: os.loadavg(), qemu: qemu.stdout?.split("\n")[0] };
fs.writeFileSync(file, JSON.stringify({ marker: MARKER, runs, warmup, machine, rows, ratios, samples }, null, 2));
console.log(`\nsamples: ${path.relative(process.cwd(), file)}`);
