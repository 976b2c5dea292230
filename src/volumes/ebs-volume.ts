import fs from "node:fs";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { CHUNK_SIZE, ChunkStore } from "./chunk-store.js";
import { OverlayVolume } from "./overlay-volume.js";

/** What a volume keeps about itself in `volumes/<id>/volume.json`. */
export interface VolumeRecord {
  id: string;
  /** Bytes, a multiple of 512. */
  size: number;
  /** The snapshot it was created from, if any. */
  snapshotId?: string;
  createdAt: string;
}

/**
 * The volume's copy of its snapshot's block map, `base.idx`: the raw SHA-256
 * of block i at byte 32*i (all zeros for a zero block). Binary and read one
 * entry at a time, so opening a volume costs the same for 1 GiB or 16 TiB,
 * and the volume never depends on the snapshot staying.
 */
export const BASE_INDEX = "base.idx";
const HASH_BYTES = 32;

export function encodeBaseIndex(blocks: Record<string, string>, size: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(size / CHUNK_SIZE) * HASH_BYTES);
  for (const [index, hash] of Object.entries(blocks)) out.set(Buffer.from(hash, "hex"), Number(index) * HASH_BYTES);
  return out;
}

export function decodeBaseIndex(bytes: Uint8Array): Record<string, string> {
  const blocks: Record<string, string> = {};
  for (let i = 0; i * HASH_BYTES < bytes.length; i++) {
    const h = bytes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
    if (h.some((b) => b !== 0)) blocks[i] = Buffer.from(h).toString("hex");
  }
  return blocks;
}

const CHUNK_CACHE = 8;
const INDEX_CACHE = 4096;

/**
 * An EBS volume: an overlay on disk (`volumes/<id>/blocks/`) over its
 * snapshot's chunks, fetched lazily on first read and checked against their
 * SHA-256 (once per chunk while the volume is open). Its written blocks are its durable state across stop and start.
 */
export class EbsVolume extends OverlayVolume {
  private constructor(
    readonly record: VolumeRecord,
    dir: string,
    private readonly store: ChunkStore,
    private readonly index: number,
  ) {
    const cache = new Map<string, Uint8Array>();
    const verified = new Set<string>();
    const entry = Buffer.alloc(HASH_BYTES);
    // Index entries already read (null: a zero block), a bounded number of them.
    const hashes = new Map<number, string | null>();
    const hashOf = (block: number): string | null => {
      let h = hashes.get(block);
      if (h === undefined) {
        const ok = fs.readSync(index, entry, 0, HASH_BYTES, block * HASH_BYTES) === HASH_BYTES && entry.some((b) => b !== 0);
        h = ok ? entry.toString("hex") : null;
        if (hashes.size >= INDEX_CACHE) hashes.delete(hashes.keys().next().value!);
        hashes.set(block, h);
      }
      return h;
    };
    super({
      fs,
      dir,
      size: record.size,
      readBase: (block, into, at, within, n) => {
        const hash = hashOf(block);
        if (!hash) return;
        let chunk = cache.get(hash);
        if (!chunk && verified.has(hash)) {
          // Checked on its first read: later reads go straight into the caller's buffer.
          store.readInto(hash, into, at, within, n);
          return;
        }
        if (!chunk) {
          chunk = store.get(hash, verified);
          if (cache.size >= CHUNK_CACHE) cache.delete(cache.keys().next().value!);
          cache.set(hash, chunk);
        }
        into.set(chunk.subarray(within, within + n), at);
      },
    });
  }

  override close(): void {
    super.close();
    this.store.close();
    fs.closeSync(this.index);
  }

  /** Opens volume `id` of the store at `home` (what a worker does with a plan's disk). */
  static open(home: string, id: string): EbsVolume {
    const dir = path.join(home, "volumes", id);
    let record: VolumeRecord;
    let index: number;
    try {
      record = JSON.parse(fs.readFileSync(path.join(dir, "volume.json"), "utf8")) as VolumeRecord;
      index = fs.openSync(path.join(dir, BASE_INDEX), "r");
    } catch {
      throw new Ec2Error("InvalidVolume.NotFound", `The volume '${id}' does not exist.`, "volumes.ebsVolumeOpen");
    }
    return new EbsVolume(record, dir, new ChunkStore(path.join(home, "chunks")), index);
  }
}
