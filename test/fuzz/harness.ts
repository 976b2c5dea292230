/**
 * A mutation fuzzer for the guest-facing parsers: it mutates the real sample
 * images where the readers actually read (the byte ranges a clean parse
 * touched), and menu.lst texts with GRUB's own words. A case passes when the
 * parser returns or throws a typed Ec2Error; anything else, or a case slower
 * than a second, is a finding.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseMenuLst } from "../../src/boot/menu-lst.js";
import { pvGrub } from "../../src/boot/pv-grub.js";
import { Ec2Error } from "../../src/errors.js";
import { ExtFilesystem } from "../../src/guestfs/ext.js";
import { FatFilesystem } from "../../src/guestfs/fat.js";
import type { GuestFilesystem } from "../../src/guestfs/filesystem.js";
import { readPartitionTable } from "../../src/guestfs/partitions.js";
import type { BlockDevice } from "../../src/volumes/block-device.js";

/** Deterministic randomness (mulberry32): a seed reproduces a case. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A disk in memory with a few bytes changed and maybe cut short; reads are recorded when asked. */
export class MutatedDevice implements BlockDevice {
  readonly size: number;
  reads: [number, number][] | undefined;

  constructor(
    private readonly base: Uint8Array,
    private readonly mutations = new Map<number, number>(),
    size = base.length,
  ) {
    this.size = Math.floor(size / 512) * 512;
  }

  read(offset: number, length: number): Uint8Array {
    this.reads?.push([offset, length]);
    const out = new Uint8Array(length);
    if (offset < this.size) out.set(this.base.subarray(offset, Math.min(offset + length, this.size)));
    for (const [at, byte] of this.mutations) if (at >= offset && at < offset + length && at < this.size) out[at - offset] = byte;
    return out;
  }

  write(): void {
    throw new Error("read-only");
  }
  flush(): void {}
  close(): void {}
}

export interface Target {
  name: string;
  base: Uint8Array;
  /** Runs the parser the way amiboot does. */
  run(dev: BlockDevice): void;
}

export interface FuzzReport {
  target: string;
  cases: number;
  passed: number;
  typedErrors: Record<string, number>;
  crashes: { seed: number; error: string }[];
  slow: { seed: number; ms: number }[];
  maxMs: number;
  seconds: number;
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];

/** Mutations for one case: bytes where the clean parse read, plus now and then a cut. */
function mutate(target: Target, hot: [number, number][], seed: number): MutatedDevice {
  const r = rng(seed);
  const m = new Map<number, number>();
  const n = 1 + Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const [start, len] = hot[Math.floor(r() * hot.length)]!;
    const at = start + Math.floor(r() * Math.min(len, 4096));
    const kind = r();
    if (kind < 0.4) m.set(at, Math.floor(r() * 256));
    else if (kind < 0.7) m.set(at, INTERESTING[Math.floor(r() * INTERESTING.length)]!);
    else {
      // A whole 32-bit field: sizes, block numbers and counts live in those.
      const v = [0, 0xffffffff, 0x7fffffff, 0x80000000, Math.floor(r() * 2 ** 32), 1, 2][Math.floor(r() * 7)]!;
      for (let b = 0; b < 4; b++) m.set(at + b, (v >>> (8 * b)) & 0xff);
    }
  }
  const cut = r() < 0.05 ? Math.floor(r() * target.base.length) : target.base.length;
  return new MutatedDevice(target.base, m, cut);
}

export function fuzzTarget(target: Target, cases: number, firstSeed = 1, onProgress?: (done: number) => void): FuzzReport {
  const clean = new MutatedDevice(target.base);
  clean.reads = [];
  target.run(clean);
  // Coalesce to unique ranges; each read is one place to aim at.
  const hot = [...new Map(clean.reads.map(([o, l]) => [`${o}:${l}`, [o, l] as [number, number]])).values()];
  const report: FuzzReport = { target: target.name, cases, passed: 0, typedErrors: {}, crashes: [], slow: [], maxMs: 0, seconds: 0 };
  const t0 = performance.now();
  for (let i = 0; i < cases; i++) {
    const seed = firstSeed + i;
    const dev = mutate(target, hot, seed);
    const t = performance.now();
    try {
      target.run(dev);
      report.passed++;
    } catch (err) {
      if (err instanceof Ec2Error) report.typedErrors[err.code] = (report.typedErrors[err.code] ?? 0) + 1;
      else if (report.crashes.length < 20) report.crashes.push({ seed, error: String((err as Error)?.stack ?? err).split("\n").slice(0, 3).join(" | ") });
      else report.crashes.push({ seed, error: "" });
    }
    const ms = performance.now() - t;
    report.maxMs = Math.max(report.maxMs, ms);
    if (ms > 1000) report.slow.push({ seed, ms: Math.round(ms) });
    if (onProgress && i % 1000 === 999) onProgress(i + 1);
  }
  report.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return report;
}

/** The menu.lst parser on mutated texts: GRUB's words, device names, noise. */
export function fuzzMenuLst(base: string, cases: number, firstSeed = 1): FuzzReport {
  const words = ["title", "root", "kernel", "initrd", "default", "fallback", "timeout", "hiddenmenu", "=", "(hd0)", "(hd0,", "(hd0,4)/", ")", "#", "\t", "\n", "\r\n", " ", "/boot/", "--", "99999999999999999999", "-1", "\u0000", "\u00ff"];
  const report: FuzzReport = { target: "menu.lst", cases, passed: 0, typedErrors: {}, crashes: [], slow: [], maxMs: 0, seconds: 0 };
  const t0 = performance.now();
  for (let i = 0; i < cases; i++) {
    const r = rng(firstSeed + i);
    let text = base;
    const n = 1 + Math.floor(r() * 10);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(r() * (text.length + 1));
      const kind = r();
      if (kind < 0.5) text = text.slice(0, at) + words[Math.floor(r() * words.length)] + text.slice(at);
      else if (kind < 0.7) text = text.slice(0, at) + text.slice(at + Math.floor(r() * 20));
      else if (kind < 0.9) text = text.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + text.slice(at);
      else text = text.slice(0, at) + text.slice(0, Math.floor(r() * 200)).repeat(1 + Math.floor(r() * 50)) + text.slice(at);
    }
    const t = performance.now();
    try {
      const menu = parseMenuLst(text);
      if (menu.entries.length > 256 || menu.warnings.length > 50) throw new Error("bounds exceeded");
      report.passed++;
    } catch (err) {
      report.crashes.push({ seed: firstSeed + i, error: String(err) });
    }
    const ms = performance.now() - t;
    report.maxMs = Math.max(report.maxMs, ms);
    if (ms > 1000) report.slow.push({ seed: firstSeed + i, ms });
  }
  report.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return report;
}

const PARTITION = 1024 * 1024;

/** The fuzz targets, built from the sample images (and one GPT disk made by sfdisk). */
export function targets(imagesDir: string): Target[] {
  const pv = fs.readFileSync(path.join(imagesDir, "pv-linux.img"));
  const hvm = fs.readFileSync(path.join(imagesDir, "hvm-linux.img"));
  // List the directories PV-GRUB looks in and read every file there.
  const walk = (fsys: GuestFilesystem) => {
    for (const dir of ["/", "/boot", "/boot/grub"]) {
      if (dir !== "/" && !fsys.list("/").includes("boot")) continue;
      for (const name of fsys.list(dir)) if (fsys.isFile(`${dir}/${name}`)) fsys.readFile(`${dir}/${name}`);
    }
  };
  return [
    { name: "ext4 (pv-linux.img partition)", base: pv.subarray(PARTITION), run: (d) => walk(ExtFilesystem.open(d)) },
    { name: "fat16 (hvm-linux.img partition)", base: hvm.subarray(PARTITION), run: (d) => walk(FatFilesystem.open(d)) },
    { name: "mbr + PV-GRUB shim (pv-linux.img)", base: pv, run: (d) => void pvGrub(d, "fuzz") },
    { name: "gpt (sfdisk)", base: gptDisk(), run: (d) => void readPartitionTable(d) },
  ];
}

function gptDisk(): Uint8Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-fuzz-"));
  const img = path.join(dir, "gpt.img");
  fs.writeFileSync(img, "");
  fs.truncateSync(img, 4 * 1024 * 1024);
  execFileSync("sfdisk", ["--quiet", img], { input: "label: gpt\nsize=1024, name=a\nsize=2048, name=b\nname=c\n" });
  const bytes = fs.readFileSync(img);
  fs.rmSync(dir, { recursive: true, force: true });
  return bytes;
}
