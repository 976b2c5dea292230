import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE, ChunkStore } from "../../src/volumes/chunk-store.js";
import { EbsVolume } from "../../src/volumes/ebs-volume.js";
import { VolumeStore } from "../../src/volumes/store.js";
import { tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An image of `blocks` 512 KiB blocks: random, zero or a repeated pattern per block. */
function makeImage(name: string, layout: ("r" | "0" | "p")[]): { file: string; bytes: Buffer } {
  const bytes = Buffer.concat(layout.map((k) => (k === "r" ? randomBytes(CHUNK_SIZE) : k === "0" ? Buffer.alloc(CHUNK_SIZE) : Buffer.alloc(CHUNK_SIZE, 0xab))));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

function readAll(vol: EbsVolume): Buffer {
  return Buffer.from(vol.read(0, vol.size));
}

describe("VolumeStore", () => {
  const home = path.join(dir, "home");
  const store = new VolumeStore(home);

  it("imports an image: zero blocks elided, identical blocks stored once, progress to the end", () => {
    const { file } = makeImage("a.img", ["r", "0", "p", "p", "r", "0"]);
    const seen: number[] = [];
    const snap = store.importSnapshot(file, { onProgress: (done) => seen.push(done) });
    expect(snap.id).toMatch(/^snap-[0-9a-f]{17}$/);
    expect(snap.size).toBe(6 * CHUNK_SIZE);
    expect(Object.keys(snap.blocks).sort()).toEqual(["0", "2", "3", "4"]);
    expect(snap.blocks["2"]).toBe(snap.blocks["3"]);
    expect(snap.stats).toMatchObject({ blocks: 4, newChunks: 3 });
    expect(seen.at(-1)).toBe(6 * CHUNK_SIZE);
    expect(store.chunks.list()).toHaveLength(3);
  });

  it("dedups across snapshots: a second import of the same image stores nothing new", () => {
    const { file } = makeImage("b.img", ["r", "p"]);
    const first = store.importSnapshot(file);
    const second = store.importSnapshot(file);
    expect(first.stats.newChunks).toBe(1); // the pattern block is already stored
    expect(second.stats.newChunks).toBe(0);
    expect(second.blocks).toEqual(first.blocks);
  });

  it("creates a lazy volume that reads back the image, and keeps writes across close and reopen", () => {
    const { file, bytes } = makeImage("c.img", ["r", "0", "r", "p"]);
    const snap = store.importSnapshot(file);
    const rec = store.createVolume({ snapshotId: snap.id, sizeBytes: 8 * CHUNK_SIZE });
    let vol = EbsVolume.open(home, rec.id);
    expect(vol.size).toBe(8 * CHUNK_SIZE);
    expect(readAll(vol).subarray(0, bytes.length).equals(bytes)).toBe(true);
    expect(readAll(vol).subarray(bytes.length).every((b) => b === 0)).toBe(true);
    // A write that straddles two blocks, and one into a zero block.
    const pattern = Buffer.alloc(4096, 0x5c);
    vol.write(CHUNK_SIZE - 2048, pattern);
    vol.write(6 * CHUNK_SIZE + 512, pattern);
    expect(vol.writtenBlocks()).toEqual([0, 1, 6]);
    vol.close();
    vol = EbsVolume.open(home, rec.id);
    const after = readAll(vol);
    expect(after.subarray(CHUNK_SIZE - 2048, CHUNK_SIZE + 2048).equals(pattern)).toBe(true);
    expect(after.subarray(0, CHUNK_SIZE - 2048).equals(bytes.subarray(0, CHUNK_SIZE - 2048))).toBe(true);
    expect(after.subarray(6 * CHUNK_SIZE + 512, 6 * CHUNK_SIZE + 4608).equals(pattern)).toBe(true);
    vol.close();
    // The snapshot is untouched.
    const fresh = EbsVolume.open(home, store.createVolume({ snapshotId: snap.id }).id);
    expect(readAll(fresh).equals(bytes)).toBe(true);
    fresh.close();
  });

  it("takes incremental snapshots: only changed blocks are stored; the chain reads back", () => {
    const { file } = makeImage("d.img", Array.from({ length: 20 }, () => "r" as const));
    const base = store.importSnapshot(file);
    const rec = store.createVolume({ snapshotId: base.id });
    const vol = EbsVolume.open(home, rec.id);
    vol.write(3 * CHUNK_SIZE, randomBytes(512));
    vol.close();
    const incr = store.snapshotVolume(rec.id);
    expect(incr.parent).toBe(base.id);
    expect(incr.stats).toMatchObject({ changedBlocks: 1, newChunks: 1, newBytes: CHUNK_SIZE });
    expect(Object.keys(incr.blocks)).toHaveLength(20);
    // snapshot -> new volume -> same bytes as the written volume
    const again = EbsVolume.open(home, store.createVolume({ snapshotId: incr.id }).id);
    const orig = EbsVolume.open(home, rec.id);
    expect(readAll(again).equals(readAll(orig))).toBe(true);
    again.close();
    orig.close();
  });

  it("deletes a snapshot freeing only chunks nothing else uses; volumes keep their data", () => {
    const { file, bytes } = makeImage("e.img", ["r", "r", "p"]);
    const snap = store.importSnapshot(file);
    const rec = store.createVolume({ snapshotId: snap.id });
    const before = store.chunks.list().length;
    expect(store.deleteSnapshot(snap.id).freedChunks).toBe(0); // the volume still uses them
    expect(() => store.getSnapshot(snap.id)).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound", message: `The snapshot '${snap.id}' does not exist.` }));
    const vol = EbsVolume.open(home, rec.id);
    expect(readAll(vol).equals(bytes)).toBe(true);
    vol.close();
    expect(store.deleteVolume(rec.id).freedChunks).toBe(2); // the pattern block is shared with other snapshots
    expect(store.chunks.list().length).toBe(before - 2);
    expect(store.verify().problems).toEqual([]);
  });

  it("exports a volume as a raw image", () => {
    const { file, bytes } = makeImage("f.img", ["p", "0", "r"]);
    const rec = store.createVolume({ snapshotId: store.importSnapshot(file).id });
    const out = path.join(dir, "export.img");
    expect(store.exportVolume(rec.id, out)).toBe(bytes.length);
    expect(fs.readFileSync(out).equals(bytes)).toBe(true);
  });

  it("rejects bad requests with EC2's errors", () => {
    const snap = store.listSnapshots()[0]!;
    expect(() => store.createVolume({ snapshotId: snap.id, sizeBytes: 512 })).toThrow(
      expect.objectContaining({ code: "InvalidParameterValue", message: `Volume of size 512 bytes is smaller than snapshot '${snap.id}', expect size >= ${snap.size} bytes` }),
    );
    expect(() => store.getSnapshot("snap-nope")).toThrow(expect.objectContaining({ code: "InvalidSnapshotID.Malformed" }));
    expect(() => store.getVolume("vol-0123456789abcdef0")).toThrow(expect.objectContaining({ code: "InvalidVolume.NotFound", message: "The volume 'vol-0123456789abcdef0' does not exist." }));
    expect(() => store.importSnapshot(path.join(dir, "missing.img"))).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
    expect(() => store.createVolume({})).toThrow(expect.objectContaining({ code: "MissingParameter" }));
  });

  it("detects a corrupt chunk instead of feeding it to a guest", () => {
    const { file } = makeImage("g.img", ["r"]);
    const snap = store.importSnapshot(file);
    const hash = snap.blocks["0"]!;
    const chunkFile = path.join(home, "chunks", hash.slice(0, 2), hash);
    const b = fs.readFileSync(chunkFile);
    b[100] ^= 0xff;
    fs.writeFileSync(chunkFile, b);
    const vol = EbsVolume.open(home, store.createVolume({ snapshotId: snap.id }).id);
    expect(() => vol.read(0, 512)).toThrow(expect.objectContaining({ code: "InvalidSnapshot.Corrupt", message: expect.stringContaining("damaged") }));
    expect(store.verify().problems).toEqual([expect.stringContaining(`${snap.id} block 0: chunk ${hash} is damaged`)]);
    vol.close();
  });

  it("takes over a lock left by a process killed while writing its pid (an empty pid file)", () => {
    const lockHome = path.join(dir, "locked-home");
    const locked = new VolumeStore(lockHome);
    const lock = path.join(lockHome, "lock");
    fs.mkdirSync(lock);
    fs.writeFileSync(path.join(lock, "pid"), "");
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(lock, old, old);
    const t0 = Date.now();
    const { file } = makeImage("after-lock.img", ["r"]);
    expect(locked.importSnapshot(file).stats.blocks).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it("builds a snapshot block by block (EBS direct): over its parent, zero blocks elided, chunks kept from collection until completed", () => {
    const uploads = new VolumeStore(path.join(dir, "upload-home"));
    const { file, bytes } = makeImage("parent.img", ["r", "r", "p"]);
    const parent = uploads.importSnapshot(file);
    const id = "snap-0123456789abcdef0";
    uploads.beginUpload(id);
    const fresh = randomBytes(CHUNK_SIZE);
    expect(uploads.putUploadBlock(id, 1, fresh).newBytes).toBe(CHUNK_SIZE);
    // The pattern block is known: stored once.
    expect(uploads.putUploadBlock(id, 5, Buffer.alloc(CHUNK_SIZE, 0xab)).newBytes).toBe(0);
    // Zeros over the parent's block 0: the child reads zeros there.
    expect(uploads.putUploadBlock(id, 0, Buffer.alloc(CHUNK_SIZE))).toEqual({ newBytes: 0 });
    expect(() => uploads.putUploadBlock(id, 2, Buffer.alloc(100))).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
    expect(() => uploads.putUploadBlock("snap-00000000000000000", 0, fresh)).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound" }));
    // A collection (another snapshot's delete) keeps the upload's chunk.
    uploads.deleteSnapshot(uploads.importSnapshot(makeImage("other.img", ["r"]).file).id);
    expect(uploads.chunks.has(ChunkStore.hash(fresh))).toBe(true);

    const m = uploads.completeUpload(id, { size: 6 * CHUNK_SIZE, parent: parent.id, newChunks: 1, newBytes: CHUNK_SIZE });
    expect(m).toMatchObject({ id, parent: parent.id, size: 6 * CHUNK_SIZE, stats: { blocks: 3, changedBlocks: 3, newChunks: 1, newBytes: CHUNK_SIZE } });
    expect(uploads.listUploads()).toEqual([]);
    const vol = EbsVolume.open(uploads.home, uploads.createVolume({ snapshotId: id }).id);
    const all = readAll(vol);
    vol.close();
    expect(all.subarray(0, CHUNK_SIZE).every((b) => b === 0)).toBe(true);
    expect(all.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE).equals(fresh)).toBe(true);
    expect(all.subarray(2 * CHUNK_SIZE, 3 * CHUNK_SIZE).equals(bytes.subarray(2 * CHUNK_SIZE))).toBe(true);
    expect(all.subarray(5 * CHUNK_SIZE).every((b) => b === 0xab)).toBe(true);
    expect(uploads.verify().problems).toEqual([]);
  });

  it("an aborted upload frees the chunks only it used; a record cut short by a crash is ignored", () => {
    const uploads = new VolumeStore(path.join(dir, "abort-home"));
    const id = "snap-00000000000000001";
    uploads.beginUpload(id);
    const a = randomBytes(CHUNK_SIZE);
    uploads.putUploadBlock(id, 0, a);
    fs.appendFileSync(path.join(uploads.home, "uploads", id), Buffer.alloc(7, 1));
    expect([...uploads.uploadBlocks(id).keys()]).toEqual([0]);
    expect(uploads.abortUpload(id).freedChunks).toBe(1);
    expect(uploads.chunks.has(ChunkStore.hash(a))).toBe(false);
    expect(uploads.listUploads()).toEqual([]);
  });
});
