import { Ec2Error } from "../errors.js";
import { isId } from "../ids.js";
import type { Db } from "../store/db.js";
import type { VolumeStore } from "../volumes/store.js";
import { checkVolumeSize, DEFAULT_MAX_DISKS, DEFAULT_VOLUME_TYPE, VOLUME_TYPES, volumeIops, type VolumeType } from "./block-device-mappings.js";
import { filterPredicate, paginate, type PageRequest } from "./filters.js";
import { InstanceRecords, type AttachedDevice, type Instance } from "./instance-records.js";
import { availabilityZones } from "./networks.js";
import type { Snapshots } from "./snapshots.js";
import { checkTags, type Tag, type Tags } from "./tags.js";

const GiB = 1024 ** 3;


export interface VolumeAttachment {
  volumeId: string;
  instanceId: string;
  device: string;
  state: "attached";
  attachTime: string;
  deleteOnTermination: boolean;
}

/** An EBS volume as DescribeVolumes shows it. */
export interface Volume {
  volumeId: string;
  region: string;
  ownerId: string;
  availabilityZone: string;
  /** GiB. */
  size: number;
  snapshotId?: string;
  volumeType: VolumeType;
  iops?: number;
  createTime: string;
  /** in-use while an instance that has not terminated has it, as EC2 says. */
  state: "available" | "in-use";
  attachments: VolumeAttachment[];
  tags: Tag[];
}

export interface CreateVolumeRequest {
  availabilityZone?: string;
  snapshotId?: string;
  /** GiB. */
  size?: number;
  volumeType?: string;
  iops?: number;
  tags: Tag[];
}

export interface DescribeVolumesRequest extends PageRequest {
  volumeIds: string[];
}

interface Row {
  id: string;
  region: string;
  owner_id: string;
  zone: string;
  volume_type: VolumeType;
  iops: number | null;
  snapshot_id: string | null;
  created_at: string;
}

const FIELDS: Record<string, (v: Volume) => (string | undefined)[]> = {
  "volume-id": (v) => [v.volumeId],
  "availability-zone": (v) => [v.availabilityZone],
  "create-time": (v) => [v.createTime],
  size: (v) => [String(v.size)],
  "snapshot-id": (v) => [v.snapshotId],
  status: (v) => [v.state],
  "volume-type": (v) => [v.volumeType],
  "attachment.instance-id": (v) => v.attachments.map((a) => a.instanceId),
  "attachment.device": (v) => v.attachments.map((a) => a.device),
  "attachment.status": (v) => v.attachments.map((a) => a.state),
  "attachment.attach-time": (v) => v.attachments.map((a) => a.attachTime),
  "attachment.delete-on-termination": (v) => v.attachments.map((a) => String(a.deleteOnTermination)),
};

/**
 * EBS volumes as EC2 sees them: the store holds their blocks, the `volumes`
 * table whose they are, where and of which type, and the instance records
 * who uses them (an attachment is a device of an instance that has not
 * terminated, so it can never disagree with what the instance boots).
 */
export class Volumes {
  private readonly instances: InstanceRecords;

  constructor(
    private readonly db: Db,
    readonly store: VolumeStore,
    private readonly snapshots: Snapshots,
    private readonly tags: Tags,
  ) {
    this.instances = new InstanceRecords(db);
  }

  /** Records volumes a launch just made in the store (inside the launch's transaction), gp2 as EC2's default. */
  record(owner: string, region: string, zone: string, volumeIds: string[]): void {
    const insert = this.db.prepare("insert into volumes (id, region, owner_id, zone, volume_type, iops, snapshot_id, created_at) values (?, ?, ?, ?, ?, null, ?, ?)");
    for (const id of volumeIds) {
      const v = this.store.getVolume(id);
      insert.run(v.id, region, owner, zone, DEFAULT_VOLUME_TYPE, v.snapshotId ?? null, v.createdAt);
    }
  }

  /**
   * At server start: the volumes of instances launched before volumes had
   * records get one (gp2, in the instance's zone), so that they can be
   * described, tagged and deleted like any other.
   */
  adoptUnrecorded(): number {
    const rows = this.db
      .prepare("select i.id, i.region, i.owner_id, i.devices, n.zone from instances i left join instance_networks n on n.instance_id = i.id")
      .all() as { id: string; region: string; owner_id: string; devices: string; zone: string | null }[];
    const known = this.db.prepare("select 1 from volumes where id = ?").pluck();
    // Only devices without a record are looked up in the store (once adopted, a start reads no volume file).
    let adopted = 0;
    this.db.transaction(() => {
      for (const row of rows) {
        for (const d of JSON.parse(row.devices) as AttachedDevice[]) {
          if (!d.volumeId || known.get(d.volumeId) !== undefined || !this.store.hasVolume(d.volumeId)) continue;
          this.record(row.owner_id, row.region, row.zone ?? availabilityZones(row.region)[0]!, [d.volumeId]);
          adopted++;
        }
      }
    })();
    return adopted;
  }

  /** CreateVolume: from one of the caller's snapshots, or empty; its tags in the same transaction. */
  create(caller: string, region: string, r: CreateVolumeRequest): Volume {
    const op = "CreateVolume";
    if (r.availabilityZone === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter AvailabilityZone", op);
    if (!availabilityZones(region).includes(r.availabilityZone)) {
      throw new Ec2Error("InvalidParameterValue", `Invalid availability zone: [${r.availabilityZone}]`, op);
    }
    const volumeType = checkType(r.volumeType ?? DEFAULT_VOLUME_TYPE, op);
    const snapshot = r.snapshotId !== undefined ? this.snapshots.usable(caller, region, r.snapshotId, op) : undefined;
    if (r.size === undefined && !snapshot) throw new Ec2Error("MissingParameter", "The request must contain the parameter size or snapshotId", op);
    const size = r.size ?? snapshot!.volumeSize;
    checkVolumeSize(volumeType, size, op);
    if (snapshot && size < snapshot.volumeSize) {
      throw new Ec2Error("InvalidParameterValue", `Volume of size ${size}GB is smaller than snapshot '${snapshot.snapshotId}', expect size >= ${snapshot.volumeSize}GB`, op);
    }
    const iops = volumeIops(volumeType, r.iops, op);
    checkTags(r.tags, op);
    const v = this.store.createVolume({ ...(snapshot ? { snapshotId: snapshot.snapshotId } : {}), sizeBytes: size * GiB });
    try {
      this.db.transaction(() => {
        this.db
          .prepare("insert into volumes (id, region, owner_id, zone, volume_type, iops, snapshot_id, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)")
          .run(v.id, region, caller, r.availabilityZone, volumeType, iops ?? null, snapshot?.snapshotId ?? null, v.createdAt);
        if (r.tags.length > 0) this.tags.set([v.id], r.tags, op);
      })();
    } catch (err) {
      this.store.deleteVolume(v.id);
      throw err;
    }
    return this.get(caller, region, v.id, op);
  }

  /** One of the caller's volumes in `region`, or EC2's error for it. */
  get(caller: string, region: string, id: string, op: string): Volume {
    if (!isId(id, "vol")) throw malformed(id, op);
    const row = this.db.prepare("select * from volumes where id = ? and region = ? and owner_id = ?").get(id, region, caller) as Row | undefined;
    if (!row) throw notFound([id], op);
    return this.toVolume(row, this.attachments(caller, region), this.tags.of(id));
  }

  describe(caller: string, region: string, r: DescribeVolumesRequest): { volumes: Volume[]; nextToken?: string } {
    const op = "DescribeVolumes";
    for (const id of r.volumeIds) if (!isId(id, "vol")) throw malformed(id, op);
    const rows = this.db.prepare("select * from volumes where region = ? and owner_id = ? order by created_at, id").all(region, caller) as Row[];
    const attachments = this.attachments(caller, region);
    const tags = this.tags.ofMany(rows.map((row) => row.id));
    let list = rows.map((row) => this.toVolume(row, attachments, tags.get(row.id) ?? []));
    if (r.volumeIds.length > 0) {
      const missing = r.volumeIds.filter((id) => !list.some((v) => v.volumeId === id));
      if (missing.length > 0) throw notFound(missing, op);
      list = list.filter((v) => r.volumeIds.includes(v.volumeId));
    }
    list = list.filter(filterPredicate(FIELDS, (v) => v.tags, r.filters, op));
    const page = paginate(list, r.maxResults, r.nextToken, op);
    return { volumes: page.items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  /** The ids of the caller's volumes in `region` (DescribeTags). */
  ids(caller: string, region: string): string[] {
    return this.db.prepare("select id from volumes where region = ? and owner_id = ?").pluck().all(region, caller) as string[];
  }

  /**
   * DeleteVolume: `VolumeInUse` while an instance that has not terminated
   * has it. The record and tags go first, then the blocks.
   */
  delete(caller: string, region: string, id: string, op = "DeleteVolume"): void {
    const v = this.get(caller, region, id, op);
    if (v.attachments.length > 0) throw new Ec2Error("VolumeInUse", `Volume ${id} is currently attached to ${v.attachments[0]!.instanceId}`, op);
    this.db.transaction(() => this.forget(id))();
    this.store.deleteVolume(id);
  }

  /**
   * `amiboot volume delete` (offline, the server stopped): any volume of the
   * store, whoever owns it, unless an instance that has not terminated has it.
   */
  deleteLocal(volumeId: string, op: string): { freedChunks: number } {
    this.store.getVolume(volumeId);
    const user = attachmentsOf(this.db.prepare("select id, devices from instances where state != 'terminated'").all() as DeviceRow[]).get(volumeId);
    if (user) throw new Ec2Error("VolumeInUse", `Volume ${volumeId} is currently attached to ${user.instanceId}`, op);
    this.db.transaction(() => this.forget(volumeId))();
    return this.store.deleteVolume(volumeId);
  }

  /** Deletes a volume's record and tags (inside the caller's transaction); its blocks go with `store.deleteVolume` after. */
  forget(id: string): void {
    this.db.prepare("delete from volumes where id = ?").run(id);
    this.tags.forget(id);
  }

  /** ModifyVolume: a bigger size, another type or IOPS; a size takes effect at the next start of an instance using it. */
  modify(caller: string, region: string, id: string, r: { size?: number; volumeType?: string; iops?: number }): { before: Volume; after: Volume } {
    const op = "ModifyVolume";
    const before = this.get(caller, region, id, op);
    if (r.size === undefined && r.volumeType === undefined && r.iops === undefined) {
      throw new Ec2Error("InvalidParameterCombination", "At least one of Size, VolumeType or Iops must be given", op);
    }
    const volumeType = checkType(r.volumeType ?? before.volumeType, op);
    const size = r.size ?? before.size;
    checkVolumeSize(volumeType, size, op);
    if (size < before.size) throw new Ec2Error("InvalidParameterValue", `New size cannot be smaller than existing size (${size}GiB < ${before.size}GiB)`, op);
    const iops = volumeIops(volumeType, r.iops ?? (volumeType === before.volumeType ? before.iops : undefined), op);
    const running = before.attachments.map((a) => this.instances.byId(a.instanceId)).find((i) => i && i.state !== "stopped");
    if (running && size > before.size) {
      throw new Ec2Error("IncorrectInstanceState", `Volume ${id} is attached to ${running.instanceId}, which is ${running.state}: amiboot cannot resize a running VM's disk; stop the instance first`, op);
    }
    this.db.transaction(() => {
      this.db.prepare("update volumes set volume_type = ?, iops = ? where id = ?").run(volumeType, iops ?? null, id);
      if (size > before.size) {
        this.store.resizeVolume(id, size * GiB);
        for (const a of before.attachments) this.instances.updateDisks(a.instanceId, (disks) => disks.map((d) => (d.kind === "ebs" && d.volumeId === id ? { ...d, size: size * GiB } : d)));
      }
    })();
    return { before, after: this.get(caller, region, id, op) };
  }

  /**
   * AttachVolume: to a stopped instance in the volume's zone, as its next
   * disk (v86 cannot hot-plug a disk, so a running instance is
   * `IncorrectInstanceState`; the guest sees the volume from its next start).
   */
  attach(caller: string, region: string, r: { volumeId: string; instanceId: string; device: string }): VolumeAttachment {
    const op = "AttachVolume";
    const v = this.get(caller, region, r.volumeId, op);
    const i = this.instanceOf(caller, region, r.instanceId, op);
    if (v.attachments.length > 0) throw new Ec2Error("VolumeInUse", `${v.volumeId} is already attached to an instance`, op);
    if (i.state !== "stopped") {
      throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is ${i.state}: amiboot attaches volumes to stopped instances only (v86 cannot hot-plug a disk); stop it first`, op);
    }
    const zone = this.zoneOf(i);
    if (zone !== v.availabilityZone) {
      throw new Ec2Error("InvalidVolume.ZoneMismatch", `The volume '${v.volumeId}' is not in the same availability zone as instance '${i.instanceId}'`, op);
    }
    if (!/^\/dev\/(sd|xvd)[b-z]$/.test(r.device)) throw new Ec2Error("InvalidParameterValue", `Value (${r.device}) for parameter device is invalid. ${r.device} is not a valid EBS device name.`, op);
    if (i.devices.some((d) => d.deviceName === r.device)) throw new Ec2Error("InvalidParameterValue", `Invalid value '${r.device}' for unixDevice. Attachment point ${r.device} is already in use`, op);
    const disks = this.instances.bootSource(i.instanceId).disks;
    if (disks.length >= DEFAULT_MAX_DISKS) {
      throw new Ec2Error("AttachmentLimitExceeded", `The instance '${i.instanceId}' has ${disks.length} disks; a v86 VM has at most ${DEFAULT_MAX_DISKS} (one IDE controller)`, op);
    }
    const attachTime = new Date().toISOString();
    this.db.transaction(() => {
      this.instances.updateDevices(i.instanceId, (devices) => [...devices, { deviceName: r.device, volumeId: v.volumeId, deleteOnTermination: false, attachTime }]);
      this.instances.updateDisks(i.instanceId, (list) => [...list, { kind: "ebs", home: this.store.home, volumeId: v.volumeId, size: v.size * GiB }]);
    })();
    return { volumeId: v.volumeId, instanceId: i.instanceId, device: r.device, state: "attached", attachTime, deleteOnTermination: false };
  }

  /** DetachVolume: from a stopped instance; never its root device (`OperationNotPermitted`). */
  detach(caller: string, region: string, r: { volumeId: string; instanceId?: string; device?: string }): VolumeAttachment {
    const op = "DetachVolume";
    const v = this.get(caller, region, r.volumeId, op);
    const a = v.attachments[0];
    if (!a || (r.instanceId !== undefined && r.instanceId !== a.instanceId)) {
      throw new Ec2Error("IncorrectState", `Volume '${v.volumeId}' is in the 'available' state${r.instanceId ? ` or not attached to ${r.instanceId}` : ""}.`, op);
    }
    if (r.device !== undefined && r.device !== a.device) throw new Ec2Error("InvalidAttachment.NotFound", `The volume '${v.volumeId}' is not attached as ${r.device}`, op);
    const i = this.instances.byId(a.instanceId)!;
    if (a.device === i.rootDeviceName) throw new Ec2Error("OperationNotPermitted", `Cannot detach root volume '${v.volumeId}' from instance '${i.instanceId}'`, op);
    if (i.state !== "stopped") {
      throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is ${i.state}: amiboot detaches volumes from stopped instances only (v86 cannot unplug a disk); stop it first`, op);
    }
    this.db.transaction(() => {
      this.instances.updateDevices(i.instanceId, (devices) => devices.filter((d) => d.volumeId !== v.volumeId));
      this.instances.updateDisks(i.instanceId, (disks) => disks.filter((d) => !(d.kind === "ebs" && d.volumeId === v.volumeId)));
    })();
    return a;
  }

  private instanceOf(caller: string, region: string, id: string, op: string): Instance {
    if (!isId(id, "i")) throw new Ec2Error("InvalidInstanceID.Malformed", `Invalid id: "${id}" (expecting "i-...")`, op);
    const i = this.instances.find(caller, region, id);
    if (!i || i.state === "terminated") throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`, op);
    return i;
  }

  private zoneOf(i: Instance): string {
    const row = this.db.prepare("select zone from instance_networks where instance_id = ?").get(i.instanceId) as { zone: string } | undefined;
    return row?.zone ?? availabilityZones(i.region)[0]!;
  }

  /** Every attachment in the caller's region: the volume devices of instances that have not terminated. */
  private attachments(caller: string, region: string): Map<string, VolumeAttachment> {
    return attachmentsOf(this.db.prepare("select id, devices from instances where region = ? and owner_id = ? and state != 'terminated'").all(region, caller) as DeviceRow[]);
  }

  private toVolume(row: Row, attachments: Map<string, VolumeAttachment>, tags: Tag[]): Volume {
    const a = attachments.get(row.id);
    return {
      volumeId: row.id,
      region: row.region,
      ownerId: row.owner_id,
      availabilityZone: row.zone,
      size: Math.max(1, Math.ceil(this.store.getVolume(row.id).size / GiB)),
      ...(row.snapshot_id !== null ? { snapshotId: row.snapshot_id } : {}),
      volumeType: row.volume_type,
      ...(row.iops !== null ? { iops: row.iops } : {}),
      createTime: row.created_at,
      state: a ? "in-use" : "available",
      attachments: a ? [a] : [],
      tags,
    };
  }
}

interface DeviceRow {
  id: string;
  devices: string;
}

/** The volume attachments of instances' device lists, by volume id. */
function attachmentsOf(rows: DeviceRow[]): Map<string, VolumeAttachment> {
  const out = new Map<string, VolumeAttachment>();
  for (const row of rows) {
    for (const d of JSON.parse(row.devices) as AttachedDevice[]) {
      if (d.volumeId) out.set(d.volumeId, { volumeId: d.volumeId, instanceId: row.id, device: d.deviceName, state: "attached", attachTime: d.attachTime, deleteOnTermination: d.deleteOnTermination ?? false });
    }
  }
  return out;
}

function checkType(type: string, op: string): VolumeType {
  if (!(VOLUME_TYPES as readonly string[]).includes(type)) {
    throw new Ec2Error("InvalidParameterValue", `Value (${type}) for parameter volumeType is invalid. Valid types: ${VOLUME_TYPES.join(", ")}`, op);
  }
  return type as VolumeType;
}

function malformed(id: string, op: string): Ec2Error {
  return new Ec2Error("InvalidVolumeID.Malformed", `Invalid id: "${id}" (expecting "vol-...")`, op);
}

function notFound(ids: string[], op: string): Ec2Error {
  return new Ec2Error("InvalidVolume.NotFound", `The volume '${ids.join(", ")}' does not exist.`, op);
}
