import fs from "node:fs";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { SECTOR_SIZE, type BlockDevice } from "./block-device.js";
import { CHUNK_SIZE, ChunkStore } from "./chunk-store.js";

/** What a volume keeps about itself in `volumes/<id>/volume.json`. */
export interface VolumeRecord {
  id: string;
  /** Bytes, a multiple of 512. */
  size: number;
  /** The snapshot it was created from, if any. */
  snapshotId?: string;
  /** That snapshot's block map, kept here so the volume never depends on the snapshot staying. */
  base: Record<string, string>;
  createdAt: string;
}

const CHUNK_CACHE = 8;
const OPEN_BLOCKS = 16;

/**
 * An EBS volume: reads come lazily from its snapshot's chunks on first
 * access; the first write to a 512 KiB block copies it into the volume's own
 * `blocks/<index>` file (copy-on-write), where later reads and writes go.
 * Those files are the volume's durable state across stop and start.
 */
export class EbsVolume implements BlockDevice {
  readonly size: number;
  private readonly written: Set<number>;
  private readonly chunks = new Map<string, Uint8Array>();
  private readonly fds = new Map<number, number>();
  private readonly blocksDir: string;

  private constructor(
    readonly record: VolumeRecord,
    dir: string,
    private readonly store: ChunkStore,
  ) {
    this.size = record.size;
    this.blocksDir = path.join(dir, "blocks");
    fs.mkdirSync(this.blocksDir, { recursive: true });
    this.written = new Set(
      fs
        .readdirSync(this.blocksDir)
        .filter((n) => /^\d+$/.test(n))
        .map(Number),
    );
  }

  /** Opens volume `id` of the store at `home` (what a worker does with a plan's disk). */
  static open(home: string, id: string): EbsVolume {
    const dir = path.join(home, "volumes", id);
    let record: VolumeRecord;
    try {
      record = JSON.parse(fs.readFileSync(path.join(dir, "volume.json"), "utf8")) as VolumeRecord;
    } catch {
      throw new Ec2Error("InvalidVolume.NotFound", `The volume '${id}' does not exist.`, "EbsVolume.open");
    }
    return new EbsVolume(record, dir, new ChunkStore(path.join(home, "chunks")));
  }

  /** Indexes of the blocks this volume has written (its copy-on-write overlay). */
  writtenBlocks(): number[] {
    return [...this.written].sort((a, b) => a - b);
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const end = Math.min(offset + length, this.size);
    let at = offset;
    while (at < end) {
      const block = Math.floor(at / CHUNK_SIZE);
      const within = at - block * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - within, end - at);
      if (this.written.has(block)) {
        fs.readSync(this.fd(block), out, at - offset, n, within);
      } else {
        const chunk = this.baseChunk(block);
        if (chunk) out.set(chunk.subarray(within, within + n), at - offset);
      }
      at += n;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset % SECTOR_SIZE !== 0 || offset < 0 || offset + data.length > this.size) {
      throw new Ec2Error("DiskIOError", `write of ${data.length} bytes at ${offset} is outside the ${this.size}-byte volume`, "EbsVolume.write");
    }
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const block = Math.floor(at / CHUNK_SIZE);
      const within = at - block * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - within, data.length - done);
      if (!this.written.has(block)) this.copyUp(block);
      fs.writeSync(this.fd(block), data, done, n, within);
      done += n;
    }
  }

  flush(): void {
    for (const fd of this.fds.values()) fs.fsyncSync(fd);
  }

  close(): void {
    this.flush();
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  /** The block as the snapshot had it; undefined for a zero block. */
  baseChunk(block: number): Uint8Array | undefined {
    const hash = this.record.base[block];
    if (!hash) return undefined;
    let chunk = this.chunks.get(hash);
    if (!chunk) {
      chunk = this.store.get(hash);
      if (this.chunks.size >= CHUNK_CACHE) this.chunks.delete(this.chunks.keys().next().value!);
      this.chunks.set(hash, chunk);
    }
    return chunk;
  }

  /** First write to a block: its snapshot content becomes the volume's own file (temporary name, then rename). */
  private copyUp(block: number): void {
    const file = path.join(this.blocksDir, String(block));
    const tmp = `${file}.tmp`;
    const bytes = new Uint8Array(CHUNK_SIZE);
    const base = this.baseChunk(block);
    if (base) bytes.set(base);
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
    this.written.add(block);
  }

  private fd(block: number): number {
    let fd = this.fds.get(block);
    if (fd === undefined) {
      if (this.fds.size >= OPEN_BLOCKS) {
        const [oldest, oldFd] = this.fds.entries().next().value!;
        fs.fsyncSync(oldFd);
        fs.closeSync(oldFd);
        this.fds.delete(oldest);
      }
      fd = fs.openSync(path.join(this.blocksDir, String(block)), "r+");
      this.fds.set(block, fd);
    }
    return fd;
  }
}
