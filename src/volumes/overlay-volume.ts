import type nodeFs from "node:fs";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { SECTOR_SIZE, type BlockDevice } from "./block-device.js";
import { CHUNK_SIZE } from "./chunk-store.js";

/** The file calls an overlay makes: node:fs for EBS volumes, a memfs volume for instance store. */
export type OverlayFs = Pick<typeof nodeFs, "mkdirSync" | "readdirSync" | "openSync" | "readSync" | "writeSync" | "fsyncSync" | "closeSync" | "writeFileSync" | "renameSync">;

export interface OverlayOptions {
  fs: OverlayFs;
  /** Where `blocks/<index>` files go. */
  dir: string;
  size: number;
  /**
   * Copies `n` bytes of a block's content before any write, from `within`
   * the block, into `into` at `at`; leaves zeros there (does nothing) for a
   * block that has none.
   */
  readBase: (block: number, into: Uint8Array, at: number, within: number, n: number) => void;
}

const OPEN_BLOCKS = 16;

/**
 * A volume in 512 KiB blocks over a read-only base: reads come from the
 * base until a block is first written; that write copies the block into the
 * overlay's own `blocks/<index>` file (copy-on-write), where later reads and
 * writes go. On disk (EBS) those files persist; in memfs (instance store)
 * they last as long as the worker that holds them.
 */
export class OverlayVolume implements BlockDevice {
  readonly size: number;
  private readonly fs: OverlayFs;
  private readonly blocksDir: string;
  private readonly readBase: OverlayOptions["readBase"];
  private readonly written: Set<number>;
  private readonly fds = new Map<number, number>();

  constructor(o: OverlayOptions) {
    this.fs = o.fs;
    this.size = o.size;
    this.readBase = o.readBase;
    this.blocksDir = path.posix.join(o.dir, "blocks");
    this.fs.mkdirSync(this.blocksDir, { recursive: true });
    this.written = new Set(
      (this.fs.readdirSync(this.blocksDir) as string[])
        .map(String)
        .filter((n) => /^\d+$/.test(n))
        .map(Number),
    );
  }

  /** Indexes of the blocks written so far (the copy-on-write overlay). */
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
        this.fs.readSync(this.fd(block), out, at - offset, n, within);
      } else {
        this.readBase(block, out, at - offset, within, n);
      }
      at += n;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset % SECTOR_SIZE !== 0 || offset < 0 || offset + data.length > this.size) {
      throw new Ec2Error("DiskIOError", `write of ${data.length} bytes at ${offset} is outside the ${this.size}-byte volume`, "volumes.overlayVolumeWrite");
    }
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const block = Math.floor(at / CHUNK_SIZE);
      const within = at - block * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - within, data.length - done);
      if (!this.written.has(block)) this.copyUp(block);
      this.fs.writeSync(this.fd(block), data, done, n, within);
      done += n;
    }
  }

  flush(): void {
    for (const fd of this.fds.values()) this.fs.fsyncSync(fd);
  }

  close(): void {
    this.flush();
    for (const fd of this.fds.values()) this.fs.closeSync(fd);
    this.fds.clear();
  }

  /** First write to a block: its base content becomes the overlay's file (temporary name, then rename). */
  private copyUp(block: number): void {
    const file = path.posix.join(this.blocksDir, String(block));
    const bytes = new Uint8Array(CHUNK_SIZE);
    this.readBase(block, bytes, 0, 0, CHUNK_SIZE);
    this.fs.writeFileSync(`${file}.tmp`, bytes);
    this.fs.renameSync(`${file}.tmp`, file);
    this.written.add(block);
  }

  private fd(block: number): number {
    let fd = this.fds.get(block);
    if (fd === undefined) {
      if (this.fds.size >= OPEN_BLOCKS) {
        const [oldest, oldFd] = this.fds.entries().next().value!;
        this.fs.fsyncSync(oldFd);
        this.fs.closeSync(oldFd);
        this.fds.delete(oldest);
      }
      fd = this.fs.openSync(path.posix.join(this.blocksDir, String(block)), "r+");
      this.fds.set(block, fd);
    }
    return fd;
  }
}
