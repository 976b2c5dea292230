import { defined } from "../defined.js";
import { Ec2Error } from "../errors.js";
import { isId } from "../ids.js";

/**
 * Block device mappings, resolved the way EC2 resolves them for RegisterImage
 * and RunInstances: syntax checks on each list, then the image's mappings with
 * the launch mappings merged over them by device name, then per-volume rules
 * (snapshot exists, size in the type's range and >= the snapshot, IOPS).
 * Pure logic: snapshot sizes come from the caller.
 *
 * Choices where EC2 leaves room or amiboot differs:
 * - Device names: `/dev/sda1`, `/dev/xvda`, `/dev/sd[b-z]`, `/dev/xvd[b-z]`
 *   only. Partition-style names such as `/dev/sdf1` are refused, as RunInstances
 *   refuses them for HVM ("Invalid device name /dev/sde1").
 * - VolumeType defaults to gp2 (CreateVolume's documented default).
 * - gp3 volumes without Iops get 3000, EC2's documented gp3 baseline.
 * - A launch that changes a device's VolumeType without giving Iops drops the
 *   image's Iops for that device (they belonged to the old type).
 * - v86 has one IDE channel (master and slave), so by default at most two
 *   devices, root included, may be attached.
 */

export const VOLUME_TYPES = ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

export interface EbsSpec {
  SnapshotId?: string;
  /** GiB. */
  VolumeSize?: number;
  VolumeType?: VolumeType;
  Iops?: number;
  DeleteOnTermination?: boolean;
  Encrypted?: boolean;
}

export interface BlockDeviceMapping {
  DeviceName: string;
  Ebs?: EbsSpec;
  /** `ephemeral0` to `ephemeral23`. */
  VirtualName?: string;
  /** Any string (EC2 sends ""): suppresses the device. */
  NoDevice?: string;
}

export interface ResolvedEbsDevice {
  deviceName: string;
  root: boolean;
  kind: "ebs";
  snapshotId?: string;
  sizeGiB: number;
  volumeType: VolumeType;
  iops?: number;
  deleteOnTermination: boolean;
  encrypted: boolean;
}

export interface ResolvedEphemeralDevice {
  deviceName: string;
  root: boolean;
  kind: "ephemeral";
  /** `ephemeralN`, or `ami` for the root of an instance-store image. */
  virtualName: string;
  /** N of `ephemeralN`; -1 for the instance-store root. */
  index: number;
  /** The instance store volume's size, when the caller gave `ephemeralSizeGiB`. */
  sizeGiB?: number;
}

export type ResolvedDevice = ResolvedEbsDevice | ResolvedEphemeralDevice;

export interface ResolveMappingsInput {
  rootDeviceName: string;
  /** The image's mappings (RegisterImage's BlockDeviceMappings). */
  image: BlockDeviceMapping[];
  /** RunInstances' BlockDeviceMappings: override or add by device name; NoDevice removes. */
  launch?: BlockDeviceMapping[];
  /** The snapshot's size in GiB, or undefined when there is no such snapshot. */
  snapshotSizeGiB: (snapshotId: string) => number | undefined;
  /** How many disks the VM can take, root included. Default 2 (v86's IDE master and slave). */
  maxDisks?: number;
  /** Size of each instance store volume, reported on ephemeral devices. */
  ephemeralSizeGiB?: number;
  /** "ebs" (default): the root must be an Ebs mapping. "instance-store": the root comes from the bundle. */
  rootKind?: "ebs" | "instance-store";
  /** The operation reported on errors. Default "RunInstances". */
  op?: string;
}

export const DEFAULT_VOLUME_TYPE: VolumeType = "gp2";
export const DEFAULT_MAX_DISKS = 2;
export const GP3_DEFAULT_IOPS = 3000;
export const EPHEMERAL_MAX_INDEX = 23;

/** Supported sizes in GiB per volume type (EbsBlockDevice.VolumeSize in the EC2 API reference). */
export const VOLUME_SIZE_GIB: Readonly<Record<VolumeType, { min: number; max: number }>> = {
  standard: { min: 1, max: 1024 },
  gp2: { min: 1, max: 16384 },
  gp3: { min: 1, max: 16384 },
  io1: { min: 4, max: 16384 },
  io2: { min: 4, max: 65536 },
  st1: { min: 125, max: 16384 },
  sc1: { min: 125, max: 16384 },
};

/** Supported IOPS per volume type; types not listed take no Iops (EbsBlockDevice.Iops). */
export const IOPS_RANGE: Readonly<Partial<Record<VolumeType, { min: number; max: number }>>> = {
  gp3: { min: 3000, max: 16000 },
  io1: { min: 100, max: 64000 },
  io2: { min: 100, max: 256000 },
};

const DEVICE_NAME = /^\/dev\/(?:sda1|xvda|sd[b-z]|xvd[b-z])$/;
const VIRTUAL_NAME = /^ephemeral(0|[1-9]\d?)$/;

/** True for the device names amiboot accepts in a mapping. */
export function isDeviceName(name: string): boolean {
  return DEVICE_NAME.test(name);
}

/**
 * The checks that need nothing but the list itself, shared by RegisterImage and
 * RunInstances: device names, duplicates, exactly one of Ebs / VirtualName /
 * NoDevice, virtual names, snapshot id syntax, field types.
 */
export function validateMappings(mappings: BlockDeviceMapping[], op: string): void {
  if (!Array.isArray(mappings)) {
    throw new Ec2Error("InvalidParameterValue", `BlockDeviceMappings must be a list, got ${show(mappings)}`, op);
  }
  const seen = new Set<string>();
  for (const m of mappings as unknown[]) {
    if (typeof m !== "object" || m === null) {
      throw bdm(`Invalid block device mapping ${show(m)}`, op);
    }
    const mapping = m as Partial<BlockDeviceMapping>;
    const dev = mapping.DeviceName;
    if (dev === undefined || dev === "") throw bdm("Missing device name", op);
    if (typeof dev !== "string" || !DEVICE_NAME.test(dev)) throw bdm(`Invalid device name ${show(dev)}`, op);
    if (seen.has(dev)) throw bdm(`The device '${dev}' is used in more than one block-device mapping`, op);
    seen.add(dev);

    const given = (["Ebs", "VirtualName", "NoDevice"] as const).filter((k) => mapping[k] !== undefined);
    if (given.length === 0) {
      throw bdm(`The block device mapping for ${dev} must specify one of Ebs, VirtualName or NoDevice`, op);
    }
    if (given.length > 1) {
      throw bdm(`The block device mapping for ${dev} specifies ${given.join(" and ")}; specify exactly one of Ebs, VirtualName or NoDevice`, op);
    }

    if (mapping.NoDevice !== undefined && typeof mapping.NoDevice !== "string") {
      throw invalidValue(mapping.NoDevice, "noDevice", 'Expected a string ("" suppresses the device).', op);
    }
    if (mapping.VirtualName !== undefined) checkVirtualName(mapping.VirtualName, dev, op);
    if (mapping.Ebs !== undefined) checkEbs(mapping.Ebs, dev, op);
  }
}

function checkVirtualName(name: unknown, dev: string, op: string): void {
  const m = typeof name === "string" ? VIRTUAL_NAME.exec(name) : null;
  if (m === null || Number(m[1]) > EPHEMERAL_MAX_INDEX) {
    throw bdm(`Invalid virtual name ${show(name)} for ${dev}; expected ephemeral0 to ephemeral${EPHEMERAL_MAX_INDEX}`, op);
  }
}

function checkEbs(ebs: unknown, dev: string, op: string): void {
  if (typeof ebs !== "object" || ebs === null || Array.isArray(ebs)) {
    throw bdm(`Invalid Ebs parameters for ${dev}: ${show(ebs)}`, op);
  }
  const e = ebs as EbsSpec;
  if (e.SnapshotId !== undefined && (typeof e.SnapshotId !== "string" || !isId(e.SnapshotId, "snap"))) {
    throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${String(e.SnapshotId)}" (expecting "snap-...")`, op);
  }
  if (e.VolumeType !== undefined && !(VOLUME_TYPES as readonly unknown[]).includes(e.VolumeType)) {
    throw invalidValue(e.VolumeType, "volumeType", `Valid values: ${VOLUME_TYPES.join(", ")}.`, op);
  }
  if (e.VolumeSize !== undefined && !Number.isInteger(e.VolumeSize)) {
    throw invalidValue(e.VolumeSize, "volumeSize", "Expected a whole number of GiB.", op);
  }
  if (e.Iops !== undefined && !Number.isInteger(e.Iops)) {
    throw invalidValue(e.Iops, "iops", "Expected a whole number.", op);
  }
  if (e.DeleteOnTermination !== undefined && typeof e.DeleteOnTermination !== "boolean") {
    throw invalidValue(e.DeleteOnTermination, "deleteOnTermination", "Expected true or false.", op);
  }
  if (e.Encrypted !== undefined && typeof e.Encrypted !== "boolean") {
    throw invalidValue(e.Encrypted, "encrypted", "Expected true or false.", op);
  }
}

type Entry = { kind: "ebs"; ebs: EbsSpec } | { kind: "ephemeral"; virtualName: string };

/**
 * The devices an instance gets: the image's mappings, then the launch mappings
 * over them by device name (an Ebs over an Ebs merges field by field; NoDevice
 * removes), checked against EC2's rules. Root first, then by device name.
 */
export function resolveMappings(input: ResolveMappingsInput): ResolvedDevice[] {
  const op = input.op ?? "RunInstances";
  const root = input.rootDeviceName;
  const rootKind = input.rootKind ?? "ebs";
  const maxDisks = input.maxDisks ?? DEFAULT_MAX_DISKS;
  if (rootKind !== "ebs" && rootKind !== "instance-store") {
    throw new Ec2Error("InvalidParameterValue", `rootKind must be "ebs" or "instance-store", got ${show(rootKind)}`, op);
  }
  if (!(Number.isInteger(maxDisks) && maxDisks >= 1) && maxDisks !== Number.POSITIVE_INFINITY) {
    throw new Ec2Error("InvalidParameterValue", `maxDisks must be an integer >= 1, got ${show(maxDisks)}`, op);
  }
  if (input.ephemeralSizeGiB !== undefined && !(Number.isInteger(input.ephemeralSizeGiB) && input.ephemeralSizeGiB >= 1)) {
    throw new Ec2Error("InvalidParameterValue", `ephemeralSizeGiB must be an integer >= 1, got ${show(input.ephemeralSizeGiB)}`, op);
  }
  if (typeof root !== "string" || !DEVICE_NAME.test(root)) {
    throw invalidValue(root, "rootDeviceName", "Expected /dev/sda1, /dev/xvda, /dev/sd[b-z] or /dev/xvd[b-z].", op);
  }
  validateMappings(input.image, op);
  if (input.launch !== undefined) validateMappings(input.launch, op);

  // Merge: image first, then launch by device name (each list has no duplicates, so
  // an image mapping never finds one before it; a launch mapping merges over the image's).
  const devices = new Map<string, Entry>();
  for (const m of [...input.image, ...(input.launch ?? [])]) {
    const before = devices.get(m.DeviceName);
    if (m.NoDevice !== undefined) {
      if (m.DeviceName === root) throw noDeviceOnRoot(root, op);
      devices.delete(m.DeviceName);
    } else if (m.VirtualName !== undefined) {
      devices.set(m.DeviceName, { kind: "ephemeral", virtualName: m.VirtualName });
    } else if (m.Ebs !== undefined) {
      const launch = defined(m.Ebs);
      if (before?.kind === "ebs") {
        const merged: EbsSpec = { ...before.ebs, ...launch };
        const oldType = before.ebs.VolumeType ?? DEFAULT_VOLUME_TYPE;
        if (launch.VolumeType !== undefined && launch.VolumeType !== oldType && launch.Iops === undefined) delete merged.Iops;
        devices.set(m.DeviceName, { kind: "ebs", ebs: merged });
      } else {
        if (before?.kind === "ephemeral" && launch.SnapshotId !== undefined) {
          throw bdm("snapshotId can only be modified on EBS devices", op);
        }
        devices.set(m.DeviceName, { kind: "ebs", ebs: launch });
      }
    }
  }

  // The root device.
  const rootEntry = devices.get(root);
  if (rootKind === "ebs") {
    if (rootEntry === undefined) throw bdm(`The root device ${root} has no block device mapping; an EBS-backed image needs an Ebs mapping for it`, op);
    if (rootEntry.kind !== "ebs") throw bdm(`The root device ${root} must be an EBS volume, not the instance store volume ${rootEntry.virtualName}`, op);
  } else if (rootEntry !== undefined) {
    throw bdm(`The root device ${root} of an instance-store image comes from its bundle and cannot be mapped`, op);
  }

  const names = [...devices.keys()].filter((d) => d !== root).sort(byCodeUnits);
  const ordered: string[] = rootKind === "ebs" ? [root, ...names] : names;

  const sizeless = ordered.filter((d) => {
    const e = devices.get(d);
    return e?.kind === "ebs" && e.ebs.SnapshotId === undefined && e.ebs.VolumeSize === undefined;
  });
  if (sizeless.length > 0) throw bdm(`Either snapshot ID or volume size must be provided for: ${sizeless.join(", ")}`, op);

  const usedBy = new Map<string, string>();
  for (const d of ordered) {
    const e = devices.get(d);
    if (e?.kind !== "ephemeral") continue;
    const other = usedBy.get(e.virtualName);
    if (other !== undefined) throw bdm(`The virtual name ${e.virtualName} is mapped to both ${other} and ${d}`, op);
    usedBy.set(e.virtualName, d);
  }

  const result: ResolvedDevice[] = [];
  if (rootKind === "instance-store") {
    result.push({ deviceName: root, root: true, kind: "ephemeral", virtualName: "ami", index: -1 });
  }
  for (const d of ordered) {
    const e = devices.get(d) as Entry;
    const isRoot = d === root;
    if (e.kind === "ephemeral") {
      const device: ResolvedEphemeralDevice = { deviceName: d, root: isRoot, kind: "ephemeral", virtualName: e.virtualName, index: Number(e.virtualName.slice("ephemeral".length)) };
      if (input.ephemeralSizeGiB !== undefined) device.sizeGiB = input.ephemeralSizeGiB;
      result.push(device);
    } else {
      result.push(resolveEbs(d, isRoot, e.ebs, input.snapshotSizeGiB, op));
    }
  }

  if (result.length > maxDisks) {
    throw bdm(
      `v86 attaches at most ${maxDisks} ${maxDisks === 1 ? "disk" : "disks"} to an instance, but the block device mapping has ${result.length}: ${result.map((r) => r.deviceName).join(", ")}`,
      op,
    );
  }
  return result;
}

/** EC2's size limits of one EBS volume of `type`, in GiB (launch mappings, CreateVolume, ModifyVolume). */
export function checkVolumeSize(type: VolumeType, size: number, op: string): void {
  const range = VOLUME_SIZE_GIB[type];
  if (size < range.min) {
    throw new Ec2Error(
      "InvalidParameterValue",
      `The volume size is invalid for ${type} volumes: ${size} GiB. ${type} volumes must be at least ${range.min} GiB in size. Please specify a volume size above the minimum limit.`,
      op,
    );
  }
  if (size > range.max) {
    throw new Ec2Error("InvalidParameterValue", `Volume of ${size}GiB is too large for volume type ${type}; maximum is ${range.max}GiB`, op);
  }
}

/** EC2's IOPS rules for a volume of `type`: the IOPS it gets (gp3's baseline when none are given), or EC2's error. */
export function volumeIops(type: VolumeType, iops: number | undefined, op: string): number | undefined {
  const range = IOPS_RANGE[type];
  if (range === undefined) {
    if (iops !== undefined) throw new Ec2Error("InvalidParameterCombination", `The parameter iops is not supported for ${type} volumes.`, op);
    return undefined;
  }
  if (iops === undefined) {
    if (type !== "gp3") throw new Ec2Error("InvalidParameterCombination", `The parameter iops must be specified for ${type} volumes.`, op);
    return GP3_DEFAULT_IOPS;
  }
  if (iops < range.min || iops > range.max) throw invalidValue(iops, "iops", `${type} volumes support ${range.min} to ${range.max} IOPS.`, op);
  return iops;
}

function resolveEbs(dev: string, root: boolean, ebs: EbsSpec, snapshotSizeGiB: (id: string) => number | undefined, op: string): ResolvedEbsDevice {
  const type = ebs.VolumeType ?? DEFAULT_VOLUME_TYPE;
  let snapSize: number | undefined;
  if (ebs.SnapshotId !== undefined) {
    snapSize = snapshotSizeGiB(ebs.SnapshotId);
    if (snapSize === undefined) throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${ebs.SnapshotId}' does not exist.`, op);
  }
  const size = ebs.VolumeSize ?? (snapSize as number);
  if (snapSize !== undefined && size < snapSize) {
    throw bdm(`Volume of size ${size}GB is smaller than snapshot '${String(ebs.SnapshotId)}', expect size >= ${snapSize}GB`, op);
  }
  checkVolumeSize(type, size, op);
  if (root && (type === "st1" || type === "sc1")) {
    throw bdm(`Volume type ${type} cannot be used for the root device ${dev}: st1 and sc1 volumes can't be boot volumes`, op);
  }

  const iops = volumeIops(type, ebs.Iops, op);

  const device: ResolvedEbsDevice = {
    deviceName: dev,
    root,
    kind: "ebs",
    sizeGiB: size,
    volumeType: type,
    deleteOnTermination: ebs.DeleteOnTermination ?? root,
    encrypted: ebs.Encrypted ?? false,
  };
  if (ebs.SnapshotId !== undefined) device.snapshotId = ebs.SnapshotId;
  if (iops !== undefined) device.iops = iops;
  return device;
}

function bdm(message: string, op: string): Ec2Error {
  return new Ec2Error("InvalidBlockDeviceMapping", message, op);
}

function noDeviceOnRoot(root: string, op: string): Ec2Error {
  return bdm(`The root device ${root} cannot be suppressed with NoDevice`, op);
}

/** EC2's wording for a bad parameter value: "Value (x) for parameter p is invalid. Why." */
function invalidValue(value: unknown, parameter: string, why: string, op: string): Ec2Error {
  return new Ec2Error("InvalidParameterValue", `Value (${show(value)}) for parameter ${parameter} is invalid. ${why}`, op);
}

function show(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
