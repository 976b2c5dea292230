import type { MetadataOptions } from "../net/imds.js";
import type { Milestone } from "../boot/timer.js";
import type { Db } from "../store/db.js";
import type { DiskSpec } from "../volumes/open.js";
import { DEFAULT_ATTRIBUTES, type InstanceAttributes } from "./instance-attributes.js";
import type { Tag } from "./tags.js";

export type InstanceState = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";

/** EC2's state codes. */
export const STATE_CODES: Readonly<Record<InstanceState, number>> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 };

/** DescribeInstances' filters: each name and the instance's values for it. */
export const INSTANCE_FILTERS: Record<string, (i: Instance) => (string | undefined)[]> = {
  "instance-id": (i) => [i.instanceId],
  "instance-state-name": (i) => [i.state],
  "instance-state-code": (i) => [String(STATE_CODES[i.state])],
  "image-id": (i) => [i.imageId],
  "instance-type": (i) => [i.instanceType],
  "reservation-id": (i) => [i.reservationId],
  "root-device-type": (i) => [i.rootDeviceType],
  "virtualization-type": (i) => [i.virtualizationType],
  architecture: (i) => [i.architecture],
  "owner-id": (i) => [i.ownerId],
  "availability-zone": (i) => [i.network?.availabilityZone],
  "key-name": (i) => [i.network?.keyName],
  "subnet-id": (i) => [i.network?.subnetId],
  "vpc-id": (i) => [i.network?.vpcId],
  "private-ip-address": (i) => [i.network?.privateIp],
  "ip-address": (i) => [i.network?.publicIp],
  "private-dns-name": (i) => [i.network?.privateDnsName],
  "network-interface.mac-address": (i) => [i.network?.mac],
  "instance.group-id": (i) => i.network?.groups.map((g) => g.id) ?? [],
  "instance.group-name": (i) => i.network?.groups.map((g) => g.name) ?? [],
  "metadata-options.http-tokens": (i) => [i.network?.metadataOptions.httpTokens],
  "metadata-options.http-endpoint": (i) => [i.network?.metadataOptions.httpEndpoint],
};

/** States whose instance has (or is about to have, or is ending) a VM. */
export const ACTIVE_STATES: readonly InstanceState[] = ["pending", "running", "stopping", "shutting-down"];

export interface StateReason {
  code: string;
  message: string;
}

/** A device attached to an instance: an EBS volume it got at launch, or an instance-store disk. */
export interface AttachedDevice {
  deviceName: string;
  volumeId?: string;
  deleteOnTermination?: boolean;
  virtualName?: string;
  attachTime: string;
}

/** An instance's network identity (instance-network.ts gives it at launch). */
export interface InstanceNetwork {
  mac: string;
  privateIp: string;
  privateDnsName: string;
  publicIp: string;
  interfaceId: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  keyName?: string;
  publicKey?: string;
  groups: { id: string; name: string }[];
  metadataOptions: MetadataOptions;
}

export interface Instance {
  instanceId: string;
  reservationId: string;
  region: string;
  ownerId: string;
  imageId: string;
  instanceType: string;
  launchIndex: number;
  state: InstanceState;
  stateReason?: StateReason;
  architecture: string;
  virtualizationType: "hvm" | "paravirtual";
  rootDeviceType: "ebs" | "instance-store";
  rootDeviceName: string;
  devices: AttachedDevice[];
  memoryMiB: number;
  launchTime: string;
  /** The milestones of the current (or last) boot, from the boot timer; `until` is the user-space marker. */
  milestones: Milestone[];
  tags: Tag[];
  attributes: InstanceAttributes;
  /** Absent for instances launched before amiboot gave instances a network. */
  network?: InstanceNetwork;
}

/** What RunInstances stores for one new instance (it starts pending): its facts, the disks it boots and its UserData. */
export type NewInstance = Omit<Instance, "instanceId" | "state" | "stateReason" | "milestones" | "tags"> & {
  id: string;
  disks: DiskSpec[];
  /** Base64. */
  userData?: string;
};

/** What a VM of the instance is booted from. */
export interface BootSource {
  disks: DiskSpec[];
  virtualizationType: "hvm" | "paravirtual";
  memoryMiB: number;
  /** Base64. */
  userData?: string;
}

interface Row {
  id: string;
  reservation_id: string;
  region: string;
  owner_id: string;
  image_id: string;
  instance_type: string;
  launch_index: number;
  state: InstanceState;
  state_reason: string | null;
  architecture: string;
  virtualization_type: "hvm" | "paravirtual";
  root_device_type: "ebs" | "instance-store";
  root_device_name: string;
  devices: string;
  disks: string;
  memory_mib: number;
  user_data: string | null;
  launch_time: string;
  milestones: string;
  attributes: string;
}

/**
 * The `instances` table: SQL and the row <-> Instance mapping, nothing else.
 * Only the lifecycle (instance-lifecycle.ts) calls `setState`.
 */
export class InstanceRecords {
  constructor(private readonly db: Db) {}

  /** Stores a launch's instances in the lifecycle's launch state; `also` runs in the same transaction (their tags). */
  insert(list: NewInstance[], state: InstanceState, also: () => void): void {
    const insert = this.db.prepare(
      `insert into instances (id, reservation_id, region, owner_id, image_id, instance_type, launch_index, state, architecture, virtualization_type,
         root_device_type, root_device_name, devices, disks, memory_mib, user_data, launch_time, milestones, attributes)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?)`,
    );
    this.db.transaction(() => {
      for (const n of list) {
        insert.run(n.id, n.reservationId, n.region, n.ownerId, n.imageId, n.instanceType, n.launchIndex, state, n.architecture, n.virtualizationType,
          n.rootDeviceType, n.rootDeviceName, JSON.stringify(n.devices), JSON.stringify(n.disks), n.memoryMiB, n.userData ?? null, n.launchTime, JSON.stringify(n.attributes));
      }
      also();
    })();
  }

  /** Any instance by id, whoever owns it (in-process callers); undefined when there is none. */
  byId(id: string, tags: Tag[] = []): Instance | undefined {
    const row = this.db.prepare("select * from instances where id = ?").get(id) as Row | undefined;
    return row && toInstance(row, tags);
  }

  /** The caller's instance in `region`, or undefined. */
  find(owner: string, region: string, id: string, tags: Tag[] = []): Instance | undefined {
    const row = this.db.prepare("select * from instances where id = ? and region = ? and owner_id = ?").get(id, region, owner) as Row | undefined;
    return row && toInstance(row, tags);
  }

  /** The caller's instances in `region`, in launch order. */
  list(owner: string, region: string, tagsOf: (ids: string[]) => Map<string, Tag[]>): Instance[] {
    const rows = this.db.prepare("select * from instances where region = ? and owner_id = ? order by launch_time, reservation_id, launch_index").all(region, owner) as Row[];
    const tags = tagsOf(rows.map((r) => r.id));
    return rows.map((row) => toInstance(row, tags.get(row.id) ?? []));
  }

  /** Instances that have, or had when a server stopped, a VM. */
  active(): Instance[] {
    const rows = this.db.prepare(`select * from instances where state in (${ACTIVE_STATES.map(() => "?").join(", ")})`).all(...ACTIVE_STATES) as Row[];
    return rows.map((row) => toInstance(row, []));
  }

  activeCount(): number {
    return (this.db.prepare(`select count(*) as n from instances where state in (${ACTIVE_STATES.map(() => "?").join(", ")})`).get(...ACTIVE_STATES) as { n: number }).n;
  }

  bootSource(id: string): BootSource {
    const row = this.db.prepare("select disks, virtualization_type, memory_mib, user_data from instances where id = ?").get(id) as Pick<Row, "disks" | "virtualization_type" | "memory_mib" | "user_data">;
    return { disks: JSON.parse(row.disks) as DiskSpec[], virtualizationType: row.virtualization_type, memoryMiB: row.memory_mib, ...(row.user_data ? { userData: row.user_data } : {}) };
  }

  setState(id: string, state: InstanceState, reason: StateReason | undefined): void {
    this.db.prepare("update instances set state = ?, state_reason = ? where id = ?").run(state, reason ? JSON.stringify(reason) : null, id);
  }

  /** Rewrites an instance's devices (AttachVolume, DetachVolume: inside their transaction). */
  updateDevices(id: string, change: (devices: AttachedDevice[]) => AttachedDevice[]): void {
    const row = this.db.prepare("select devices from instances where id = ?").get(id) as Pick<Row, "devices">;
    this.db.prepare("update instances set devices = ? where id = ?").run(JSON.stringify(change(JSON.parse(row.devices) as AttachedDevice[])), id);
  }

  /** Rewrites the disks an instance boots from (AttachVolume, DetachVolume, ModifyVolume). */
  updateDisks(id: string, change: (disks: DiskSpec[]) => DiskSpec[]): void {
    this.db.prepare("update instances set disks = ? where id = ?").run(JSON.stringify(change(this.bootSource(id).disks)), id);
  }

  setAttributes(id: string, attributes: InstanceAttributes): void {
    this.db.prepare("update instances set attributes = ? where id = ?").run(JSON.stringify(attributes), id);
  }

  /** ModifyInstanceAttribute instanceType (a stopped instance): the type and the guest memory it gives. */
  setType(id: string, instanceType: string, memoryMiB: number): void {
    this.db.prepare("update instances set instance_type = ?, memory_mib = ? where id = ?").run(instanceType, memoryMiB, id);
  }

  /** ModifyInstanceAttribute userData (a stopped instance), base64; undefined removes it. */
  setUserData(id: string, userData: string | undefined): void {
    this.db.prepare("update instances set user_data = ? where id = ?").run(userData ?? null, id);
  }

  setMilestones(id: string, milestones: Milestone[]): void {
    this.db.prepare("update instances set milestones = ? where id = ?").run(JSON.stringify(milestones), id);
  }
}

function toInstance(row: Row, tags: Tag[]): Instance {
  return {
    instanceId: row.id,
    reservationId: row.reservation_id,
    region: row.region,
    ownerId: row.owner_id,
    imageId: row.image_id,
    instanceType: row.instance_type,
    launchIndex: row.launch_index,
    state: row.state,
    ...(row.state_reason ? { stateReason: JSON.parse(row.state_reason) as StateReason } : {}),
    architecture: row.architecture,
    virtualizationType: row.virtualization_type,
    rootDeviceType: row.root_device_type,
    rootDeviceName: row.root_device_name,
    devices: JSON.parse(row.devices) as AttachedDevice[],
    memoryMiB: row.memory_mib,
    launchTime: row.launch_time,
    milestones: JSON.parse(row.milestones) as Milestone[],
    tags,
    attributes: { ...DEFAULT_ATTRIBUTES, ...(JSON.parse(row.attributes) as Partial<InstanceAttributes>) },
  };
}
