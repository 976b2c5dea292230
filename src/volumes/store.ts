import fs from "node:fs";
import path from "node:path";
import { writeAtomically, writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { isId, newId } from "../ids.js";
import { SECTOR_SIZE } from "./block-device.js";
import { CHUNK_SIZE, ChunkStore } from "./chunk-store.js";
import { BASE_INDEX, decodeBaseIndex, EbsVolume, encodeBaseIndex, type VolumeRecord } from "./ebs-volume.js";

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
const LOCK_WAIT_MS = 30_000;

/**
 * The snapshot and EBS volume store under a data directory ($AMIBOOT_HOME):
 * `chunks/` (content-addressed), `snapshots/<id>.json`, `volumes/<id>/`.
 * A manifest is written (temporary name, fsync, rename) only after all its
 * chunks are durable, so no manifest ever points to a missing chunk; changes
 * that add or free chunks hold the store's lock so a delete never frees a
 * chunk an import is about to reference.
 */
export class VolumeStore {
  readonly chunks: ChunkStore;
  private readonly snapshotsDir: string;
  private readonly volumesDir: string;

  constructor(readonly home: string) {
    this.chunks = new ChunkStore(path.join(home, "chunks"));
    this.snapshotsDir = path.join(home, "snapshots");
    this.volumesDir = path.join(home, "volumes");
    fs.mkdirSync(this.snapshotsDir, { recursive: true });
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
      throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': ${(err as Error).message}`, "importSnapshot");
    }
    try {
      if (size === 0) throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': the file is empty`, "importSnapshot");
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
    if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, "getSnapshot");
    try {
      return JSON.parse(fs.readFileSync(path.join(this.snapshotsDir, `${id}.json`), "utf8")) as SnapshotManifest;
    } catch {
      throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${id}' does not exist.`, "getSnapshot");
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
    if (size === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter size or snapshotId", "createVolume");
    if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR_SIZE !== 0) {
      throw new Ec2Error("InvalidParameterValue", `volume size ${size} bytes is not a positive multiple of 512`, "createVolume");
    }
    if (snap && size < snap.size) {
      throw new Ec2Error(
        "InvalidParameterValue",
        `Volume of size ${sizeText(size)} is smaller than snapshot '${snap.id}', expect size >= ${sizeText(snap.size)}`,
        "createVolume",
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
    if (!isId(id, "vol")) throw new Ec2Error("InvalidVolumeID.Malformed", `Invalid id: "${id}" (expecting "vol-...")`, "getVolume");
    try {
      return JSON.parse(fs.readFileSync(path.join(this.volumesDir, id, "volume.json"), "utf8")) as VolumeRecord;
    } catch {
      throw new Ec2Error("InvalidVolume.NotFound", `The volume '${id}' does not exist.`, "getVolume");
    }
  }

  listVolumes(): VolumeRecord[] {
    return fs
      .readdirSync(this.volumesDir)
      .filter((n) => isId(n, "vol") && fs.existsSync(path.join(this.volumesDir, n, "volume.json")))
      .map((n) => this.getVolume(n));
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

  private commit(m: Omit<SnapshotManifest, "id" | "chunkSize" | "createdAt">): SnapshotManifest {
    const manifest: SnapshotManifest = { id: newId("snap"), chunkSize: CHUNK_SIZE, createdAt: new Date().toISOString(), ...m };
    writeFileAtomically(path.join(this.snapshotsDir, `${manifest.id}.json`), JSON.stringify(manifest));
    return manifest;
  }

  /** Frees chunks no snapshot or volume references. Called under the lock. */
  private collectGarbage(): number {
    const live = new Set<string>();
    for (const s of this.listSnapshots()) for (const h of Object.values(s.blocks)) live.add(h);
    for (const v of this.listVolumes()) for (const h of Object.values(this.baseBlocks(v.id))) live.add(h);
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

  /** Runs `fn` holding the store's lock (a directory: mkdir is atomic); a dead holder's lock is taken over. */
  private locked<T>(fn: () => T): T {
    const lock = path.join(this.home, "lock");
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        fs.mkdirSync(lock);
        fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        if (holderIsDead(lock)) {
          fs.rmSync(lock, { recursive: true, force: true });
          continue;
        }
        if (Date.now() > deadline) throw new Ec2Error("ResourceBusy", `the volume store at ${this.home} stayed locked for ${LOCK_WAIT_MS / 1000} s`, "lock");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
    try {
      return fn();
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

function holderIsDead(lock: string): boolean {
  let pid = Number.NaN;
  try {
    pid = Number(fs.readFileSync(path.join(lock, "pid"), "utf8"));
  } catch {
    // No pid file yet: handled with an empty one below.
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    // A lock without a pid (no file, or an empty one) is either being created or left by a crash mid-creation.
    // (An empty file must not reach process.kill: pid 0 is the caller's own process group, always alive.)
    const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    return age > 5000;
  }
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
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

function isZero(bytes: Uint8Array): boolean {
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
