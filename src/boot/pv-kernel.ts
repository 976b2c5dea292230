import path from "node:path";
import { Ec2Error } from "../errors.js";
import { openDisk, type DiskSpec } from "../volumes/open.js";
import { unpackInitrdCached, unpackKernelCached } from "./host-unpack.js";
import { pvGrub } from "./pv-grub.js";

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

/** What a PV launch asks of the planner worker (plain data: it crosses a thread). */
export interface PvKernelTask {
  /** The root disk. */
  disk: DiskSpec;
  /** A name for people, in messages. */
  name: string;
  memoryMiB: number;
  guestDecompress: boolean;
  /** Where unpacked kernels and initrds are kept (`kernels/`, `initrds/`). */
  cacheDir: string;
}

/** v86 loads the initrd at 64 MiB, the kernel at 1 MiB. */
const INITRD_AT = 64 * 1024 * 1024;

/**
 * The PV part of a boot plan: runs the PV-GRUB shim on the root disk, unpacks
 * the kernel and initrd on the host (unless the guest is to), and checks they
 * fit v86's memory layout. It reads an untrusted disk and decompresses, so it
 * runs in the planner worker (workers/plan.worker.ts), never on a server's thread.
 */
export function pvKernel({ disk, name, memoryMiB, guestDecompress, cacheDir }: PvKernelTask): PvKernel {
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
    const k = unpackKernelCached(c.kernel, path.join(cacheDir, "kernels"));
    if ("reason" in k) notes.push(`kernel left for the guest to decompress: ${k.reason}`);
    else {
      kernel = k.bzImage;
      unpacked = { compression: k.compression, vmlinuxBytes: k.vmlinuxBytes, ms: k.ms };
      notes.push(`kernel unpacked on the host (${k.compression}, ${mib(k.vmlinuxBytes)} MiB vmlinux, ${k.cached ? "cached" : `${k.ms} ms`})`);
    }
    if (initrd) {
      const t0 = performance.now();
      const r = unpackInitrdCached(initrd, Math.max(1, memory - INITRD_AT - 1), path.join(cacheDir, "initrds"));
      if ("reason" in r) notes.push(`initrd left for the guest to decompress: ${r.reason}`);
      else {
        const how = r.cached ? "cached" : `${Math.round(performance.now() - t0)} ms`;
        notes.push(`initrd unpacked on the host (${r.compression}, ${mib(initrd.length)} -> ${mib(r.initrd.length)} MiB, ${how})`);
        initrd = r.initrd;
      }
    }
  }
  if (kernel.length + 1024 * 1024 > INITRD_AT) {
    throw new Ec2Error("InvalidKernel", `the kernel is ${mib(kernel.length)} MiB; v86 needs it below 63 MiB`, "boot.pvPlan");
  }
  const needed = initrd ? INITRD_AT + initrd.length : INITRD_AT;
  if (memory <= needed) {
    throw new Ec2Error(
      "InvalidParameterValue",
      `a PV boot${initrd ? ` with a ${mib(initrd.length)} MiB initrd` : ""} needs more than ${Math.ceil(needed / 1024 / 1024)} MiB of memory (v86 loads the initrd at 64 MiB); got ${memoryMiB}`,
      "boot.pvPlan",
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
