import { Ec2Error } from "../errors.js";
import type { BlockDevice } from "../volumes/block-device.js";

/**
 * A BlockDevice shaped as v86's disk seam (byteLength, load, get, set): the
 * one place v86 touches a volume. A machine prepared ahead of its launch
 * (`Vm.prepare`) gets its disk only when it launches (`attach`).
 */
export class V86Disk {
  onload: ((e: object) => void) | undefined;
  onprogress: ((e: object) => void) | undefined;

  constructor(
    private device: BlockDevice | undefined,
    readonly byteLength: number = device?.size ?? 0,
  ) {}

  /** Gives a prepared machine its disk: a volume of the size the saved state was made with. */
  attach(device: BlockDevice): void {
    if (device.size !== this.byteLength) {
      throw new Ec2Error("InvalidParameterValue", `a prepared machine has a disk of ${this.byteLength} bytes, the launch one of ${device.size}`, "boot.v86Disk");
    }
    this.device = device;
  }

  load(): void {
    this.onload?.(Object.create(null));
  }

  get(start: number, len: number, fn: (bytes: Uint8Array) => void): void {
    fn(this.read(start, len));
  }

  // v86 0.5 reads the MBR through these two before the BIOS runs (disk geometry).
  get_and_cache(start: number, len: number, fn: (bytes: Uint8Array) => void): void {
    this.get(start, len, fn);
  }

  get_from_cache(start: number, len: number): Uint8Array {
    return this.read(start, len);
  }

  set(start: number, bytes: Uint8Array, fn: () => void): void {
    if (!this.device) throw new Ec2Error("VmStartFailed", "the guest wrote to a disk before its launch attached it", "boot.v86Disk");
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

  /**
   * Before its launch only v86's IDE device reads, once, as it is built: the
   * MBR, to guess a geometry that the restored state then replaces. It sees
   * a blank sector; the guest never runs without its disk.
   */
  private read(start: number, len: number): Uint8Array {
    return this.device ? this.device.read(start, len) : new Uint8Array(len);
  }
}
