/**
 * The one block-device interface every volume implements (as small as v86's
 * disk seam). Synchronous on purpose: a device lives inside the worker that
 * runs its VM, and v86 asks for sectors from inside its emulation loop.
 */
export interface BlockDevice {
  /** Size in bytes, a multiple of 512. */
  readonly size: number;
  /** Reads `length` bytes at `offset`; bytes past the end read as zeros. */
  read(offset: number, length: number): Uint8Array;
  /** Writes `data` at `offset`; must lie within `size`. */
  write(offset: number, data: Uint8Array): void;
  /** Makes earlier writes durable where the device has durability. */
  flush(): void;
  close(): void;
}

export const SECTOR_SIZE = 512;
