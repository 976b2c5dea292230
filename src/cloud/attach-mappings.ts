import { Ec2Error } from "../errors.js";
import type { ResolvedDevice } from "./block-device-mappings.js";
import type { DiskSpec } from "../volumes/open.js";
import type { VolumeStore } from "../volumes/store.js";

const GiB = 1024 ** 3;

/** What a launch attaches: the disks in v86's order, and the EBS volumes it created for them. */
export interface AttachedDisks {
  disks: DiskSpec[];
  volumes: { deviceName: string; volumeId: string; deleteOnTermination: boolean }[];
}

/**
 * Turns a resolved block device mapping (root first) into disks: a new EBS
 * volume per Ebs device (from its snapshot, at the mapping's size), the
 * bundle for an instance-store root, a blank in-memory disk per ephemeralN.
 * If any step fails, the volumes already created are deleted again.
 */
export function attachMapping(resolved: ResolvedDevice[], store: VolumeStore, options: { bundleManifest?: string; bundleSize?: number; ephemeralGiB?: number } = {}): AttachedDisks {
  const out: AttachedDisks = { disks: [], volumes: [] };
  try {
    for (const d of resolved) {
      if (d.kind === "ebs") {
        const v = store.createVolume({ ...(d.snapshotId ? { snapshotId: d.snapshotId } : {}), sizeBytes: d.sizeGiB * GiB });
        out.disks.push({ kind: "ebs", home: store.home, volumeId: v.id, size: v.size });
        out.volumes.push({ deviceName: d.deviceName, volumeId: v.id, deleteOnTermination: d.deleteOnTermination });
      } else if (d.index < 0) {
        if (!options.bundleManifest || options.bundleSize === undefined) {
          throw new Ec2Error("InvalidBlockDeviceMapping", `the root ${d.deviceName} is an instance-store root, but no bundle was given`, "cloud.attachMapping");
        }
        out.disks.push({ kind: "instance-store", manifestPath: options.bundleManifest, size: options.bundleSize });
      } else {
        out.disks.push({ kind: "ephemeral", name: d.virtualName, size: (d.sizeGiB ?? options.ephemeralGiB ?? 1) * GiB });
      }
    }
  } catch (err) {
    for (const v of out.volumes) store.deleteVolume(v.volumeId);
    throw err;
  }
  return out;
}
