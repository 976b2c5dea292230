/**
 * Volume-layer benchmark: each figure is a ratio from one run on this
 * machine, against a physical limit or the layer's own other path.
 *
 *   npm run bench:volumes -- [--size-mib 1024] [--big-gib 16]
 *
 * 1. import of an image / sha256sum of the same file (throughput)
 * 2. incremental snapshot after changing 1% of blocks / full import
 * 3. time to first read: volume from a big snapshot / from a small one
 * 4. sequential read through an EBS volume / plain file read (benchmark.js)
 * 5. time to open the root disk: instance-store bundle (unbundle + verify) vs EBS volume, by size
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Benchmark from "benchmark";
import { textTable } from "../src/text-table.js";
import { createBundle, unbundle } from "../src/volumes/bundle.js";
import { CHUNK_SIZE } from "../src/volumes/chunk-store.js";
import { EbsVolume } from "../src/volumes/ebs-volume.js";
import { InstanceStoreVolume } from "../src/volumes/instance-store.js";
import { VolumeStore } from "../src/volumes/store.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const { values } = parseArgs({ options: { "size-mib": { type: "string", default: "1024" }, "big-gib": { type: "string", default: "16" } } });
const sizeMiB = Number(values["size-mib"]);
const bigGiB = Number(values["big-gib"]);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-bench-volumes-"));
const MiB = 1024 * 1024;

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const r = fn();
  return [r, performance.now() - t];
}

/** A file of `mib` MiB of incompressible data (what a real image's used blocks look like to a hash). */
function randomImage(file: string, mib: number): void {
  const fd = fs.openSync(file, "w");
  const block = randomBytes(MiB);
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 0); // distinct blocks: nothing dedups
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
}

/**
 * An image of `gib` GiB with no zero block (a full block map), built from 64
 * distinct blocks so that the store keeps it in 32 MiB.
 */
function denseImage(file: string, gib: number): void {
  const fd = fs.openSync(file, "w");
  const patterns = Array.from({ length: 64 }, () => randomBytes(CHUNK_SIZE));
  const blocks = (gib * 1024 * MiB) / CHUNK_SIZE;
  for (let i = 0; i < blocks; i++) fs.writeSync(fd, patterns[i % 64]!);
  fs.closeSync(fd);
}

const figures: { figure: string; value: number; goal: string; detail: string }[] = [];
const store = new VolumeStore(path.join(work, "home"));

// 1. Import throughput against sha256sum.
const image = path.join(work, "image.img");
randomImage(image, sizeMiB);
execFileSync("sha256sum", [image]); // page cache warm for both
const [, shaMs] = time(() => execFileSync("sha256sum", [image]));
const [snap, importMs] = time(() => store.importSnapshot(image));
figures.push({
  figure: `import ${sizeMiB} MiB, throughput / sha256sum`,
  value: shaMs / importMs,
  goal: ">= 0.8",
  detail: `import ${(sizeMiB / (importMs / 1000)).toFixed(0)} MiB/s, sha256sum ${(sizeMiB / (shaMs / 1000)).toFixed(0)} MiB/s`,
});

// 2. Incremental snapshot after changing 1% of the blocks.
const vol = EbsVolume.open(store.home, store.createVolume({ snapshotId: snap.id }).id);
const blocks = Math.ceil((sizeMiB * MiB) / CHUNK_SIZE);
for (let i = 0; i < blocks; i += 100) vol.write(i * CHUNK_SIZE, randomBytes(4096));
vol.close();
const [incr, incrMs] = time(() => store.snapshotVolume(vol.record.id));
figures.push({
  figure: "incremental snapshot (1% of blocks changed) / full import",
  value: incrMs / importMs,
  goal: "<= 0.05",
  detail: `${incr.stats.changedBlocks} changed blocks, ${(incrMs / 1000).toFixed(2)} s vs ${(importMs / 1000).toFixed(2)} s`,
});

// 4. Sequential read through the volume layer against a plain file read (benchmark.js, 64 MiB per op).
const seqBytes = Math.min(64, sizeMiB) * MiB;
const seqVol = EbsVolume.open(store.home, store.createVolume({ snapshotId: snap.id }).id);
const fd = fs.openSync(image, "r");
const buf = Buffer.alloc(CHUNK_SIZE);
const hz: Record<string, number> = {};
await new Promise<void>((resolve) => {
  new Benchmark.Suite()
    .add("volume", () => {
      for (let at = 0; at < seqBytes; at += CHUNK_SIZE) seqVol.read(at, CHUNK_SIZE);
    })
    .add("file", () => {
      for (let at = 0; at < seqBytes; at += CHUNK_SIZE) fs.readSync(fd, buf, 0, CHUNK_SIZE, at);
    })
    .on("cycle", (e: Benchmark.Event) => {
      const t = e.target as { name?: string; hz?: number };
      hz[t.name!] = t.hz!;
    })
    .on("complete", () => resolve())
    .run({ async: false });
});
fs.closeSync(fd);
seqVol.close();
figures.push({
  figure: "sequential read, EBS volume / plain file read",
  value: hz.volume! / hz.file!,
  goal: ">= 0.5",
  detail: `${((hz.volume! * seqBytes) / MiB).toFixed(0)} MiB/s vs ${((hz.file! * seqBytes) / MiB).toFixed(0)} MiB/s (repeated reads: each chunk is hashed on its first read only)`,
});

// 4b. The first read of each block: its chunk is read and verified by SHA-256.
const coldVol = EbsVolume.open(store.home, store.createVolume({ snapshotId: snap.id }).id);
const [, coldMs] = time(() => {
  for (let at = 0; at < sizeMiB * MiB; at += CHUNK_SIZE) coldVol.read(at, CHUNK_SIZE);
});
coldVol.close();
const [, fileMs] = time(() => {
  const f = fs.openSync(image, "r");
  for (let at = 0; at < sizeMiB * MiB; at += CHUNK_SIZE) fs.readSync(f, buf, 0, CHUNK_SIZE, at);
  fs.closeSync(f);
});
figures.push({
  figure: `first sequential read of ${sizeMiB} MiB, EBS volume / plain file read`,
  value: fileMs / coldMs,
  goal: "(none)",
  detail: `${(sizeMiB / (coldMs / 1000)).toFixed(0)} MiB/s vs ${(sizeMiB / (fileMs / 1000)).toFixed(0)} MiB/s: bounded by SHA-256 of every chunk`,
});

// 3. Time to first guest read: lazy volumes do not depend on the snapshot's size.
const big = path.join(work, "big.img");
denseImage(big, bigGiB);
const small = path.join(work, "small.img");
denseImage(small, 1);
const bigSnap = store.importSnapshot(big);
const smallSnap = store.importSnapshot(small);
fs.rmSync(big);
// Volumes are created first, so that their creation's disk writes do not land in the timed opens.
const fresh = (snapId: string, n: number) => Array.from({ length: n }, () => store.createVolume({ snapshotId: snapId }).id);
const bigIds = fresh(bigSnap.id, 15);
const smallIds = fresh(smallSnap.id, 16);
const firstRead = (id: string) => {
  const [, ms] = time(() => {
    const v = EbsVolume.open(store.home, id);
    v.read(0, 512);
    v.close();
  });
  return ms;
};
// Interleaved, best of 15 each: the figure is well under a millisecond.
firstRead(smallIds.pop()!);
const bigTimes: number[] = [];
const smallTimes: number[] = [];
for (let i = 0; i < 15; i++) {
  bigTimes.push(firstRead(bigIds[i]!));
  smallTimes.push(firstRead(smallIds[i]!));
}
const bigFirst = Math.min(...bigTimes);
const smallFirst = Math.min(...smallTimes);
figures.push({
  figure: `time to first read, volume from ${bigGiB} GiB / from 1 GiB snapshot`,
  value: bigFirst / smallFirst,
  goal: "<= 1.1",
  detail: `${bigFirst.toFixed(2)} ms vs ${smallFirst.toFixed(2)} ms (open + first sector)`,
});

// 5. Opening the root disk: instance store unbundles and verifies everything first; EBS reads lazily.
const launchRows: { sizeMiB: number; instanceStoreMs: number; ebsMs: number }[] = [];
for (const mib of [32, 256, Math.min(1024, sizeMiB)]) {
  const img = path.join(work, `root-${mib}.img`);
  randomImage(img, mib);
  const { manifestPath } = createBundle(img, { bucket: path.join(work, "bucket"), prefix: `root-${mib}` });
  const rootSnap = store.importSnapshot(img);
  const [, isMs] = time(() => InstanceStoreVolume.fromImage(unbundle(manifestPath)).read(0, 512));
  const id = store.createVolume({ snapshotId: rootSnap.id }).id;
  const [, ebsMs] = time(() => {
    const v = EbsVolume.open(store.home, id);
    v.read(0, 512);
    v.close();
  });
  launchRows.push({ sizeMiB: mib, instanceStoreMs: isMs, ebsMs });
  fs.rmSync(img);
}

console.log("\nVolume layer (one run, this machine)\n");
console.log(textTable(["figure", "value", "goal", "detail"], figures.map((f) => [f.figure, f.value.toFixed(3), f.goal, f.detail]), { right: [false, true], rule: true }));
console.log("\nRoot disk ready to read (ms): instance store must fetch and verify every part; EBS reads lazily\n");
console.log(textTable(["image", "instance store", "EBS"], launchRows.map((r) => [`${r.sizeMiB} MiB`, r.instanceStoreMs.toFixed(1), r.ebsMs.toFixed(1)]), { right: [false, true, true], rule: true }));

const out = path.join(ROOT, "bench/results");
fs.mkdirSync(out, { recursive: true });
const file = path.join(out, `volumes-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
fs.writeFileSync(file, JSON.stringify({ sizeMiB, bigGiB, machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version }, figures, launchRows }, null, 2));
console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
fs.rmSync(work, { recursive: true, force: true });
