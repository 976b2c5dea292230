import type { BlockDevice } from "./block-device.js";
import { EbsVolume } from "./ebs-volume.js";
import { RawFileDevice } from "./raw-file.js";

/**
 * A disk as plain data: what crosses to a worker, which opens the device
 * itself and reads its chunks with no round trip to the main thread.
 */
export type DiskSpec =
  /** A raw image file, read-only; the guest's writes stay in memory. */
  | { kind: "raw-file"; path: string; size: number }
  /** An EBS volume of the store at `home`; the guest's writes persist in it. */
  | { kind: "ebs"; home: string; volumeId: string; size: number };

export function openDisk(spec: DiskSpec): BlockDevice {
  switch (spec.kind) {
    case "raw-file":
      return new RawFileDevice(spec.path);
    case "ebs":
      return EbsVolume.open(spec.home, spec.volumeId);
  }
}
