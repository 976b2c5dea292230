import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { ConsoleLines } from "../boot/console-lines.js";
import { diskPlan, type DiskSpec } from "../boot/plan.js";
import type { Milestone } from "../boot/timer.js";
import { writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { isId, newId } from "../ids.js";
import { ConsoleTail } from "../pool/console-tail.js";
import { BootPool, type BootResult, type BootRun } from "../pool/pool.js";
import type { Db } from "../store/db.js";
import { attachMapping } from "../volumes/attach.js";
import { readManifest } from "../volumes/bundle.js";
import { resolveMappings, type BlockDeviceMapping } from "../volumes/mapping.js";
import type { VolumeStore } from "../volumes/store.js";
import { filterPredicate, type Filter } from "./filters.js";
import type { Images } from "./images.js";
import { DEFAULT_INSTANCE_TYPE, memoryOf } from "./instance-types.js";
import type { Snapshots } from "./snapshots.js";
import { checkTags, type Tag, type Tags } from "./tags.js";

export type InstanceState = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";

/** EC2's state codes. */
export const STATE_CODES: Readonly<Record<InstanceState, number>> = { pending: 0, running: 16, "shutting-down": 32, terminated: 48, stopping: 64, stopped: 80 };

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
}

export interface RunInstancesRequest {
  imageId?: string;
  instanceType?: string;
  minCount?: number;
  maxCount?: number;
  blockDeviceMappings: BlockDeviceMapping[];
  /** Base64, as the API carries it. */
  userData?: string;
  tags: Tag[];
}

export interface InstancesOptions {
  /** Console text that marks user space (a milestone; the instance's status turns ok). */
  marker: string;
  /** Console text after which the instance's UserData is typed on its serial console. */
  inputMarker: string;
  /** Instances whose VMs may run at once (each a worker thread). */
  maxInstances: number;
  /** VMs that may boot at once, up to their marker: more wait, pending. Default: the cores. */
  bootSlots: number;
  /** A boot slot is given back after this long even without a marker (a guest that never prints). */
  bootSlotMs: number;
}

export const DEFAULT_INSTANCES_OPTIONS: InstancesOptions = {
  marker: "AMIBOOT-USERSPACE-READY",
  inputMarker: "AMIBOOT-DISKS-READY",
  maxInstances: 32,
  bootSlots: os.availableParallelism(),
  bootSlotMs: 30_000,
};

const USER_DATA_MAX = 16 * 1024;
const CONSOLE_INPUT_MAX = 4096;
/** Tag an instance at launch with this key (value "true") for a warm launch. */
export const WARM_TAG = "amiboot:warm";
/** Saved states are v86's own format: one per v86 version. */
const V86_VERSION = (createRequire(import.meta.url)("v86/package.json") as { version: string }).version;
const SERVER_STOPPED: StateReason = { code: "Server.InternalError", message: "Server.InternalError: the amiboot server stopped while the instance was running" };
const USER_SHUTDOWN: StateReason = { code: "Client.UserInitiatedShutdown", message: "Client.UserInitiatedShutdown: User initiated shutdown" };
const GUEST_SHUTDOWN: StateReason = { code: "Client.InstanceInitiatedShutdown", message: "Client.InstanceInitiatedShutdown: Instance initiated shutdown" };

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
}

/** Why a running VM is being ended: decides the state it ends in. */
type Intent = "stop" | "terminate" | "pause" | "server-stop";

/** A VM of an instance, from its place in the boot queue to its end. */
interface Live {
  run?: BootRun;
  intent?: Intent;
  console: ConsoleTail;
  milestones: Milestone[];
  ended: Promise<void>;
  end: () => void;
}

/**
 * Instances: RunInstances turns an image's block device mapping into volumes
 * and its virtualization type into an HVM or PV boot in the pool; the
 * instance then lives through EC2's states. VMs boot `bootSlots` at a time
 * (the rest wait, pending) and then run on in their own worker thread.
 */
export class Instances {
  readonly options: InstancesOptions;
  private pool: BootPool | undefined;
  private readonly live = new Map<string, Live>();
  private readonly slots: (() => void)[] = [];
  private slotsInUse = 0;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly volumes: VolumeStore,
    private readonly images: Images,
    private readonly snapshots: Snapshots,
    private readonly tags: Tags,
    private readonly consoleDir: string,
    private readonly stateDir: string,
    options: Partial<InstancesOptions> = {},
  ) {
    this.options = { ...DEFAULT_INSTANCES_OPTIONS, ...options };
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
    const active = (this.db.prepare("select count(*) as n from instances where state in ('pending', 'running', 'stopping', 'shutting-down')").get() as { n: number }).n;
    const room = this.options.maxInstances - active;
    if (room < minCount) {
      throw new Ec2Error("InstanceLimitExceeded", `You have requested more instances (${minCount}) than your current instance limit of ${this.options.maxInstances} allows (${active} active).`, op);
    }
    const count = Math.min(maxCount, room);
    let userData: string | undefined;
    if (r.userData !== undefined) {
      const bytes = Buffer.from(r.userData, "base64");
      if (bytes.toString("base64").replace(/=+$/, "") !== r.userData.replace(/\s/g, "").replace(/=+$/, "")) throw new Ec2Error("InvalidParameterValue", "Invalid BASE64 encoding of user data.", op);
      if (bytes.length > USER_DATA_MAX) throw new Ec2Error("InvalidParameterValue", `User data is limited to ${USER_DATA_MAX} bytes (got ${bytes.length}).`, op);
      userData = r.userData;
    }
    checkTags(r.tags, op);
    const resolved = resolveMappings({
      rootDeviceName: image.rootDeviceName,
      image: image.blockDeviceMappings,
      launch: r.blockDeviceMappings,
      snapshotSizeGiB: this.volumes.snapshotSizeGiB,
      rootKind: image.rootDeviceType,
      op,
    });
    const bundleManifest = image.rootDeviceType === "instance-store" ? this.images.manifestPath(image.imageLocation!) : undefined;
    const bundleSize = bundleManifest ? readManifest(bundleManifest).size : undefined;

    const reservationId = newId("r");
    const now = new Date().toISOString();
    const created: { id: string; disks: DiskSpec[]; devices: AttachedDevice[] }[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const attached = attachMapping(resolved, this.volumes, { ...(bundleManifest ? { bundleManifest, bundleSize: bundleSize! } : {}) });
        const byDevice = new Map(attached.volumes.map((v) => [v.deviceName, v]));
        const devices: AttachedDevice[] = resolved.map((d) => {
          const v = byDevice.get(d.deviceName);
          return v
            ? { deviceName: d.deviceName, volumeId: v.volumeId, deleteOnTermination: v.deleteOnTermination, attachTime: now }
            : { deviceName: d.deviceName, virtualName: d.kind === "ephemeral" ? d.virtualName : "ephemeral", attachTime: now };
        });
        created.push({ id: newId("i"), disks: attached.disks, devices });
      }
      const insert = this.db.prepare(
        `insert into instances (id, reservation_id, region, owner_id, image_id, instance_type, launch_index, state, architecture, virtualization_type,
           root_device_type, root_device_name, devices, disks, memory_mib, user_data, launch_time, milestones)
         values (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')`,
      );
      this.db.transaction(() => {
        created.forEach((c, i) =>
          insert.run(c.id, reservationId, region, caller, image.imageId, instanceType, i, image.architecture, image.virtualizationType, image.rootDeviceType, image.rootDeviceName, JSON.stringify(c.devices), JSON.stringify(c.disks), memoryMiB, userData ?? null, now),
        );
        if (r.tags.length > 0) this.tags.set(created.map((c) => c.id), r.tags, op);
      })();
    } catch (err) {
      for (const c of created) for (const d of c.devices) if (d.volumeId) this.volumes.deleteVolume(d.volumeId);
      throw err;
    }
    const warm = r.tags.some((t) => t.key === WARM_TAG && t.value !== "false");
    for (const c of created) this.boot(c.id, warm ? this.warmState(image.imageId, memoryMiB, c.disks) : {});
    return { reservationId, ownerId: caller, instances: created.map((c) => this.get(caller, region, c.id, op)) };
  }

  describe(caller: string, region: string, r: { instanceIds: string[]; filters: Filter[] }): Instance[] {
    const op = "DescribeInstances";
    for (const id of r.instanceIds) if (!isId(id, "i")) throw malformed(id, op);
    const rows = this.db.prepare("select * from instances where region = ? and owner_id = ? order by launch_time, reservation_id, launch_index").all(region, caller) as Row[];
    const tags = this.tags.ofMany(rows.map((row) => row.id));
    let list = rows.map((row) => this.toInstance(row, tags.get(row.id) ?? []));
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
    const row = this.db.prepare("select * from instances where id = ? and region = ? and owner_id = ?").get(id, region, caller) as Row | undefined;
    if (!row) throw notFound([id], op);
    return this.toInstance(row, this.tags.of(id));
  }

  stop(caller: string, region: string, ids: string[]): StateChange[] {
    const op = "StopInstances";
    const list = this.all(caller, region, ids, op);
    for (const i of list) {
      if (i.rootDeviceType !== "ebs") throw new Ec2Error("UnsupportedOperation", `The instance '${i.instanceId}' does not have an 'ebs' root device type and cannot be stopped.`, op);
      if (i.state === "terminated" || i.state === "shutting-down") throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in a state from which it can be stopped.`, op);
    }
    return list.map((i) => this.change(i, i.state === "pending" || i.state === "running" ? "stopping" : i.state, () => this.endVm(i.instanceId, "stop")));
  }

  start(caller: string, region: string, ids: string[]): StateChange[] {
    const op = "StartInstances";
    const list = this.all(caller, region, ids, op);
    for (const i of list) {
      if (i.rootDeviceType !== "ebs") throw new Ec2Error("UnsupportedOperation", `The instance '${i.instanceId}' does not have an 'ebs' root device type and cannot be started.`, op);
      if (i.state === "stopping" || i.state === "shutting-down" || i.state === "terminated") {
        throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in a state from which it can be started.`, op);
      }
    }
    return list.map((i) => this.change(i, i.state === "stopped" ? "pending" : i.state, () => this.boot(i.instanceId)));
  }

  reboot(caller: string, region: string, ids: string[]): void {
    const op = "RebootInstances";
    const list = this.all(caller, region, ids, op);
    for (const i of list) if (i.state !== "running") throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in the 'running' state (it is ${i.state}).`, op);
    // The machine resets; its disks, instance store included, keep their data.
    for (const i of list) this.live.get(i.instanceId)?.run?.reboot();
  }

  terminate(caller: string, region: string, ids: string[]): StateChange[] {
    const op = "TerminateInstances";
    const list = this.all(caller, region, ids, op);
    return list.map((i) => {
      if (i.state === "terminated" || i.state === "shutting-down") return { instanceId: i.instanceId, previous: i.state, current: i.state };
      if (this.live.has(i.instanceId)) return this.change(i, "shutting-down", () => this.endVm(i.instanceId, "terminate"));
      return this.change(i, "terminated", () => this.release(i, USER_SHUTDOWN));
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
    const run = this.live.get(i.instanceId)?.run;
    if (i.state !== "running" || !run) throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in the 'running' state (it is ${i.state}).`, op);
    run.send(bytes);
  }

  /** The last 64 KiB of the instance's serial console (the running VM's, or the last one's). */
  consoleOutput(caller: string, region: string, id: string): { output: Buffer; timestamp: string } {
    const i = this.get(caller, region, id, "GetConsoleOutput");
    const live = this.live.get(i.instanceId);
    if (live) return { output: live.console.bytes(), timestamp: new Date().toISOString() };
    const file = this.consoleFile(i.instanceId);
    return fs.existsSync(file) ? { output: fs.readFileSync(file), timestamp: fs.statSync(file).mtime.toISOString() } : { output: Buffer.alloc(0), timestamp: new Date().toISOString() };
  }

  /**
   * CreateImage: an image from an EBS-backed instance, its root and every
   * attached EBS volume snapshotted (incrementally). Unless `noReboot`, a
   * running guest is stopped for a consistent state and started again.
   */
  async createImage(caller: string, region: string, r: { instanceId: string; name: string; description?: string; noReboot: boolean; blockDeviceMappings: BlockDeviceMapping[] }) {
    const op = "CreateImage";
    const i = this.get(caller, region, r.instanceId, op);
    if (i.rootDeviceType !== "ebs") throw new Ec2Error("UnsupportedOperation", `The instance '${i.instanceId}' does not have an 'ebs' root device type; bundle an instance-store instance instead.`, op);
    if (i.state !== "running" && i.state !== "stopped") throw new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in a state from which an image can be created (it is ${i.state}).`, op);
    this.images.checkName(caller, region, r.name, op);
    const removed = new Set(r.blockDeviceMappings.filter((m) => m.NoDevice !== undefined).map((m) => m.DeviceName));
    if (removed.has(i.rootDeviceName)) throw new Ec2Error("InvalidBlockDeviceMapping", `The device ${i.rootDeviceName} is the root device and cannot be suppressed.`, op);
    const reboot = i.state === "running" && !r.noReboot;
    if (reboot) {
      this.setState(i.instanceId, "stopping");
      await this.endVm(i.instanceId, "pause");
    }
    try {
      const mappings: BlockDeviceMapping[] = [];
      for (const d of i.devices) {
        if (!d.volumeId || removed.has(d.deviceName)) continue;
        const snap = this.snapshots.ofVolume(caller, region, d.volumeId, `Created by CreateImage(${i.instanceId}) for ${r.name} from ${d.volumeId}`);
        mappings.push({ DeviceName: d.deviceName, Ebs: { SnapshotId: snap.snapshotId, VolumeSize: Math.max(snap.volumeSize, Math.ceil(this.volumes.getVolume(d.volumeId).size / 1024 ** 3)), DeleteOnTermination: d.deleteOnTermination ?? false } });
      }
      for (const m of r.blockDeviceMappings) if (m.NoDevice === undefined && !mappings.some((x) => x.DeviceName === m.DeviceName)) mappings.push(m);
      return this.images.register(caller, region, {
        name: r.name,
        ...(r.description !== undefined ? { description: r.description } : {}),
        architecture: i.architecture,
        virtualizationType: i.virtualizationType,
        rootDeviceName: i.rootDeviceName,
        blockDeviceMappings: mappings,
      });
    } finally {
      if (reboot) {
        this.setState(i.instanceId, "pending");
        this.boot(i.instanceId);
      }
    }
  }

  /** After a server that stopped without ending its VMs: their instances stop (EBS) or terminate (instance store). */
  recover(): void {
    const rows = this.db.prepare("select * from instances where state in ('pending', 'running', 'stopping', 'shutting-down')").all() as Row[];
    for (const row of rows) this.settle(this.toInstance(row, []), row.state === "shutting-down" ? "terminate" : "server-stop", undefined);
  }

  /** Ends every VM (their instances stop or terminate as after a server stop) and the pool. */
  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live.keys()].map((id) => this.endVm(id, this.live.get(id)?.intent ?? "server-stop")));
    await this.pool?.close();
  }

  // ---------------------------------------------------------------------------

  /**
   * Warm launch: the machine state saved the first time this image reached
   * its marker with this memory and disk layout. Restored if it exists, else
   * this launch boots cold and saves it. Only a first boot is warm: a
   * started instance's volumes no longer match the state's view of them.
   */
  private warmState(imageId: string, memoryMiB: number, disks: DiskSpec[]): { restore?: string; capture?: string } {
    const layout = disks.map((d) => `${d.kind === "ebs" ? "e" : d.kind === "instance-store" ? "s" : d.kind === "ephemeral" ? "t" : "f"}${d.size}`).join("_");
    const file = path.join(this.stateDir, `${imageId}-${memoryMiB}-${layout}-${V86_VERSION}.v86state`);
    if (fs.existsSync(file)) return { restore: file };
    fs.mkdirSync(this.stateDir, { recursive: true });
    return { capture: file };
  }

  private boot(id: string, state: { restore?: string; capture?: string } = {}): void {
    const row = this.row(id);
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const live: Live = { console: new ConsoleTail(), milestones: [], ended, end };
    this.live.set(id, live);
    void this.acquireSlot().then((release) => {
      if (live.intent || this.closed) {
        release();
        this.finish(id, live, undefined);
        return;
      }
      let run: BootRun;
      try {
        const plan = diskPlan(id, JSON.parse(row.disks) as DiskSpec[], row.virtualization_type === "hvm" ? "hvm" : "pv", {
          memoryMiB: row.memory_mib,
          timeoutSeconds: 0,
          until: this.options.marker,
          keepRunning: true,
        }, state);
        run = (this.pool ??= new BootPool({ maxThreads: this.options.maxInstances })).boot(plan);
      } catch (err) {
        release();
        this.finish(id, live, failure(err));
        return;
      }
      live.run = run;
      const slotTimer = setTimeout(release, this.options.bootSlotMs);
      const freeSlot = () => {
        clearTimeout(slotTimer);
        release();
      };
      const lines = new ConsoleLines();
      run.on("started", () => this.setState(id, "running", "pending"));
      run.on("milestone", (m) => {
        live.milestones.push(m);
        if (m.name === "until") freeSlot();
      });
      run.on("console", (bytes) => {
        live.console.push(bytes);
        if (row.user_data && lines.push(bytes).some((l) => l.includes(this.options.inputMarker))) {
          // UserData reaches the guest as input on its serial console (amiboot has no metadata service).
          const data = Buffer.from(row.user_data, "base64");
          run.send(data.at(-1) === 0x0a ? data : Buffer.concat([data, Buffer.from("\n")]));
        }
      });
      void run.result.then((result) => {
        freeSlot();
        this.finish(id, live, result.ok ? undefined : failure(result.error));
      });
    });
  }

  /** Asks a VM to end with an intent; resolves when its instance has settled. */
  private endVm(id: string, intent: Intent): Promise<void> {
    const live = this.live.get(id);
    if (!live) return Promise.resolve();
    live.intent ??= intent;
    live.run?.stop();
    return live.ended;
  }

  /** A VM ended: its console is kept and its instance settles by why it ended. */
  private finish(id: string, live: Live, error: StateReason | undefined): void {
    this.live.delete(id);
    try {
      fs.mkdirSync(this.consoleDir, { recursive: true });
      writeFileAtomically(this.consoleFile(id), live.console.bytes());
      this.db.prepare("update instances set milestones = ? where id = ?").run(JSON.stringify(live.milestones), id);
      this.settle(this.toInstance(this.row(id), []), live.intent, error);
    } catch (err) {
      // The database closed under a VM that ended late; the next start recovers the instance.
      if (!this.closed) throw err;
    } finally {
      live.end();
    }
  }

  /**
   * Where an instance goes when its VM is gone: a user's stop -> stopped; a
   * terminate -> terminated; a pause (CreateImage) -> stopped until it boots
   * again; the guest powering off, a failure or a server stop -> stopped for
   * EBS, terminated for instance store (which cannot stop).
   */
  private settle(i: Instance, intent: Intent | undefined, error: StateReason | undefined): void {
    if (intent === "stop" || intent === "pause") this.setState(i.instanceId, "stopped", undefined, USER_SHUTDOWN);
    else if (intent === "terminate") this.release(i, USER_SHUTDOWN);
    else {
      const reason = intent === "server-stop" ? SERVER_STOPPED : (error ?? GUEST_SHUTDOWN);
      if (i.rootDeviceType === "ebs") this.setState(i.instanceId, "stopped", undefined, reason);
      else this.release(i, reason);
    }
  }

  /** Terminated: volumes with DeleteOnTermination go; the others stay, detached. */
  private release(i: Instance, reason: StateReason): void {
    this.setState(i.instanceId, "terminated", undefined, reason);
    for (const d of i.devices) {
      if (d.volumeId && d.deleteOnTermination) {
        try {
          this.volumes.deleteVolume(d.volumeId);
        } catch (err) {
          if (!(err instanceof Ec2Error && err.code === "InvalidVolume.NotFound")) throw err;
        }
      }
    }
  }

  private change(i: Instance, to: InstanceState, act: () => unknown): StateChange {
    if (to !== i.state) this.setState(i.instanceId, to);
    void act();
    return { instanceId: i.instanceId, previous: i.state, current: to };
  }

  private setState(id: string, state: InstanceState, onlyFrom?: InstanceState, reason?: StateReason): void {
    const sql = `update instances set state = ?, state_reason = ? where id = ?${onlyFrom ? " and state = ?" : ""}`;
    this.db.prepare(sql).run(state, reason ? JSON.stringify(reason) : null, id, ...(onlyFrom ? [onlyFrom] : []));
  }

  private all(caller: string, region: string, ids: string[], op: string): Instance[] {
    if (ids.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter InstanceId", op);
    for (const id of ids) if (!isId(id, "i")) throw malformed(id, op);
    const found = ids.map((id) => this.db.prepare("select * from instances where id = ? and region = ? and owner_id = ?").get(id, region, caller) as Row | undefined);
    const missing = ids.filter((_, k) => !found[k]);
    if (missing.length > 0) throw notFound(missing, op);
    return found.map((row) => this.toInstance(row!, []));
  }

  private row(id: string): Row {
    return this.db.prepare("select * from instances where id = ?").get(id) as Row;
  }

  private consoleFile(id: string): string {
    return path.join(this.consoleDir, `${id}.log`);
  }

  private acquireSlot(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.slotsInUse++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.slotsInUse--;
          this.slots.shift()?.();
        });
      };
      if (this.slotsInUse < this.options.bootSlots) grant();
      else this.slots.push(grant);
    });
  }

  private toInstance(row: Row, tags: Tag[]): Instance {
    const live = this.live.get(row.id);
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
      milestones: live ? [...live.milestones] : (JSON.parse(row.milestones) as Milestone[]),
      tags,
    };
  }
}

export interface StateChange {
  instanceId: string;
  previous: InstanceState;
  current: InstanceState;
}

const INSTANCE_FILTERS: Record<string, (i: Instance) => (string | undefined)[]> = {
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
};

function failure(err: unknown): StateReason {
  const message = err instanceof Ec2Error ? `${err.code}: ${err.message}` : String(err);
  return { code: "Server.InternalError", message: `Server.InternalError: ${message}` };
}

function malformed(id: string, op: string): Ec2Error {
  return new Ec2Error("InvalidInstanceID.Malformed", `Invalid id: "${id}" (expecting "i-...")`, op);
}

function notFound(ids: string[], op: string): Ec2Error {
  return new Ec2Error("InvalidInstanceID.NotFound", `The instance ID${ids.length > 1 ? "s" : ""} '${ids.join(", ")}' do${ids.length > 1 ? "" : "es"} not exist`, op);
}
