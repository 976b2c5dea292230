import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ConsoleLines } from "../boot/console-lines.js";
import { diskPlan, planDirs } from "../boot/plan.js";
import type { Milestone } from "../boot/timer.js";
import { writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { ConsoleTail } from "../pool/console-tail.js";
import { BootPool, type BootRun } from "../pool/pool.js";
import type { NetworkPlan, NetworkUpdate } from "../net/network-plan.js";
import type { DiskSpec } from "../volumes/open.js";
import type { BootSource, StateReason } from "./instance-records.js";
import type { VmEnd } from "./instance-lifecycle.js";
import type { InstancesOptions } from "./instance-options.js";

/** Saved states are v86's own format: one per v86 version. */
const V86_VERSION = (createRequire(import.meta.url)("v86/package.json") as { version: string }).version;

/** Why amiboot itself ends a VM (the others are the guest's: power-off or failure). */
export type EndIntent = Extract<VmEnd, "user-stop" | "terminate" | "pause" | "server-stop">;

/** A machine state to restore at boot, or where to save one at the marker (warm launch). */
export interface WarmState {
  restore?: string;
  capture?: string;
}

/** What the launcher tells the instances about their VMs. */
export interface LauncherHooks {
  started(id: string): void;
  milestone(id: string, milestone: Milestone): void;
  /** The VM is gone (or never came): the instance settles by `why`. */
  ended(id: string, why: VmEnd, error: StateReason | undefined, milestones: Milestone[]): void;
}

/** A VM of an instance, from its place in the boot queue to its end. */
interface Live {
  run?: BootRun;
  intent?: EndIntent;
  console: ConsoleTail;
  milestones: Milestone[];
  ended: Promise<void>;
  end: () => void;
}

/**
 * The instances' VMs: boot slots (VMs boot `bootSlots` at a time, up to
 * their marker; the rest wait, pending), the pool of worker threads they
 * run in, UserData typed on the serial console, warm-state files, and each
 * VM's console kept in `consoleDir` when it ends.
 */
export class InstanceLauncher {
  private pool: BootPool | undefined;
  private readonly live = new Map<string, Live>();
  private readonly slots: (() => void)[] = [];
  private slotsInUse = 0;
  private closed = false;

  constructor(
    private readonly options: InstancesOptions,
    /** The volume store's home: workers open the volumes there; boot plans cache under it. */
    private readonly home: string,
    private readonly consoleDir: string,
    private readonly stateDir: string,
    private readonly hooks: LauncherHooks,
  ) {}

  /**
   * Warm launch: the machine state saved the first time this image reached
   * its marker with this memory and disk layout. Restored if it exists, else
   * this launch boots cold and saves it. Only a first boot is warm: a
   * started instance's volumes no longer match the state's view of them.
   */
  warmState(imageId: string, memoryMiB: number, disks: DiskSpec[]): WarmState {
    const layout = disks.map((d) => `${d.kind === "ebs" ? "e" : d.kind === "instance-store" ? "s" : d.kind === "ephemeral" ? "t" : "f"}${d.size}`).join("_");
    const file = path.join(this.stateDir, `${imageId}-${memoryMiB}-${layout}-${V86_VERSION}.v86state`);
    if (fs.existsSync(file)) return { restore: file };
    fs.mkdirSync(this.stateDir, { recursive: true });
    return { capture: file };
  }

  /** Resolves once no machine is being prepared for a warm launch (a benchmark waits so before its next case). */
  standbysReady(): Promise<void> {
    return this.pool?.standbysReady() ?? Promise.resolve();
  }

  has(id: string): boolean {
    return this.live.has(id);
  }

  /** The milestones of a VM that is queued or running. */
  milestones(id: string): Milestone[] | undefined {
    const live = this.live.get(id);
    return live && [...live.milestones];
  }

  /**
   * Queues a VM for the instance; it boots when a slot is free, on its
   * network when it has one. `consoleUserData`: the UserData is also typed on
   * the serial console at the input marker (opt-in, for images without a
   * network driver; the metadata service serves it either way).
   */
  boot(id: string, source: BootSource, state: WarmState = {}, extra: { network?: () => NetworkPlan | undefined; consoleUserData?: boolean } = {}): void {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const live: Live = { console: new ConsoleTail(), milestones: [], ended, end };
    this.live.set(id, live);
    void this.acquireSlot().then(async (release) => {
      if (live.intent || this.closed) {
        release();
        this.finish(id, live, undefined);
        return;
      }
      let run: BootRun;
      try {
        // The PV part of a plan (reading the guest's disk, unpacking) runs in a worker: a rejection is a failed launch.
        const plan = await diskPlan(id, source.disks, source.virtualizationType === "hvm" ? "hvm" : "pv", {
          memoryMiB: source.memoryMiB,
          timeoutSeconds: 0,
          until: this.options.marker,
          keepRunning: true,
        }, state, planDirs(this.home));
        // Built as the VM starts, so rules changed while it queued are in it.
        const network = extra.network?.();
        if (network) plan.network = network;
        if (live.intent || this.closed) throw new Ec2Error("BootAborted", "the instance was ended before its VM started", "cloud.boot");
        run = (this.pool ??= new BootPool({ maxThreads: this.options.maxInstances, standbyMachines: this.options.standbyMachines })).boot(plan);
      } catch (err) {
        release();
        this.finish(id, live, live.intent || this.closed ? undefined : failure(err));
        return;
      }
      live.run = run;
      const slotTimer = setTimeout(release, this.options.bootSlotMs);
      const freeSlot = () => {
        clearTimeout(slotTimer);
        release();
      };
      const lines = new ConsoleLines();
      run.on("started", () => this.hooks.started(id));
      run.on("milestone", (m) => {
        live.milestones.push(m);
        if (m.name === "until") freeSlot();
        this.hooks.milestone(id, m);
      });
      run.on("console", (bytes) => {
        live.console.push(bytes);
        if (extra.consoleUserData && source.userData && lines.push(bytes).some((l) => l.includes(this.options.inputMarker))) {
          // UserData reaches the guest as input on its serial console.
          const data = Buffer.from(source.userData, "base64");
          run.send(data.at(-1) === 0x0a ? data : Buffer.concat([data, Buffer.from("\n")]));
        }
      });
      // A host port that cannot listen is the instance's news, on its console; the instance runs on.
      run.on("forwards", (forwards) => {
        for (const f of forwards) {
          if (f.state === "failed") live.console.push(Buffer.from(`\r\namiboot: host ${f.hostAddress}:${f.hostPort} -> guest port ${f.guestPort} is not reachable: ${f.reason ?? "unknown reason"}\r\n`));
        }
      });
      void run.result.then((result) => {
        freeSlot();
        this.finish(id, live, result.ok ? undefined : failure(result.error));
      });
    });
  }

  /** Asks a VM to end with an intent; resolves when its instance has settled. */
  end(id: string, intent: EndIntent): Promise<void> {
    const live = this.live.get(id);
    if (!live) return Promise.resolve();
    live.intent ??= intent;
    live.run?.stop();
    return live.ended;
  }

  /** Resets a running VM's machine; its disks, instance store included, keep their data. */
  reboot(id: string): void {
    this.live.get(id)?.run?.reboot();
  }

  /** A running VM's new rules or metadata options (no-op without a VM). */
  network(id: string, update: NetworkUpdate): void {
    this.live.get(id)?.run?.network(update);
  }

  /** Types bytes on a running VM's serial console; false when it has no VM running. */
  send(id: string, bytes: Uint8Array): boolean {
    const run = this.live.get(id)?.run;
    if (!run) return false;
    run.send(bytes);
    return true;
  }

  /** The last 64 KiB of the instance's serial console (the running VM's, or the last one's). */
  consoleOutput(id: string): { output: Buffer; timestamp: string } {
    const live = this.live.get(id);
    if (live) return { output: live.console.bytes(), timestamp: new Date().toISOString() };
    const file = this.consoleFile(id);
    return fs.existsSync(file) ? { output: fs.readFileSync(file), timestamp: fs.statSync(file).mtime.toISOString() } : { output: Buffer.alloc(0), timestamp: new Date().toISOString() };
  }

  /** Ends every VM (each with the intent it has, else as after a server stop) and the pool. */
  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live.keys()].map((id) => this.end(id, this.live.get(id)?.intent ?? "server-stop")));
    await this.pool?.close();
  }

  /** A VM ended: its console is kept and its instance settles by why it ended. */
  private finish(id: string, live: Live, error: StateReason | undefined): void {
    this.live.delete(id);
    try {
      fs.mkdirSync(this.consoleDir, { recursive: true });
      writeFileAtomically(this.consoleFile(id), live.console.bytes());
      this.hooks.ended(id, live.intent ?? (error ? "failure" : "guest-power-off"), error, live.milestones);
    } catch (err) {
      // The database closed under a VM that ended late; the next start recovers the instance.
      if (!this.closed) throw err;
    } finally {
      live.end();
    }
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
}

function failure(err: unknown): StateReason {
  const message = err instanceof Ec2Error ? `${err.code}: ${err.message}` : String(err);
  return { code: "Server.InternalError", message: `Server.InternalError: ${message}` };
}
