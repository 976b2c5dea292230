import fs from "node:fs";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { ChunkStore } from "./chunk-store.js";
import { OverlayVolume } from "./overlay-volume.js";

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
  ) {
    const cache = new Map<string, Uint8Array>();
    const verified = new Set<string>();
    super({
      fs,
      dir,
      size: record.size,
      readBase: (block, into, at, within, n) => {
        const hash = record.base[block];
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
}
