import type { NetworkPlan } from "../net/network-plan.js";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { isId } from "../ids.js";
import type { BlockDevice } from "../volumes/block-device.js";
import { readManifest } from "../volumes/bundle.js";
import { diskName, openDisk, type DiskSpec } from "../volumes/open.js";
import { VolumeStore } from "../volumes/store.js";
import { checkBootSector, checkDiskFile } from "./disk-file.js";
import { findFirmware, type Firmware } from "./firmware.js";
import { bootOptions, type BootOptions } from "./options.js";
import { planPvKernel } from "../pool/planner.js";
import type { PvKernel } from "./pv-kernel.js";

/** How a guest starts: SeaBIOS runs the disk's MBR, or the PV-GRUB shim hands v86 a kernel. */
export type BootMode = "hvm" | "pv";

/**
 * Everything a worker needs to run one VM, as plain data (it crosses the
 * worker boundary by structured clone); workers open the disks themselves.
 */
export interface BootPlan {
  mode: BootMode;
  /** A name for people: the image's file name. */
  name: string;
  /** Disks in v86's order, root first. */
  disks: DiskSpec[];
  memoryMiB: number;
  firmware: Firmware;
  /** Ends the boot as failed after this many ms; 0 means never. */
  timeoutMs: number;
  /** Serial console text that ends the boot successfully (or, with keepRunning, only marks it). */
  until?: string;
  /** The VM runs on after `until`: an instance, not a boot test. */
  keepRunning?: boolean;
  /** Warm launch: start from this saved machine state instead of a cold boot (the state's guest is at its `until` text). */
  restoreState?: string;
  /** Save the machine's state to this file when `until` shows (if no such file exists), for later warm launches. */
  captureState?: string;
  /** PV only: what the shim chose on the root disk. */
  pv?: PvKernel;
  /** The instance's network (NIC, addresses, metadata, port forwards); none for a plain boot. */
  network?: NetworkPlan;
}

export type { DiskSpec, PvKernel };

/**
 * A machine restored from a saved state ahead of its launch (a warm
 * launch's standby): what its machine is built from, which a launch must
 * match (`standbyKey`). The rest (the disks themselves, the addresses, the
 * marker, the timeout) comes with the launch's BootPlan.
 */
export interface StandbyPlan {
  restoreState: string;
  memoryMiB: number;
  firmware: Firmware;
  diskSizes: number[];
  nic?: "ne2k" | "virtio";
}

/** The standby a warm launch's plan could use; none for a cold boot. */
export function standbyPlan(plan: BootPlan): StandbyPlan | undefined {
  if (!plan.restoreState) return undefined;
  return {
    restoreState: plan.restoreState,
    memoryMiB: plan.memoryMiB,
    firmware: plan.firmware,
    diskSizes: plan.disks.map((d) => d.size),
    ...(plan.network ? { nic: plan.network.nic } : {}),
  };
}

/** Two plans with the same key build the same machine. */
export function standbyKey(s: StandbyPlan): string {
  return JSON.stringify([s.restoreState, s.memoryMiB, s.firmware.bios, s.firmware.vgaBios ?? "", s.diskSizes, s.nic ?? ""]);
}

/**
 * Where a plan finds the EBS store (`home`, as `$AMIBOOT_HOME`) and keeps its
 * unpacked kernels and initrds (`cacheDir`); callers say, plans never look.
 */
export interface PlanDirs {
  home: string;
  cacheDir: string;
}

/** The directories of the amiboot home `home`. */
export function planDirs(home: string): PlanDirs {
  return { home, cacheDir: path.join(home, "cache") };
}

/**
 * A boot of a root disk: a raw disk file, an EBS volume (`vol-…`) or an
 * instance-store bundle (`…/NAME.manifest.xml`). HVM runs its MBR, PV runs
 * the PV-GRUB shim on it. `extraDisks` become the second disk (hdb):
 * a file, a `vol-…`, or `ephemeral:MIB` (blank instance store).
 */
export async function bootPlan(target: string, mode: BootMode, options: Partial<BootOptions> = {}, extraDisks: string[] = [], dirs: PlanDirs): Promise<BootPlan> {
  const disk = rootDisk(target, mode, dirs.home);
  return diskPlan(path.basename(diskName(disk)), [disk, ...extraDisks.map((d, i) => extraDisk(d, i, dirs.home))], mode, options, {}, dirs);
}

/**
 * A boot of disks already opened as specs (an instance's volumes), root
 * first; `state` makes it a warm launch (restore) or one that saves its
 * state at `until` for later warm launches (capture). A PV plan's disk
 * reading and unpacking run in the planner worker (pool/planner.ts).
 */
export async function diskPlan(
  name: string,
  disks: DiskSpec[],
  mode: BootMode,
  options: Partial<BootOptions> = {},
  state: { restore?: string; capture?: string } = {},
  dirs: PlanDirs,
): Promise<BootPlan> {
  const o = bootOptions(options);
  const plan: BootPlan = {
    mode,
    name,
    disks,
    memoryMiB: o.memoryMiB,
    firmware: findFirmware(),
    timeoutMs: Math.round(o.timeoutSeconds * 1000),
    ...(o.until !== undefined ? { until: o.until } : {}),
    ...(o.keepRunning ? { keepRunning: true } : {}),
    ...(state.restore ? { restoreState: state.restore } : state.capture ? { captureState: state.capture } : {}),
  };
  // A restored machine's memory already holds its kernel.
  if (mode === "pv" && !state.restore) {
    plan.pv = await planPvKernel({ disk: disks[0]!, name: plan.name, memoryMiB: o.memoryMiB, guestDecompress: o.guestDecompress, cacheDir: dirs.cacheDir });
  }
  return plan;
}

export const hvmPlan = (imagePath: string, options: Partial<BootOptions>, dirs: PlanDirs) => bootPlan(imagePath, "hvm", options, [], dirs);
export const pvPlan = (imagePath: string, options: Partial<BootOptions>, dirs: PlanDirs) => bootPlan(imagePath, "pv", options, [], dirs);

function rootDisk(target: string, mode: BootMode, home: string): DiskSpec {
  if (target.endsWith(".manifest.xml")) {
    // The manifest is checked now; the worker verifies every part before booting.
    return { kind: "instance-store", manifestPath: path.resolve(target), size: readManifest(path.resolve(target)).size };
  }
  if (!isId(target, "vol")) {
    const abs = path.resolve(target);
    return { kind: "raw-file", path: abs, size: checkDiskFile(abs, { bootSignature: mode === "hvm" }) };
  }
  const spec: DiskSpec = { kind: "ebs", home, volumeId: target, size: new VolumeStore(home).getVolume(target).size };
  if (mode === "hvm") withDisk(spec, (dev) => checkBootSector(dev.read(0, 512), target));
  return spec;
}

function extraDisk(arg: string, i: number, home: string): DiskSpec {
  if (isId(arg, "vol")) {
    return { kind: "ebs", home, volumeId: arg, size: new VolumeStore(home).getVolume(arg).size };
  }
  const m = /^ephemeral:(\d+)$/.exec(arg);
  if (m) {
    const mib = Number(m[1]);
    if (mib < 1 || mib > 65536) throw new Ec2Error("InvalidParameterValue", `ephemeral disk size must be 1 to 65536 MiB, got ${mib}`, "boot.bootPlan");
    return { kind: "ephemeral", name: `ephemeral${i}`, size: mib * 1024 * 1024 };
  }
  const abs = path.resolve(arg);
  return { kind: "raw-file", path: abs, size: checkDiskFile(abs, { bootSignature: false }) };
}

function withDisk<T>(spec: DiskSpec, fn: (dev: BlockDevice) => T): T {
  const dev = openDisk(spec);
  try {
    return fn(dev);
  } finally {
    dev.close();
  }
}
