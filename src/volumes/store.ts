import fs from "node:fs";
import path from "node:path";
import { writeAtomically, writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { isId, newId } from "../ids.js";
import { SECTOR_SIZE } from "./block-device.js";
import { CHUNK_SIZE, ChunkStore } from "./chunk-store.js";
import { BASE_INDEX, decodeBaseIndex, EbsVolume, encodeBaseIndex, type VolumeRecord } from "./ebs-volume.js";
import { withStoreLock } from "./store-lock.js";
import { appendBlock, readBlocks } from "./upload-journal.js";

/** A snapshot: the volume's size and which chunk holds each non-zero 512 KiB block. */
export interface SnapshotManifest {
  id: string;
  size: number;
  chunkSize: number;
  /** Block index -> chunk hash; all-zero blocks are absent. */
  blocks: Record<string, string>;
  /** The snapshot the volume was created from: this one stores only what changed since. */
  parent?: string;
  description?: string;
  createdAt: string;
  stats: { blocks: number; changedBlocks: number; newChunks: number; newBytes: number };
}

export type Progress = (doneBytes: number, totalBytes: number) => void;

const GiB = 1024 ** 3;

/**
 * The snapshot and EBS volume store under a data directory ($AMIBOOT_HOME):
 * `chunks/` (content-addressed), `snapshots/<id>.json`, `volumes/<id>/`,
 * `uploads/<id>` (snapshots being uploaded block by block).
 * A manifest is written (temporary name, fsync, rename) only after all its
 * chunks are durable, so no manifest ever points to a missing chunk; changes
 * that add or free chunks hold the store's lock so a delete never frees a
 * chunk an import is about to reference.
 */
export class VolumeStore {
  readonly chunks: ChunkStore;
  private readonly snapshotsDir: string;
  private readonly volumesDir: string;
  private readonly uploadsDir: string;

  constructor(readonly home: string) {
    this.chunks = new ChunkStore(path.join(home, "chunks"));
    this.snapshotsDir = path.join(home, "snapshots");
    this.volumesDir = path.join(home, "volumes");
    this.uploadsDir = path.join(home, "uploads");
    fs.mkdirSync(this.snapshotsDir, { recursive: true });
    fs.mkdirSync(this.uploadsDir, { recursive: true });
    fs.mkdirSync(this.volumesDir, { recursive: true });
  }

  /** A raw disk image becomes a snapshot: zero blocks skipped, known chunks stored once. */
  importSnapshot(file: string, options: { description?: string; onProgress?: Progress } = {}): SnapshotManifest {
    let fd: number;
    let size: number;
    try {
      fd = fs.openSync(file, "r");
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error("not a regular file");
      size = st.size;
    } catch (err) {
      throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': ${(err as Error).message}`, "volumes.importSnapshot");
    }
    try {
      if (size === 0) throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': the file is empty`, "volumes.importSnapshot");
      return this.locked(() => {
        const blocks: Record<string, string> = {};
        const stats = { blocks: 0, changedBlocks: 0, newChunks: 0, newBytes: 0 };
        const buf = Buffer.alloc(CHUNK_SIZE);
        for (let at = 0, index = 0; at < size; at += CHUNK_SIZE, index++) {
          const n = readFully(fd, buf, at);
          buf.fill(0, n);
          this.storeBlock(blocks, index, buf, stats);
          options.onProgress?.(Math.min(at + CHUNK_SIZE, size), size);
        }
        return this.commit({ size: roundUp(size, SECTOR_SIZE), blocks, stats, ...(options.description ? { description: options.description } : {}) });
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  getSnapshot(id: string): SnapshotManifest {
    if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, "volumes.getSnapshot");
    try {
      return JSON.parse(fs.readFileSync(path.join(this.snapshotsDir, `${id}.json`), "utf8")) as SnapshotManifest;
    } catch {
      throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${id}' does not exist.`, "volumes.getSnapshot");
    }
  }

  /** A full copy of a snapshot (CopyImage, CopySnapshot): a new manifest; the chunks are shared, so it costs no data. */
  copySnapshot(id: string, description?: string): SnapshotManifest {
    const source = this.getSnapshot(id);
    return this.locked(() =>
      this.commit({
        size: source.size,
        blocks: { ...source.blocks },
        stats: { blocks: source.stats.blocks, changedBlocks: 0, newChunks: 0, newBytes: 0 },
        parent: source.id,
        ...(description ? { description } : {}),
      }),
    );
  }

  /**
   * EBS direct uploads (StartSnapshot, PutSnapshotBlock, CompleteSnapshot):
   * snapshot `id` is built block by block; until it completes, the blocks put
   * are journaled in `uploads/<id>` (see upload-journal.ts), where garbage
   * collection finds them.
   */
  beginUpload(id: string): void {
    fs.writeFileSync(this.uploadFile(id), "", { flag: "wx" });
  }

  /**
   * Stores one 512 KiB block of an upload (an all-zero one is not stored) and
   * journals it, both under the lock, so a collection never sees the chunk
   * without its record. Only `CHUNK_SIZE` bytes are ever held.
   */
  putUploadBlock(id: string, index: number, bytes: Uint8Array): { hash?: string; newBytes: number } {
    if (bytes.length !== CHUNK_SIZE) throw new Ec2Error("InvalidParameterValue", `a block is ${CHUNK_SIZE} bytes, not ${bytes.length}`, "volumes.putUploadBlock");
    return this.locked(() => {
      const file = this.uploadFile(id);
      if (!fs.existsSync(file)) throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${id}' is not being uploaded.`, "volumes.putUploadBlock");
      const hash = isZero(bytes) ? undefined : ChunkStore.hash(bytes);
      const fresh = hash !== undefined && !this.chunks.has(hash);
      if (fresh) this.chunks.put(bytes, hash);
      appendBlock(file, index, hash);
      return { ...(hash ? { hash } : {}), newBytes: fresh ? bytes.length : 0 };
    });
  }

  /** The blocks put so far: index -> chunk hash, undefined for an all-zero block. */
  uploadBlocks(id: string): Map<number, string | undefined> {
    return readBlocks(this.uploadFile(id));
  }

  /** The upload becomes manifest `id`: the parent's blocks with the ones put over them (durably, like every manifest). */
  completeUpload(id: string, o: { size: number; parent?: string; description?: string; newChunks: number; newBytes: number }): SnapshotManifest {
    return this.locked(() => {
      const file = this.uploadFile(id);
      const put = readBlocks(file);
      const blocks = o.parent ? { ...this.getSnapshot(o.parent).blocks } : {};
      for (const [index, hash] of put) {
        if (hash === undefined) delete blocks[index];
        else blocks[index] = hash;
      }
      const stats = { blocks: Object.keys(blocks).length, changedBlocks: put.size, newChunks: o.newChunks, newBytes: o.newBytes };
      const manifest = this.commit({ size: o.size, blocks, stats, ...(o.parent ? { parent: o.parent } : {}), ...(o.description ? { description: o.description } : {}) }, id);
      fs.rmSync(file);
      return manifest;
    });
  }

  /** Drops an upload and frees the chunks only it used. */
  abortUpload(id: string): { freedChunks: number } {
    return this.locked(() => {
      fs.rmSync(this.uploadFile(id), { force: true });
      return { freedChunks: this.collectGarbage() };
    });
  }

  /** The snapshots being uploaded. */
  listUploads(): string[] {
    return fs.readdirSync(this.uploadsDir).filter((n) => isId(n, "snap"));
  }

  /** A snapshot's size in whole GiB (as EC2 states it), or undefined when there is none: for mapping resolution. */
  snapshotSizeGiB = (id: string): number | undefined => {
    try {
      return Math.ceil(this.getSnapshot(id).size / GiB);
    } catch {
      return undefined;
    }
  };

  listSnapshots(): SnapshotManifest[] {
    return fs
      .readdirSync(this.snapshotsDir)
      .filter((n) => /^snap-[0-9a-f]{17}\.json$/.test(n))
      .map((n) => this.getSnapshot(n.slice(0, -5)))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Deletes a snapshot and frees the chunks nothing else references. */
  deleteSnapshot(id: string): { freedChunks: number } {
    this.getSnapshot(id);
    return this.locked(() => {
      fs.rmSync(path.join(this.snapshotsDir, `${id}.json`));
      return { freedChunks: this.collectGarbage() };
    });
  }

  /** A volume from a snapshot (size >= the snapshot's) or an empty one. */
  createVolume(options: { snapshotId?: string; sizeBytes?: number }): VolumeRecord {
    const snap = options.snapshotId ? this.getSnapshot(options.snapshotId) : undefined;
    const size = options.sizeBytes ?? snap?.size;
    if (size === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter size or snapshotId", "volumes.createVolume");
    if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR_SIZE !== 0) {
      throw new Ec2Error("InvalidParameterValue", `volume size ${size} bytes is not a positive multiple of 512`, "volumes.createVolume");
    }
    if (snap && size < snap.size) {
      throw new Ec2Error(
        "InvalidParameterValue",
        `Volume of size ${sizeText(size)} is smaller than snapshot '${snap.id}', expect size >= ${sizeText(snap.size)}`,
        "volumes.createVolume",
      );
    }
    const record: VolumeRecord = { id: newId("vol"), size, ...(snap ? { snapshotId: snap.id } : {}), createdAt: new Date().toISOString() };
    const dir = path.join(this.volumesDir, record.id);
    fs.mkdirSync(path.join(dir, "blocks"), { recursive: true });
    // The index first: a volume.json is only ever next to a whole index.
    writeFileAtomically(path.join(dir, BASE_INDEX), encodeBaseIndex(snap?.blocks ?? {}, size));
    writeFileAtomically(path.join(dir, "volume.json"), JSON.stringify(record));
    return record;
  }

  getVolume(id: string): VolumeRecord {
    if (!isId(id, "vol")) throw new Ec2Error("InvalidVolumeID.Malformed", `Invalid id: "${id}" (expecting "vol-...")`, "volumes.getVolume");
    try {
      return JSON.parse(fs.readFileSync(path.join(this.volumesDir, id, "volume.json"), "utf8")) as VolumeRecord;
    } catch {
      throw new Ec2Error("InvalidVolume.NotFound", `The volume '${id}' does not exist.`, "volumes.getVolume");
    }
  }

  /** Whether volume `id` exists (its volume.json is written last). */
  hasVolume(id: string): boolean {
    return isId(id, "vol") && fs.existsSync(path.join(this.volumesDir, id, "volume.json"));
  }

  listVolumes(): VolumeRecord[] {
    return fs
      .readdirSync(this.volumesDir)
      .filter((n) => this.hasVolume(n))
      .map((n) => this.getVolume(n));
  }

  /** Grows a volume (ModifyVolume): blocks past its old end read as zeros until written. */
  resizeVolume(id: string, sizeBytes: number): VolumeRecord {
    const record = this.getVolume(id);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < record.size || sizeBytes % SECTOR_SIZE !== 0) {
      throw new Ec2Error("InvalidParameterValue", `volume ${id} cannot go from ${record.size} to ${sizeBytes} bytes: only a bigger multiple of 512`, "volumes.resizeVolume");
    }
    const grown = { ...record, size: sizeBytes };
    writeFileAtomically(path.join(this.volumesDir, id, "volume.json"), JSON.stringify(grown));
    return grown;
  }

  deleteVolume(id: string): { freedChunks: number } {
    this.getVolume(id);
    return this.locked(() => {
      fs.rmSync(path.join(this.volumesDir, id), { recursive: true, force: true });
      return { freedChunks: this.collectGarbage() };
    });
  }

  /** Snapshots a volume: only blocks it wrote are hashed and stored (incremental). */
  snapshotVolume(id: string, options: { description?: string; onProgress?: Progress } = {}): SnapshotManifest {
    const vol = EbsVolume.open(this.home, id);
    try {
      return this.locked(() => {
        const blocks = this.baseBlocks(id);
        const stats = { blocks: 0, changedBlocks: 0, newChunks: 0, newBytes: 0 };
        const written = vol.writtenBlocks();
        written.forEach((index, i) => {
          stats.changedBlocks++;
          this.storeBlock(blocks, index, vol.read(index * CHUNK_SIZE, CHUNK_SIZE), stats);
          options.onProgress?.(i + 1, written.length);
        });
        stats.blocks = Object.keys(blocks).length;
        return this.commit({
          size: vol.size,
          blocks,
          stats,
          ...(vol.record.snapshotId ? { parent: vol.record.snapshotId } : {}),
          ...(options.description ? { description: options.description } : {}),
        });
      });
    } finally {
      vol.close();
    }
  }

  /** Writes a volume out as a raw image (zero blocks become holes). */
  exportVolume(id: string, file: string, onProgress?: Progress): number {
    const vol = EbsVolume.open(this.home, id);
    try {
      writeAtomically(file, (fd) => {
        for (let at = 0; at < vol.size; at += CHUNK_SIZE) {
          const bytes = vol.read(at, Math.min(CHUNK_SIZE, vol.size - at));
          if (!isZero(bytes)) fs.writeSync(fd, bytes, 0, bytes.length, at);
          onProgress?.(Math.min(at + CHUNK_SIZE, vol.size), vol.size);
        }
        fs.ftruncateSync(fd, vol.size);
      });
    } finally {
      vol.close();
    }
    return vol.size;
  }

  /** Checks the store: every manifest's chunks exist and match their hash. */
  verify(): { snapshots: number; chunks: number; problems: string[] } {
    const problems: string[] = [];
    const snaps = this.listSnapshots();
    const seen = new Set<string>();
    for (const s of snaps) {
      for (const [index, hash] of Object.entries(s.blocks)) {
        if (seen.has(hash)) continue;
        seen.add(hash);
        try {
          this.chunks.get(hash);
        } catch (err) {
          problems.push(`${s.id} block ${index}: ${(err as Error).message}`);
        }
      }
    }
    return { snapshots: snaps.length, chunks: seen.size, problems };
  }

  /** A volume's copy of its snapshot's block map. */
  private baseBlocks(id: string): Record<string, string> {
    return decodeBaseIndex(fs.readFileSync(path.join(this.volumesDir, id, BASE_INDEX)));
  }

  private storeBlock(blocks: Record<string, string>, index: number, bytes: Uint8Array, stats: SnapshotManifest["stats"]): void {
    if (isZero(bytes)) {
      delete blocks[index];
      return;
    }
    const hash = ChunkStore.hash(bytes);
    if (!this.chunks.has(hash)) {
      this.chunks.put(bytes, hash);
      stats.newChunks++;
      stats.newBytes += bytes.length;
    }
    blocks[index] = hash;
    stats.blocks++;
  }

  private uploadFile(id: string): string {
    if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, "volumes.upload");
    return path.join(this.uploadsDir, id);
  }

  private commit(m: Omit<SnapshotManifest, "id" | "chunkSize" | "createdAt">, id = newId("snap")): SnapshotManifest {
    const manifest: SnapshotManifest = { id, chunkSize: CHUNK_SIZE, createdAt: new Date().toISOString(), ...m };
    writeFileAtomically(path.join(this.snapshotsDir, `${manifest.id}.json`), JSON.stringify(manifest));
    return manifest;
  }

  /** Frees chunks no snapshot, volume or upload references. Called under the lock. */
  private collectGarbage(): number {
    const live = new Set<string>();
    for (const s of this.listSnapshots()) for (const h of Object.values(s.blocks)) live.add(h);
    for (const v of this.listVolumes()) for (const h of Object.values(this.baseBlocks(v.id))) live.add(h);
    for (const u of this.listUploads()) for (const h of this.uploadBlocks(u).values()) if (h) live.add(h);
    let freed = 0;
    for (const hash of this.chunks.list()) {
      if (!live.has(hash)) {
        this.chunks.delete(hash);
        freed++;
      }
    }
    this.chunks.sweepTemporary();
    return freed;
  }

  /** Runs `fn` holding the store's lock. */
  private locked<T>(fn: () => T): T {
    return withStoreLock(this.home, fn);
  }
}

function readFully(fd: number, buf: Buffer, position: number): number {
  let n = 0;
  while (n < buf.length) {
    const r = fs.readSync(fd, buf, n, buf.length - n, position + n);
    if (r === 0) break;
    n += r;
  }
  return n;
}

/** True when every byte is zero (such blocks are never stored). */
export function isZero(bytes: Uint8Array): boolean {
  if (bytes.byteOffset % 8 !== 0) return bytes.every((b) => b === 0);
  // Eight bytes at a time: the import's hot path.
  const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 8));
  for (let i = 0; i < words.length; i++) if (words[i] !== 0n) return false;
  for (let i = words.length * 8; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** EC2 says "8GB"; imported images need not be whole GiB, so those show in bytes. */
function sizeText(bytes: number): string {
  return bytes % GiB === 0 ? `${bytes / GiB}GB` : `${bytes} bytes`;
}
