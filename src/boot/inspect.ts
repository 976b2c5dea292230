import type { GuestFilesystem } from "../guestfs/filesystem.js";
import type { Partition } from "../guestfs/partitions.js";
import { RawFileDevice } from "../volumes/raw-file.js";
import { readKernelHeader, type KernelHeader } from "./bzimage.js";
import { formatDevice, type GrubDevice, type MenuEntry } from "./menu-lst.js";
import { describe, findMenu, GrubDisk, pvGrub, readGrubFile } from "./pv-grub.js";

/** What `amiboot inspect` reports about a disk: its layout and what PV-GRUB would boot. */
export interface DiskReport {
  image: string;
  size: number;
  partitionTable: "mbr" | "gpt" | "none";
  devices: DeviceReport[];
  menu?: {
    path: string;
    default: number;
    fallback: number[];
    timeout?: number;
    hiddenmenu: boolean;
    entries: EntryReport[];
    warnings: string[];
  };
  /** The entry the PV-GRUB shim would boot, or why none can boot. */
  pvBoot?: { entry: number; title: string; notes: string[] } | { error: { code: string; message: string } };
  errors: string[];
}

export interface DeviceReport {
  device: string;
  start: number;
  size: number;
  type?: string;
  name?: string;
  filesystem?: { type: string; label: string; size: number };
  error?: string;
}

export interface EntryReport {
  index: number;
  title: string;
  root?: string;
  kernel?: string;
  args?: string;
  initrd?: string;
  kernelHeader?: KernelHeader;
  kernelError?: string;
}

export function inspectDisk(image: string): DiskReport {
  const dev = new RawFileDevice(image);
  try {
    const report: DiskReport = { image, size: dev.size, partitionTable: "none", devices: [], errors: [] };
    let disk: GrubDisk;
    try {
      disk = new GrubDisk(dev);
    } catch (err) {
      report.errors.push((err as Error).message);
      return report;
    }
    report.partitionTable = disk.table.scheme;
    const devices: [GrubDevice, Partition | undefined][] =
      disk.table.scheme === "none" ? [[{ disk: 0 }, undefined]] : disk.table.partitions.map((p) => [{ disk: 0, partition: p.number }, p]);
    for (const [device, p] of devices) {
      const d: DeviceReport = { device: formatDevice(device), start: p?.start ?? 0, size: p?.size ?? dev.size, ...(p ? { type: p.type } : {}), ...(p?.name ? { name: p.name } : {}) };
      try {
        const fs: GuestFilesystem = disk.fs(device);
        d.filesystem = { type: fs.type, label: fs.label, size: fs.size };
      } catch (err) {
        d.error = (err as Error).message;
      }
      report.devices.push(d);
    }
    let found;
    try {
      found = findMenu(disk);
    } catch (err) {
      report.errors.push((err as Error).message);
      return report;
    }
    const { menu } = found;
    report.menu = {
      path: found.path,
      default: menu.default,
      fallback: menu.fallback,
      ...(menu.timeout !== undefined ? { timeout: menu.timeout } : {}),
      hiddenmenu: menu.hiddenmenu,
      entries: menu.entries.map((e) => entryReport(disk, found.device, e)),
      warnings: menu.warnings,
    };
    try {
      const choice = pvGrub(dev, image);
      report.pvBoot = { entry: choice.entry.index, title: choice.entry.title, notes: choice.notes };
    } catch (err) {
      const e = err as { code?: string; message: string };
      report.pvBoot = { error: { code: e.code ?? "PvGrub.BootFailed", message: e.message } };
    }
    return report;
  } finally {
    dev.close();
  }
}

function entryReport(disk: GrubDisk, menuDevice: GrubDevice, e: MenuEntry): EntryReport {
  const root = e.root ?? menuDevice;
  const r: EntryReport = { index: e.index, title: e.title, root: formatDevice(root) };
  if (e.initrd) r.initrd = describe(e.initrd, root);
  if (!e.kernel) return r;
  r.kernel = describe(e.kernel, root);
  r.args = e.kernel.args;
  try {
    r.kernelHeader = readKernelHeader(readGrubFile(disk, e.kernel, root), r.kernel);
  } catch (err) {
    r.kernelError = (err as Error).message;
  }
  return r;
}
