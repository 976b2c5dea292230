import type { BlockDevice } from "../volumes/block-device.js";
import { guestFsError } from "./errors.js";

/** Little-endian field reads that never throw a RangeError: a short buffer is corruption. */
export class Le {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    private readonly op: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(at: number): number {
    this.check(at, 1);
    return this.view.getUint8(at);
  }

  u16(at: number): number {
    this.check(at, 2);
    return this.view.getUint16(at, true);
  }

  u32(at: number): number {
    this.check(at, 4);
    return this.view.getUint32(at, true);
  }

  /** A 64-bit field as a number; values past 2^53 are corruption here. */
  u64(at: number): number {
    this.check(at, 8);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw guestFsError("Corrupt", `64-bit field at ${at} is too large (${v})`, this.op);
    return Number(v);
  }

  slice(at: number, length: number): Uint8Array {
    this.check(at, length);
    return this.bytes.subarray(at, at + length);
  }

  private check(at: number, length: number): void {
    if (at < 0 || length < 0 || at + length > this.bytes.length) {
      throw guestFsError("Corrupt", `field at ${at} (+${length}) lies outside a ${this.bytes.length}-byte structure`, this.op);
    }
  }
}

/** Reads `length` bytes at `offset`, refusing anything outside the device. */
export function readChecked(dev: BlockDevice, offset: number, length: number, op: string): Uint8Array {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > dev.size) {
    throw guestFsError("OutOfBounds", `read of ${length} bytes at ${offset} is outside the ${dev.size}-byte device`, op);
  }
  return dev.read(offset, length);
}

/** A window of a device (a partition), read-only. */
export class DeviceWindow implements BlockDevice {
  constructor(
    private readonly parent: BlockDevice,
    readonly start: number,
    readonly size: number,
  ) {
    if (start < 0 || size < 0 || start + size > parent.size) {
      throw guestFsError("OutOfBounds", `partition at ${start} (+${size} bytes) runs past the ${parent.size}-byte disk`, "guestfs.deviceWindow");
    }
  }

  read(offset: number, length: number): Uint8Array {
    if (offset + length > this.size) {
      const out = new Uint8Array(length);
      if (offset < this.size) out.set(this.parent.read(this.start + offset, this.size - offset));
      return out;
    }
    return this.parent.read(this.start + offset, length);
  }

  write(): void {
    throw guestFsError("Unsupported", "guest filesystems are opened read-only", "guestfs.deviceWindowWrite");
  }

  flush(): void {}

  close(): void {}
}

/** Bytes as Latin-1 text up to the first NUL. */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString("latin1");
}
