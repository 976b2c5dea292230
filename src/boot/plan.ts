import path from "node:path";
import { findFirmware, type Firmware } from "./firmware.js";
import { checkHvmDisk } from "./hvm-disk.js";
import { bootOptions, type BootOptions } from "./options.js";

/**
 * Everything a worker needs to run one VM, as plain data (it crosses the
 * worker boundary by structured clone); workers open the disks themselves.
 */
export interface BootPlan {
  mode: "hvm";
  /** A name for people: the image's file name. */
  name: string;
  /** Disks in v86's order, root first. */
  disks: DiskSpec[];
  memoryMiB: number;
  firmware: Firmware;
  /** Ends the boot as failed after this many ms; 0 means never. */
  timeoutMs: number;
  /** Serial console text that ends the boot successfully. */
  until?: string;
}

/** A raw image file, read-only; the guest's writes stay in memory. */
export interface DiskSpec {
  kind: "raw-file";
  path: string;
  size: number;
}

/** An HVM boot of a raw disk: SeaBIOS runs the disk's MBR. */
export function hvmPlan(imagePath: string, options: Partial<BootOptions> = {}): BootPlan {
  const o = bootOptions(options);
  const abs = path.resolve(imagePath);
  const size = checkHvmDisk(abs);
  return {
    mode: "hvm",
    name: path.basename(abs),
    disks: [{ kind: "raw-file", path: abs, size }],
    memoryMiB: o.memoryMiB,
    firmware: findFirmware(),
    timeoutMs: Math.round(o.timeoutSeconds * 1000),
    ...(o.until !== undefined ? { until: o.until } : {}),
  };
}
