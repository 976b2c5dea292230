import { Ec2Error } from "../errors.js";
import type { GuestFilesystem } from "../guestfs/filesystem.js";
import { openFilesystem, partitionDevice } from "../guestfs/open.js";
import { readPartitionTable, type PartitionTable } from "../guestfs/partitions.js";
import type { BlockDevice } from "../volumes/block-device.js";
import { checkBootableKernel, readKernelHeader, type KernelHeader } from "./bzimage.js";
import { formatDevice, parseMenuLst, type GrubDevice, type GrubPath, type Menu, type MenuEntry } from "./menu-lst.js";

/**
 * The PV-GRUB shim: what Xen's PV-GRUB does before a paravirtual guest runs,
 * done on the host. It finds menu.lst on the root disk in PV-GRUB's order,
 * picks the default entry (or the fallback when the default's files are
 * missing or unbootable) and reads the kernel and initrd it names.
 */
export interface PvChoice {
  /** Where menu.lst was found, e.g. "(hd0,0)/boot/grub/menu.lst". */
  menuPath: string;
  menu: Menu;
  entry: MenuEntry;
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  header: KernelHeader;
  /** Why entries before the chosen one were skipped. */
  notes: string[];
}

/** PV-GRUB's search: (hd0)/boot/grub, then (hd0,0)/boot/grub, (hd0,0)/grub, ... (hd0,3)/grub. */
export const MENU_SEARCH: { device: GrubDevice; dir: string }[] = [
  { device: { disk: 0 }, dir: "/boot/grub" },
  ...[0, 1, 2, 3].flatMap((partition) => [
    { device: { disk: 0, partition }, dir: "/boot/grub" },
    { device: { disk: 0, partition }, dir: "/grub" },
  ]),
];

const MAX_MENU_BYTES = 64 * 1024;

/** The guest disk as GRUB sees it: (hd0) and its partitions, filesystems opened on demand. */
export class GrubDisk {
  readonly table: PartitionTable;
  private readonly opened = new Map<string, GuestFilesystem | Error>();

  constructor(private readonly dev: BlockDevice) {
    this.table = readPartitionTable(dev);
  }

  /** The filesystem on a GRUB device; throws a GuestFs error or PvGrub.NoSuchDevice. */
  fs(device: GrubDevice): GuestFilesystem {
    const key = formatDevice(device);
    let fs = this.opened.get(key);
    if (!fs) {
      try {
        fs = openFilesystem(this.deviceOf(device));
      } catch (err) {
        fs = err as Error;
      }
      this.opened.set(key, fs);
    }
    if (fs instanceof Error) throw fs;
    return fs;
  }

  private deviceOf(device: GrubDevice): BlockDevice {
    if (device.disk !== 0) throw new Ec2Error("PvGrub.NoSuchDevice", `${formatDevice(device)}: a PV guest has only one boot disk, (hd0)`, "boot.grubDisk");
    if (device.partition === undefined) return this.dev;
    const p = this.table.partitions.find((x) => x.number === device.partition);
    if (!p) throw new Ec2Error("PvGrub.NoSuchDevice", `${formatDevice(device)}: the disk has no such partition`, "boot.grubDisk");
    return partitionDevice(this.dev, p);
  }
}

/** Finds and parses menu.lst in PV-GRUB's order. */
export function findMenu(disk: GrubDisk): { device: GrubDevice; path: string; menu: Menu } {
  const tried: string[] = [];
  for (const { device, dir } of MENU_SEARCH) {
    const where = `${formatDevice(device)}${dir}`;
    try {
      const fs = disk.fs(device);
      const file = `${dir}/menu.lst`;
      if (!fs.isFile(file)) {
        tried.push(`${where}: no menu.lst`);
        continue;
      }
      const bytes = fs.readFile(file);
      const text = Buffer.from(bytes.subarray(0, MAX_MENU_BYTES)).toString("latin1");
      const menu = parseMenuLst(text);
      if (bytes.length > MAX_MENU_BYTES) menu.warnings.unshift(`menu.lst is ${bytes.length} bytes; only the first ${MAX_MENU_BYTES} are read`);
      return { device, path: `${where}/menu.lst`, menu };
    } catch (err) {
      // Devices the disk does not have are no news; say why the others failed.
      if ((err as Ec2Error).code !== "PvGrub.NoSuchDevice") tried.push(`${where}: ${(err as Error).message}`);
    }
  }
  throw new Ec2Error("PvGrub.MenuNotFound", `no menu.lst found where PV-GRUB looks (${tried.join("; ")})`, "boot.findMenu");
}

/** Runs the shim: the entry to boot, its kernel, initrd and command line. */
export function pvGrub(dev: BlockDevice, name: string): PvChoice {
  const disk = new GrubDisk(dev);
  const found = findMenu(disk);
  const { menu } = found;
  if (menu.entries.length === 0) throw new Ec2Error("PvGrub.NoEntries", `${found.path} has no 'title' entries`, "boot.pvGrub");
  const order = [...new Set([menu.default, ...menu.fallback])].filter((i) => i < menu.entries.length);
  const notes: string[] = [];
  let firstError: Error | undefined;
  for (const index of order) {
    const entry = menu.entries[index]!;
    try {
      const loaded = loadEntry(disk, found.device, entry, name);
      return { menuPath: found.path, menu, entry, ...loaded, notes };
    } catch (err) {
      firstError ??= err as Error;
      notes.push(`entry ${index} '${entry.title}' skipped: ${(err as Error).message}`);
    }
  }
  const e = firstError as Ec2Error;
  const tail = notes.length > 1 ? ` (fallbacks failed too: ${notes.slice(1).join("; ")})` : "";
  throw new Ec2Error(e.code ?? "PvGrub.BootFailed", `${found.path}: ${notes[0]}${tail}`, "boot.pvGrub");
}

function loadEntry(disk: GrubDisk, menuDevice: GrubDevice, entry: MenuEntry, name: string) {
  if (!entry.kernel) throw new Ec2Error("PvGrub.NoKernel", "the entry has no 'kernel' line", "boot.loadEntry");
  const kernel = readGrubFile(disk, entry.kernel, entry.root ?? menuDevice);
  const kernelName = `${name}:${describe(entry.kernel, entry.root ?? menuDevice)}`;
  const header = readKernelHeader(kernel, kernelName);
  checkBootableKernel(header, kernelName);
  const initrd = entry.initrd ? readGrubFile(disk, entry.initrd, entry.root ?? menuDevice) : undefined;
  return { kernel, ...(initrd ? { initrd } : {}), cmdline: entry.kernel.args, header };
}

/** A file named in menu.lst: its own device prefix, else the entry's root, else menu.lst's device. */
export function readGrubFile(disk: GrubDisk, file: GrubPath, root: GrubDevice): Uint8Array {
  const device = file.device ?? root;
  try {
    return disk.fs(device).readFile(file.path);
  } catch (err) {
    const e = err as Ec2Error;
    throw new Ec2Error(e.code ?? "PvGrub.FileError", `${describe(file, root)}: ${e.message}`, "boot.readGrubFile");
  }
}

export function describe(file: GrubPath, root: GrubDevice): string {
  return `${formatDevice(file.device ?? root)}${file.path}`;
}
