import type { VolumeStore } from "../volumes/store.js";
import type { BlockDeviceMapping } from "./block-device-mappings.js";
import type { Instance } from "./instance-records.js";
import type { Snapshots } from "./snapshots.js";

/** What CreateImage maps: the instance, the new image's name, and the request's own mappings. */
export interface ImageMappingsRequest {
  caller: string;
  region: string;
  instance: Instance;
  name: string;
  /** Devices the request suppresses (`NoDevice`). */
  removed: ReadonlySet<string>;
  requested: readonly BlockDeviceMapping[];
  /** Receives each snapshot id as it is made, so that a caller whose transaction fails can delete their blocks. */
  made: string[];
}

/**
 * CreateImage's block device mapping: a snapshot of each EBS volume the
 * instance has (not suppressed), sized at least as the volume and keeping its
 * DeleteOnTermination, then the request's further mappings. Runs inside the
 * caller's transaction.
 */
export function imageMappings(snapshots: Snapshots, volumes: VolumeStore, r: ImageMappingsRequest): BlockDeviceMapping[] {
  const i = r.instance;
  const mappings: BlockDeviceMapping[] = [];
  for (const d of i.devices) {
    if (!d.volumeId || r.removed.has(d.deviceName)) continue;
    const snap = snapshots.ofVolume(r.caller, r.region, d.volumeId, `Created by CreateImage(${i.instanceId}) for ${r.name} from ${d.volumeId}`);
    r.made.push(snap.snapshotId);
    const sizeGiB = Math.max(snap.volumeSize, Math.ceil(volumes.getVolume(d.volumeId).size / 1024 ** 3));
    mappings.push({ DeviceName: d.deviceName, Ebs: { SnapshotId: snap.snapshotId, VolumeSize: sizeGiB, DeleteOnTermination: d.deleteOnTermination ?? false } });
  }
  for (const m of r.requested) if (m.NoDevice === undefined && !mappings.some((x) => x.DeviceName === m.DeviceName)) mappings.push(m);
  return mappings;
}
