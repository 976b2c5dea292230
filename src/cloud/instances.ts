/*
 * About 480 lines, on purpose: this is the facade of every instance action
 * (EC2's checks, then delegation), and each part with a concept of its own
 * already lives apart: records, lifecycle, launcher, events, options,
 * network, image mappings, attributes. Splitting the facade further would scatter one
 * action's checks over several files.
 */
import { Ec2Error } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { Db } from "../store/db.js";
import { readManifest } from "../volumes/bundle.js";
import { attachMapping } from "./attach-mappings.js";
import { resolveMappings, type BlockDeviceMapping } from "./block-device-mappings.js";
import { filterPredicate, type Filter } from "./filters.js";
import type { Image, Images } from "./images.js";
import { InstanceEvents, waitForInstance, type InstanceEventMap, type InstanceGoal, type InstanceListener, type WaitOptions } from "./instance-events.js";
import { InstanceLauncher, type WarmState } from "./instance-launcher.js";
import type { InstanceNetworks, LaunchNetworkRequest } from "./instance-network.js";
import { checkOptions, type MetadataOptions } from "../net/imds.js";
import { InstanceLifecycle, LAUNCH_STATE, type LifecycleEvent, type StateChange } from "./instance-lifecycle.js";
import { instancesOptions, type InstancesOptions } from "./instance-options.js";
import { INSTANCE_FILTERS, InstanceRecords, type AttachedDevice, type Instance, type NewInstance } from "./instance-records.js";
import { DEFAULT_INSTANCE_TYPE, memoryOf } from "./instance-types.js";
import type { Snapshots } from "./snapshots.js";
import type { Volumes } from "./volumes.js";
import { checkTags, type Tag, type Tags } from "./tags.js";
import { imageMappings } from "./image-mappings.js";
import { checkStoppable, checkTerminable, launchAttributes, type AttributeChange } from "./instance-attributes.js";

export { DEFAULT_INSTANCES_OPTIONS, type InstancesOptions } from "./instance-options.js";
export { STATE_CODES, type AttachedDevice, type Instance, type InstanceState, type StateReason } from "./instance-records.js";
export { instanceStatus, type InstanceStatus, type StateChange } from "./instance-lifecycle.js";
export type { InstanceEventMap, InstanceGoal, WaitOptions } from "./instance-events.js";

export interface RunInstancesRequest {
  imageId?: string;
  instanceType?: string;
  minCount?: number;
  maxCount?: number;
  blockDeviceMappings: BlockDeviceMapping[];
  /** Base64, as the API carries it. */
  userData?: string;
  tags: Tag[];
  /** TagSpecifications of resource type `volume`: every EBS volume the launch creates gets them. */
  volumeTags?: Tag[];
  network?: LaunchNetworkRequest;
  /** DisableApiTermination, DisableApiStop, InstanceInitiatedShutdownBehavior. */
  attributes?: { disableApiTermination?: boolean; disableApiStop?: boolean; shutdownBehavior?: string };
}

export interface CreateImageRequest {
  instanceId: string;
  name: string;
  description?: string;
  noReboot: boolean;
  blockDeviceMappings: BlockDeviceMapping[];
  /** TagSpecifications of resource type `image`. */
  tags?: Tag[];
}

const USER_DATA_MAX = 16 * 1024;
const CONSOLE_INPUT_MAX = 4096;
/** Tag an instance at launch with this key (value "true") for a warm launch. */
export const WARM_TAG = "amiboot:warm";
/** Tag an instance at launch with this key (value "true") to have its UserData typed on its serial console too. */
export const CONSOLE_USER_DATA_TAG = "amiboot:console-user-data";

/**
 * Instances, the facade the API calls: EC2's checks of RunInstances and the
 * other instance actions. The rest is delegated: rows to the records, every
 * state change to the lifecycle's table, VMs to the launcher. Listeners hear
 * state changes and boot milestones (`on`), and in-process callers wait on
 * them (`waitFor`) instead of polling.
 */
export class Instances {
  readonly options: InstancesOptions;
  private readonly records: InstanceRecords;
  private readonly events = new InstanceEvents();
  private readonly lifecycle: InstanceLifecycle;
  private readonly launcher: InstanceLauncher;

  constructor(
    private readonly db: Db,
    private readonly ebs: Volumes,
    private readonly images: Images,
    private readonly snapshots: Snapshots,
    private readonly tags: Tags,
    private readonly networks: InstanceNetworks,
    consoleDir: string,
    stateDir: string,
    options: Partial<InstancesOptions> = {},
  ) {
    this.options = instancesOptions(options);
    this.records = new InstanceRecords(db);
    this.lifecycle = new InstanceLifecycle(this.records, (e) => this.events.emit("state", e));
    this.launcher = new InstanceLauncher(this.options, ebs.store.home, consoleDir, stateDir, {
      started: (id) => this.move(id, { type: "vm-started" }, "cloud.boot"),
      milestone: (id, milestone) => this.events.emit("milestone", { instanceId: id, milestone }),
      ended: (id, why, error, milestones) => {
        this.records.setMilestones(id, milestones);
        this.move(id, { type: "vm-ended", why, ...(error ? { error } : {}) }, "cloud.boot");
      },
    });
  }

  /** Listens to state changes or milestones; returns the function that stops listening. */
  on<K extends keyof InstanceEventMap>(name: K, listener: InstanceListener<K>): () => void {
    return this.events.on(name, listener);
  }

  /** Resolves once the instance is running, has its status ok, is stopped or terminated; see waitForInstance. */
  waitFor(instanceId: string, goal: InstanceGoal, options: WaitOptions = {}): Promise<Instance> {
    const current = () => {
      const i = this.records.byId(instanceId);
      if (!i) throw notFound([instanceId], "cloud.waitForInstance");
      return this.withLive(i);
    };
    return waitForInstance(this.events, current, goal, options);
  }

  run(caller: string, region: string, r: RunInstancesRequest): { reservationId: string; ownerId: string; instances: Instance[] } {
    const op = "RunInstances";
    if (r.imageId === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter ImageId", op);
    const image = this.images.get(caller, region, r.imageId, op);
    if (image.state === "deregistered") throw new Ec2Error("InvalidAMIID.Unavailable", `The image id '[${image.imageId}]' is no longer available`, op);
    if (image.state !== "available") throw new Ec2Error("InvalidAMIID.Unavailable", `The image id '[${image.imageId}]' is not available (state ${image.state}${image.stateReason ? `: ${image.stateReason}` : ""})`, op);
    if (image.architecture !== "i386") {
      throw new Ec2Error("UnsupportedOperation", `The image '${image.imageId}' is for ${image.architecture}; amiboot boots i386 images only (v86 emulates a 32-bit x86 CPU without long mode)`, op);
    }
    const instanceType = r.instanceType ?? DEFAULT_INSTANCE_TYPE;
    const memoryMiB = memoryOf(instanceType, op);
    const minCount = r.minCount ?? 1;
    const maxCount = r.maxCount ?? minCount;
    if (!Number.isInteger(minCount) || minCount < 1) throw new Ec2Error("InvalidParameterValue", `Value (${minCount}) for parameter minCount is invalid. Expected a positive integer.`, op);
    if (!Number.isInteger(maxCount) || maxCount < minCount) throw new Ec2Error("InvalidParameterValue", `Value (${maxCount}) for parameter maxCount is invalid. It must be at least minCount (${minCount}).`, op);
    const active = this.records.activeCount();
    const room = this.options.maxInstances - active;
    if (room < minCount) {
      throw new Ec2Error("InstanceLimitExceeded", `You have requested more instances (${minCount}) than your current instance limit of ${this.options.maxInstances} allows (${active} active).`, op);
    }
    const count = Math.min(maxCount, room);
    const userData = r.userData !== undefined ? checkUserData(r.userData, op) : undefined;
    const attributes = launchAttributes(r.attributes ?? {}, op);
    const volumeTags = r.volumeTags ?? [];
    checkTags(r.tags, op);
    checkTags(volumeTags, op);
    const resolved = resolveMappings({
      rootDeviceName: image.rootDeviceName,
      image: image.blockDeviceMappings,
      launch: r.blockDeviceMappings,
      snapshotSizeGiB: this.ebs.store.snapshotSizeGiB,
      rootKind: image.rootDeviceType,
      op,
    });
    const network = this.networks.prepare(caller, region, r.network ?? { securityGroupIds: [], securityGroupNames: [] }, op);
    const bundleManifest = image.rootDeviceType === "instance-store" ? this.images.manifestPath(image.imageLocation!) : undefined;
    const bundleSize = bundleManifest ? readManifest(bundleManifest).size : undefined;

    const reservationId = newId("r");
    const now = new Date().toISOString();
    const created: NewInstance[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const attached = attachMapping(resolved, this.ebs.store, { ...(bundleManifest ? { bundleManifest, bundleSize: bundleSize! } : {}) });
        const byDevice = new Map(attached.volumes.map((v) => [v.deviceName, v]));
        const devices: AttachedDevice[] = resolved.map((d) => {
          const v = byDevice.get(d.deviceName);
          return v
            ? { deviceName: d.deviceName, volumeId: v.volumeId, deleteOnTermination: v.deleteOnTermination, attachTime: now }
            : { deviceName: d.deviceName, virtualName: d.kind === "ephemeral" ? d.virtualName : "ephemeral", attachTime: now };
        });
        created.push({ ...launchFacts(image, caller, region), id: newId("i"), reservationId, instanceType, launchIndex: i, devices, disks: attached.disks, memoryMiB, ...(userData ? { userData } : {}), launchTime: now, attributes });
      }
      this.records.insert(created, LAUNCH_STATE, () => {
        this.networks.assign(created.map((c) => c.id), network);
        for (const c of created) this.ebs.record(caller, region, network.subnet.availabilityZone, volumeIds(c.devices));
        if (r.tags.length > 0) this.tags.set(created.map((c) => c.id), r.tags, op);
        if (volumeTags.length > 0) this.tags.set(created.flatMap((c) => volumeIds(c.devices)), volumeTags, op);
      });
    } catch (err) {
      for (const c of created) for (const id of volumeIds(c.devices)) this.ebs.store.deleteVolume(id);
      throw err;
    }
    const warm = r.tags.some((t) => t.key === WARM_TAG && t.value !== "false");
    const consoleUserData = r.tags.some((t) => t.key === CONSOLE_USER_DATA_TAG && t.value !== "false");
    for (const c of created) this.bootVm(c.id, warm ? this.launcher.warmState(image.imageId, memoryMiB, c.disks) : {}, consoleUserData);
    return { reservationId, ownerId: caller, instances: created.map((c) => this.get(caller, region, c.id, op)) };
  }

  describe(caller: string, region: string, r: { instanceIds: string[]; filters: Filter[] }): Instance[] {
    const op = "DescribeInstances";
    for (const id of r.instanceIds) if (!isId(id, "i")) throw malformed(id, op);
    let list = this.records.list(caller, region, (ids) => this.tags.ofMany(ids)).map((i) => this.withLive(i));
    if (r.instanceIds.length > 0) {
      const missing = r.instanceIds.filter((id) => !list.some((i) => i.instanceId === id));
      if (missing.length > 0) throw notFound(missing, op);
      list = list.filter((i) => r.instanceIds.includes(i.instanceId));
    }
    return list.filter(filterPredicate(INSTANCE_FILTERS, (i) => i.tags, r.filters, op));
  }

  /** An instance of the caller's in `region`, or EC2's error for it. */
  get(caller: string, region: string, id: string, op: string): Instance {
    if (!isId(id, "i")) throw malformed(id, op);
    const i = this.records.find(caller, region, id, this.tags.of(id));
    if (!i) throw notFound([id], op);
    return this.withLive(i);
  }

  stop(caller: string, region: string, ids: string[]): StateChange[] {
    const op = "StopInstances";
    const list = this.all(caller, region, ids, op);
    for (const i of list) {
      this.lifecycle.check(i, { type: "stop" }, op);
      checkStoppable(i, op);
    }
    return list.map((i) => {
      const change = this.move(i.instanceId, { type: "stop" }, op);
      void this.launcher.end(i.instanceId, "user-stop");
      return change;
    });
  }

  start(caller: string, region: string, ids: string[]): StateChange[] {
    const op = "StartInstances";
    const list = this.all(caller, region, ids, op);
    for (const i of list) this.lifecycle.check(i, { type: "start" }, op);
    return list.map((i) => this.startVm(i.instanceId, op));
  }

  reboot(caller: string, region: string, ids: string[]): void {
    const op = "RebootInstances";
    const list = this.all(caller, region, ids, op);
    for (const i of list) this.lifecycle.check(i, { type: "reboot" }, op);
    for (const i of list) this.launcher.reboot(i.instanceId);
  }

  terminate(caller: string, region: string, ids: string[]): StateChange[] {
    const op = "TerminateInstances";
    const list = this.all(caller, region, ids, op);
    // One protected instance refuses the whole call, as EC2 does.
    for (const i of list) checkTerminable(i, op);
    return list.map((i) => {
      const vm = this.launcher.has(i.instanceId);
      const change = this.move(i.instanceId, { type: "terminate", vm }, op);
      if (vm && change.current === "shutting-down") void this.launcher.end(i.instanceId, "terminate");
      return change;
    });
  }

  /**
   * Bytes for a running instance's serial console, as if typed (amiboot's
   * own action, for `amiboot console --attach`; EC2 offers no such call).
   */
  sendConsoleInput(caller: string, region: string, id: string, bytes: Uint8Array): void {
    const op = "AmibootSendConsoleInput";
    const i = this.get(caller, region, id, op);
    if (bytes.length > CONSOLE_INPUT_MAX) throw new Ec2Error("InvalidParameterValue", `Console input is limited to ${CONSOLE_INPUT_MAX} bytes per call (got ${bytes.length}).`, op);
    this.lifecycle.check(i, { type: "console-input" }, op);
    if (!this.launcher.send(i.instanceId, bytes)) throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in the 'running' state (it is ${i.state}).`, op);
  }

  /** The last 64 KiB of the instance's serial console (the running VM's, or the last one's). */
  consoleOutput(caller: string, region: string, id: string): { output: Buffer; timestamp: string } {
    return this.launcher.consoleOutput(this.get(caller, region, id, "GetConsoleOutput").instanceId);
  }

  /**
   * CreateImage: an image from an EBS-backed instance, its root and every
   * attached EBS volume snapshotted (incrementally), tagged with `r.tags`.
   * Everything is checked before the guest is touched; the snapshot
   * records, the image and its tags are stored in one transaction (a
   * failure leaves none of them). Unless `noReboot`, a running guest is
   * stopped for a consistent state and started again.
   */
  async createImage(caller: string, region: string, r: CreateImageRequest): Promise<Image> {
    const op = "CreateImage";
    const tags = r.tags ?? [];
    const i = this.get(caller, region, r.instanceId, op);
    this.lifecycle.check(i, { type: "create-image" }, op);
    checkTags(tags, op);
    this.images.checkName(caller, region, r.name, op);
    const removed = new Set(r.blockDeviceMappings.filter((m) => m.NoDevice !== undefined).map((m) => m.DeviceName));
    if (removed.has(i.rootDeviceName)) throw new Ec2Error("InvalidBlockDeviceMapping", `The device ${i.rootDeviceName} is the root device and cannot be suppressed.`, op);
    const reboot = i.state === "running" && !r.noReboot;
    if (reboot) {
      this.move(i.instanceId, { type: "pause" }, op);
      await this.launcher.end(i.instanceId, "pause");
    }
    const made: string[] = [];
    try {
      return this.db.transaction(() => {
        const mappings = imageMappings(this.snapshots, this.ebs.store, { caller, region, instance: i, name: r.name, removed, requested: r.blockDeviceMappings, made });
        const image = this.images.register(caller, region, {
          name: r.name,
          ...(r.description !== undefined ? { description: r.description } : {}),
          architecture: i.architecture,
          virtualizationType: i.virtualizationType,
          rootDeviceName: i.rootDeviceName,
          blockDeviceMappings: mappings,
        });
        if (tags.length > 0) this.tags.set([image.imageId], tags, op);
        return { ...image, tags };
      })();
    } catch (err) {
      // The rolled-back snapshot records' blocks: nothing refers to them now.
      for (const id of made) this.ebs.store.deleteSnapshot(id);
      throw err;
    } finally {
      // Started again unless something ended it meanwhile (a terminate).
      if (reboot && this.records.byId(i.instanceId)?.state === "stopped") this.startVm(i.instanceId, op);
    }
  }

  /** DescribeInstanceAttribute: the instance and its UserData (base64), for the API to show one attribute of. */
  attribute(caller: string, region: string, id: string): { instance: Instance; userData?: string } {
    const instance = this.get(caller, region, id, "DescribeInstanceAttribute");
    const userData = this.records.bootSource(instance.instanceId).userData;
    return { instance, ...(userData ? { userData } : {}) };
  }

  /**
   * ModifyInstanceAttribute, where EC2 allows it: the instance type and
   * UserData only while stopped (`IncorrectInstanceState`), the others in
   * any state but terminated.
   */
  modifyAttribute(caller: string, region: string, id: string, change: AttributeChange): void {
    const op = "ModifyInstanceAttribute";
    const i = this.get(caller, region, id, op);
    if (i.state === "terminated") throw new Ec2Error("IncorrectInstanceState", `The instance '${id}' is not in a state from which it can be modified (terminated).`, op);
    const stoppedOnly = (what: string) => {
      if (i.state !== "stopped") throw new Ec2Error("IncorrectInstanceState", `The instance '${id}' is not in the 'stopped' state (it is ${i.state}): its ${what} can only be changed while it is stopped.`, op);
    };
    switch (change.name) {
      case "instanceType":
        stoppedOnly("instance type");
        this.records.setType(id, change.value, memoryOf(change.value, op));
        return;
      case "userData":
        stoppedOnly("user data");
        this.records.setUserData(id, change.value === "" ? undefined : checkUserData(change.value, op));
        return;
      case "blockDeviceMapping": {
        const wanted = new Map(change.value.map((c) => [c.deviceName, c.deleteOnTermination]));
        for (const name of wanted.keys()) {
          if (!i.devices.some((d) => d.deviceName === name && d.volumeId)) throw new Ec2Error("InvalidInstanceAttributeValue", `No EBS volume is attached to ${name}`, op);
        }
        this.records.updateDevices(id, (devices) => devices.map((d) => (wanted.has(d.deviceName) ? { ...d, deleteOnTermination: wanted.get(d.deviceName)! } : d)));
        return;
      }
      case "instanceInitiatedShutdownBehavior":
        this.records.setAttributes(id, { ...i.attributes, shutdownBehavior: change.value });
        return;
      default:
        this.records.setAttributes(id, { ...i.attributes, [change.name]: change.value });
    }
  }

  /** ModifyInstanceMetadataOptions: kept with the instance, and applied at once to its running VM. */
  modifyMetadataOptions(caller: string, region: string, id: string, patch: Partial<MetadataOptions>): Instance {
    const op = "ModifyInstanceMetadataOptions";
    const i = this.get(caller, region, id, op);
    if (!i.network) throw new Ec2Error("IncorrectInstanceState", `The instance '${id}' has no network (launched before amiboot gave instances one).`, op);
    if (i.state === "terminated") throw new Ec2Error("IncorrectInstanceState", `The instance '${id}' is not in a state from which it can be modified (terminated).`, op);
    let options: MetadataOptions;
    try {
      options = checkOptions({ ...i.network.metadataOptions, ...patch });
    } catch (err) {
      throw err instanceof Ec2Error ? new Ec2Error(err.code, err.message, op) : err;
    }
    this.networks.setMetadataOptions(id, options);
    this.launcher.network(id, { metadataOptions: options });
    return this.get(caller, region, id, op);
  }

  /** A security group's rules changed: the running instances in it get their new port forwards. */
  rulesChanged(groupId: string): void {
    for (const id of this.networks.usingGroup(groupId)) {
      const i = this.records.byId(id);
      const network = i && this.networks.of(id, i.region);
      if (network && this.launcher.has(id)) this.launcher.network(id, { forwards: this.networks.forwards(network) });
    }
  }

  /** After a server that stopped without ending its VMs: their instances stop (EBS) or terminate (instance store). */
  recover(): void {
    for (const i of this.records.active()) this.move(i.instanceId, { type: "recover" }, "cloud.recover");
  }

  /** Resolves once no machine is being prepared for a warm launch. */
  standbysReady(): Promise<void> {
    return this.launcher.standbysReady();
  }

  /** Ends every VM (their instances stop or terminate as after a server stop) and the pool. */
  shutdown(): Promise<void> {
    return this.launcher.shutdown();
  }

  // ---------------------------------------------------------------------------

  /** A stopped instance starts: pending, and its VM queued for a boot slot. */
  private startVm(id: string, op: string): StateChange {
    const change = this.move(id, { type: "start" }, op);
    if (change.previous === "stopped") this.bootVm(id, {}, false);
    return change;
  }

  /** Queues the instance's VM, with its network as it is when the VM starts. */
  private bootVm(id: string, state: WarmState, consoleUserData: boolean): void {
    const source = this.records.bootSource(id);
    const network = () => {
      const i = this.records.byId(id);
      const n = i && this.networks.of(id, i.region);
      if (!i || !n) return undefined;
      const image = this.images.find(i.imageId);
      const manifestPath = image?.rootDeviceType === "instance-store" && image.imageLocation ? image.imageLocation : undefined;
      return this.networks.plan(i, n, { ...(source.userData ? { userData: source.userData } : {}), ...(manifestPath ? { manifestPath } : {}) });
    };
    this.launcher.boot(id, source, state, { network, consoleUserData });
  }

  /** The lifecycle's move; entering terminated releases the volumes. */
  private move(id: string, event: LifecycleEvent, op: string): StateChange {
    const change = this.lifecycle.apply(id, event, op);
    if (change.current === "terminated" && change.previous !== "terminated") this.release(id);
    return change;
  }

  /** Terminated: volumes with DeleteOnTermination go (with their tags); the others stay, detached. */
  private release(id: string): void {
    for (const d of this.records.byId(id)?.devices ?? []) {
      if (!d.volumeId || !d.deleteOnTermination) continue;
      this.db.transaction(() => this.ebs.forget(d.volumeId!))();
      try {
        this.ebs.store.deleteVolume(d.volumeId);
      } catch (err) {
        if (!(err instanceof Ec2Error && err.code === "InvalidVolume.NotFound")) throw err;
      }
    }
  }

  private all(caller: string, region: string, ids: string[], op: string): Instance[] {
    if (ids.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter InstanceId", op);
    for (const id of ids) if (!isId(id, "i")) throw malformed(id, op);
    const found = ids.map((id) => this.records.find(caller, region, id));
    const missing = ids.filter((_, k) => !found[k]);
    if (missing.length > 0) throw notFound(missing, op);
    return found.map((i) => this.withLive(i!));
  }

  /** A running (or queued) VM's milestones are the live ones. */
  private withLive(i: Instance): Instance {
    const live = this.launcher.milestones(i.instanceId);
    const network = this.networks.of(i.instanceId, i.region);
    return { ...i, ...(live ? { milestones: live } : {}), ...(network ? { network } : {}) };
  }
}

/** What every instance of a launch takes from its image and caller. */
function launchFacts(image: Image, caller: string, region: string): Pick<NewInstance, "region" | "ownerId" | "imageId" | "architecture" | "virtualizationType" | "rootDeviceType" | "rootDeviceName"> {
  return { region, ownerId: caller, imageId: image.imageId, architecture: image.architecture, virtualizationType: image.virtualizationType, rootDeviceType: image.rootDeviceType, rootDeviceName: image.rootDeviceName };
}

/** UserData as RunInstances takes it: valid base64, at most 16 KiB decoded. */
function checkUserData(userData: string, op: string): string {
  const bytes = Buffer.from(userData, "base64");
  if (bytes.toString("base64").replace(/=+$/, "") !== userData.replace(/\s/g, "").replace(/=+$/, "")) throw new Ec2Error("InvalidParameterValue", "Invalid BASE64 encoding of user data.", op);
  if (bytes.length > USER_DATA_MAX) throw new Ec2Error("InvalidParameterValue", `User data is limited to ${USER_DATA_MAX} bytes (got ${bytes.length}).`, op);
  return userData;
}

function volumeIds(devices: AttachedDevice[]): string[] {
  return devices.flatMap((d) => (d.volumeId ? [d.volumeId] : []));
}

function malformed(id: string, op: string): Ec2Error {
  return new Ec2Error("InvalidInstanceID.Malformed", `Invalid id: "${id}" (expecting "i-...")`, op);
}

function notFound(ids: string[], op: string): Ec2Error {
  return new Ec2Error("InvalidInstanceID.NotFound", `The instance ID${ids.length > 1 ? "s" : ""} '${ids.join(", ")}' do${ids.length > 1 ? "" : "es"} not exist`, op);
}
