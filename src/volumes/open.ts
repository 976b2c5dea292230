import type { BlockDevice } from "./block-device.js";
import { unbundle } from "./bundle.js";
import { EbsVolume } from "./ebs-volume.js";
import { InstanceStoreVolume } from "./instance-store.js";
import { RawFileDevice } from "./raw-file.js";

/**
 * A disk as plain data: what crosses to a worker, which opens the device
 * itself and reads its chunks with no round trip to the main thread.
 */
export type DiskSpec =
  /** A raw image file, read-only; the guest's writes stay in memory. */
  | { kind: "raw-file"; path: string; size: number }
  /** An EBS volume of the store at `home`; the guest's writes persist in it. */
  | { kind: "ebs"; home: string; volumeId: string; size: number }
  /** An instance-store root: the bundle is unbundled and verified by the worker, held in its memory. */
  | { kind: "instance-store"; manifestPath: string; size: number }
  /** A blank instance-store disk (ephemeralN), in the worker's memory. */
  | { kind: "ephemeral"; name: string; size: number };

export function openDisk(spec: DiskSpec): BlockDevice {
  switch (spec.kind) {
    case "raw-file":
      return new RawFileDevice(spec.path);
    case "ebs":
      return EbsVolume.open(spec.home, spec.volumeId);
    case "instance-store":
      return InstanceStoreVolume.fromImage(unbundle(spec.manifestPath));
    case "ephemeral":
      return InstanceStoreVolume.blank(spec.size);
  }
}

/** How a disk is named to people: its file, volume id, bundle or ephemeral name. */
export function diskName(spec: DiskSpec): string {
  switch (spec.kind) {
    case "raw-file":
      return spec.path;
    case "ebs":
      return spec.volumeId;
    case "instance-store":
      return spec.manifestPath;
    case "ephemeral":
      return spec.name;
  }
}
