import fs from "node:fs";
import { Ec2Error } from "../errors.js";
import { SECTOR_SIZE, type BlockDevice } from "./block-device.js";

/**
 * A raw disk image file opened read-only, with the guest's writes kept in a
 * copy-on-write overlay in memory: booting an image never changes it.
 */
export class RawFileDevice implements BlockDevice {
  readonly size: number;
  private readonly fd: number;
  /** Written sectors by sector number. */
  private readonly overlay = new Map<number, Uint8Array>();

  constructor(readonly path: string) {
    try {
      this.fd = fs.openSync(path, "r");
      // Sizes that are not whole sectors are rounded down; the tail is unreachable.
      this.size = Math.floor(fs.fstatSync(this.fd).size / SECTOR_SIZE) * SECTOR_SIZE;
    } catch (err) {
      throw new Ec2Error("InvalidDiskImage.Unreadable", `cannot open disk image '${path}': ${(err as Error).message}`, "volumes.rawFileOpen");
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const end = Math.min(offset + length, this.size);
    let done = 0;
    while (offset + done < end) {
      const n = fs.readSync(this.fd, out, done, end - offset - done, offset + done);
      if (n === 0) {
        throw new Ec2Error("DiskIOError", `disk image '${this.path}' ended at byte ${offset + done} (expected ${this.size} bytes): was it truncated while in use?`, "volumes.rawFileRead");
      }
      done += n;
    }
    if (this.overlay.size > 0) this.applyOverlay(offset, out);
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset % SECTOR_SIZE !== 0 || data.length % SECTOR_SIZE !== 0 || offset + data.length > this.size) {
      throw new Ec2Error("DiskIOError", `unaligned or out-of-range write of ${data.length} bytes at ${offset}`, "volumes.rawFileWrite");
    }
    for (let i = 0; i < data.length; i += SECTOR_SIZE) {
      this.overlay.set((offset + i) / SECTOR_SIZE, data.slice(i, i + SECTOR_SIZE));
    }
  }

  flush(): void {
    // The overlay is memory only: nothing to make durable.
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private applyOverlay(offset: number, out: Uint8Array): void {
    const first = Math.floor(offset / SECTOR_SIZE);
    const last = Math.ceil((offset + out.length) / SECTOR_SIZE);
    for (let s = first; s < last; s++) {
      const sector = this.overlay.get(s);
      if (!sector) continue;
      const at = s * SECTOR_SIZE - offset;
      const from = Math.max(0, -at);
      const to = Math.min(SECTOR_SIZE, out.length - at);
      out.set(sector.subarray(from, to), at + from);
    }
  }
}
