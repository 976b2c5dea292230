import type { BlockDevice } from "../volumes/block-device.js";

/**
 * A BlockDevice shaped as v86's disk seam (byteLength, load, get, set): the
 * one place v86 touches a volume.
 */
export class V86Disk {
  onload: ((e: object) => void) | undefined;
  onprogress: ((e: object) => void) | undefined;

  constructor(private readonly device: BlockDevice) {}

  get byteLength(): number {
    return this.device.size;
  }

  load(): void {
    this.onload?.(Object.create(null));
  }

  get(start: number, len: number, fn: (bytes: Uint8Array) => void): void {
    fn(this.device.read(start, len));
  }

  // v86 0.5 reads the MBR through these two before the BIOS runs (disk geometry).
  get_and_cache(start: number, len: number, fn: (bytes: Uint8Array) => void): void {
    this.get(start, len, fn);
  }

  get_from_cache(start: number, len: number): Uint8Array {
    return this.device.read(start, len);
  }

  set(start: number, bytes: Uint8Array, fn: () => void): void {
    this.device.write(start, bytes);
    fn();
  }

  // v86 asks for these when saving state and for whole-buffer access; a
  // volume keeps its own writes, so there is nothing to put in a state.
  get_buffer(fn: (buffer?: ArrayBuffer) => void): void {
    fn(undefined);
  }

  get_state(): unknown[] {
    return [];
  }

  set_state(_state: unknown[]): void {}
}
