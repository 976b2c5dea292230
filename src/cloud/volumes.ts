import type { Db } from "../store/db.js";
import { Ec2Error } from "../errors.js";
import type { VolumeStore } from "../volumes/store.js";
import type { AttachedDevice } from "./instance-records.js";

/**
 * EBS volumes as EC2 sees them: the store holds their blocks, the instance
 * records say who uses them. A volume attached to an instance that has not
 * terminated (running or stopped alike) cannot be deleted, as in EC2.
 */
export class Volumes {
  constructor(
    private readonly db: Db,
    private readonly store: VolumeStore,
  ) {}

  /** The instance a volume is attached to, unless that instance has terminated. */
  attachedTo(volumeId: string): { instanceId: string; deviceName: string } | undefined {
    const rows = this.db.prepare("select id, devices from instances where state != 'terminated'").all() as { id: string; devices: string }[];
    for (const row of rows) {
      const device = (JSON.parse(row.devices) as AttachedDevice[]).find((d) => d.volumeId === volumeId);
      if (device) return { instanceId: row.id, deviceName: device.deviceName };
    }
    return undefined;
  }

  /** Deletes a volume and the chunks only it used; `VolumeInUse` while an instance has it. */
  delete(volumeId: string, op = "cloud.deleteVolume"): { freedChunks: number } {
    this.store.getVolume(volumeId);
    const user = this.attachedTo(volumeId);
    if (user) throw new Ec2Error("VolumeInUse", `Volume ${volumeId} is currently attached to ${user.instanceId}`, op);
    return this.store.deleteVolume(volumeId);
  }
}
