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
import { pvGrub } from "./pv-grub.js";
import { amibootHome } from "../home.js";
import { unpackInitrd, unpackKernelCached } from "./host-unpack.js";

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
}

export type { DiskSpec };

/** The kernel, initrd and command line the PV-GRUB shim read from the disk. */
export interface PvKernel {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  menuPath: string;
  entry: { index: number; title: string };
  /** Why earlier entries were skipped (the fallback path), menu.lst warnings, how the kernel was unpacked. */
  notes: string[];
  /** Set when the host unpacked the kernel (see host-unpack.ts). */
  unpacked?: { compression: string; vmlinuxBytes: number; ms: number };
}

/** v86 loads the initrd at 64 MiB, the kernel at 1 MiB. */
const INITRD_AT = 64 * 1024 * 1024;

/**
 * A boot of a root disk: a raw disk file, an EBS volume (`vol-…`) or an
 * instance-store bundle (`…/NAME.manifest.xml`). HVM runs its MBR, PV runs
 * the PV-GRUB shim on it. `extraDisks` become the second disk (hdb):
 * a file, a `vol-…`, or `ephemeral:MIB` (blank instance store).
 */
export function bootPlan(target: string, mode: BootMode, options: Partial<BootOptions> = {}, extraDisks: string[] = []): BootPlan {
  const disk = rootDisk(target, mode);
  return diskPlan(path.basename(diskName(disk)), [disk, ...extraDisks.map((d, i) => extraDisk(d, i))], mode, options);
}

/**
 * A boot of disks already opened as specs (an instance's volumes), root
 * first; `state` makes it a warm launch (restore) or one that saves its
 * state at `until` for later warm launches (capture).
 */
export function diskPlan(name: string, disks: DiskSpec[], mode: BootMode, options: Partial<BootOptions> = {}, state: { restore?: string; capture?: string } = {}): BootPlan {
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
  if (mode === "pv" && !state.restore) plan.pv = pvKernel(disks[0]!, plan.name, o.memoryMiB, o.guestDecompress);
  return plan;
}

export const hvmPlan = (imagePath: string, options: Partial<BootOptions> = {}) => bootPlan(imagePath, "hvm", options);
export const pvPlan = (imagePath: string, options: Partial<BootOptions> = {}) => bootPlan(imagePath, "pv", options);

function rootDisk(target: string, mode: BootMode): DiskSpec {
  if (target.endsWith(".manifest.xml")) {
    // The manifest is checked now; the worker verifies every part before booting.
    return { kind: "instance-store", manifestPath: path.resolve(target), size: readManifest(path.resolve(target)).size };
  }
  if (!isId(target, "vol")) {
    const abs = path.resolve(target);
    return { kind: "raw-file", path: abs, size: checkDiskFile(abs, { bootSignature: mode === "hvm" }) };
  }
  const home = amibootHome();
  const spec: DiskSpec = { kind: "ebs", home, volumeId: target, size: new VolumeStore(home).getVolume(target).size };
  if (mode === "hvm") withDisk(spec, (dev) => checkBootSector(dev.read(0, 512), target));
  return spec;
}

function extraDisk(arg: string, i: number): DiskSpec {
  if (isId(arg, "vol")) {
    const home = amibootHome();
    return { kind: "ebs", home, volumeId: arg, size: new VolumeStore(home).getVolume(arg).size };
  }
  const m = /^ephemeral:(\d+)$/.exec(arg);
  if (m) {
    const mib = Number(m[1]);
    if (mib < 1 || mib > 65536) throw new Ec2Error("InvalidParameterValue", `ephemeral disk size must be 1 to 65536 MiB, got ${mib}`, "bootPlan");
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

function pvKernel(disk: DiskSpec, name: string, memoryMiB: number, guestDecompress: boolean): PvKernel {
  const dev = openDisk(disk);
  let c;
  try {
    c = pvGrub(dev, name);
  } finally {
    dev.close();
  }
  const memory = memoryMiB * 1024 * 1024;
  const notes = [...c.notes, ...c.menu.warnings.map((w) => `menu.lst ${w}`)];
  let kernel = c.kernel;
  let initrd = c.initrd;
  let unpacked: PvKernel["unpacked"];
  if (!guestDecompress) {
    const k = unpackKernelCached(c.kernel, path.join(amibootHome(), "cache", "kernels"));
    if ("reason" in k) notes.push(`kernel left for the guest to decompress: ${k.reason}`);
    else {
      kernel = k.bzImage;
      unpacked = { compression: k.compression, vmlinuxBytes: k.vmlinuxBytes, ms: k.ms };
      notes.push(`kernel unpacked on the host (${k.compression}, ${mib(k.vmlinuxBytes)} MiB vmlinux, ${k.cached ? "cached" : `${k.ms} ms`})`);
    }
    if (initrd) {
      const r = unpackInitrd(initrd, Math.max(1, memory - INITRD_AT - 1));
      if ("reason" in r) notes.push(`initrd left for the guest to decompress: ${r.reason}`);
      else {
        notes.push(`initrd unpacked on the host (${r.compression}, ${mib(initrd.length)} -> ${mib(r.initrd.length)} MiB)`);
        initrd = r.initrd;
      }
    }
  }
  if (kernel.length + 1024 * 1024 > INITRD_AT) {
    throw new Ec2Error("InvalidKernel", `the kernel is ${mib(kernel.length)} MiB; v86 needs it below 63 MiB`, "pvPlan");
  }
  const needed = initrd ? INITRD_AT + initrd.length : INITRD_AT;
  if (memory <= needed) {
    throw new Ec2Error(
      "InvalidParameterValue",
      `a PV boot${initrd ? ` with a ${mib(initrd.length)} MiB initrd` : ""} needs more than ${Math.ceil(needed / 1024 / 1024)} MiB of memory (v86 loads the initrd at 64 MiB); got ${memoryMiB}`,
      "pvPlan",
    );
  }
  return {
    kernel,
    ...(initrd ? { initrd } : {}),
    cmdline: c.cmdline,
    menuPath: c.menuPath,
    entry: { index: c.entry.index, title: c.entry.title },
    notes,
    ...(unpacked ? { unpacked } : {}),
  };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
