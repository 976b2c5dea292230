import { Ec2Error } from "../errors.js";

/** Facts from a Linux kernel's x86 setup header (Documentation/arch/x86/boot.rst). */
export interface KernelHeader {
  /** Boot protocol version, e.g. "2.15". */
  protocol: string;
  /** 64 when the kernel has a 64-bit entry point (XLF_KERNEL_64), else 32. */
  bits: 32 | 64;
  /** The kernel's version string, when it has one. */
  version?: string;
  setupSectors: number;
  /** Whether it loads high (a bzImage rather than a zImage). */
  bzImage: boolean;
}

const XLF_KERNEL_64 = 0x1;

/** Reads the setup header; anything but a bzImage is an error naming what it is. */
export function readKernelHeader(kernel: Uint8Array, name: string): KernelHeader {
  const op = "boot.readKernelHeader";
  if (kernel.length < 0x250 || Buffer.from(kernel.subarray(0x202, 0x206)).toString("latin1") !== "HdrS") {
    throw new Ec2Error("InvalidKernel", `'${name}' is not a Linux bzImage: no 'HdrS' setup header at 0x202 (${whatIs(kernel)})`, op);
  }
  const dv = new DataView(kernel.buffer, kernel.byteOffset, kernel.byteLength);
  const protocol = dv.getUint16(0x206, true);
  const loadflags = dv.getUint8(0x211);
  const xloadflags = protocol >= 0x020c ? dv.getUint16(0x236, true) : 0;
  const versionPtr = dv.getUint16(0x20e, true);
  let version: string | undefined;
  if (versionPtr > 0 && versionPtr + 0x200 < kernel.length) {
    const at = versionPtr + 0x200;
    const end = kernel.indexOf(0, at);
    version = Buffer.from(kernel.subarray(at, Math.min(end < 0 ? at + 200 : end, at + 200))).toString("latin1");
  }
  return {
    protocol: `${protocol >> 8}.${(protocol & 0xff).toString().padStart(2, "0")}`,
    bits: xloadflags & XLF_KERNEL_64 ? 64 : 32,
    ...(version ? { version } : {}),
    setupSectors: dv.getUint8(0x1f1) || 4,
    bzImage: protocol >= 0x0200 && (loadflags & 0x1) === 1,
  };
}

/** Refuses kernels v86 cannot start: not a bzImage, or 64-bit. */
export function checkBootableKernel(header: KernelHeader, name: string): void {
  if (!header.bzImage) {
    throw new Ec2Error("InvalidKernel", `'${name}' is a zImage (boot protocol ${header.protocol}, not loaded high); amiboot boots bzImages`, "boot.checkBootableKernel");
  }
  if (header.bits === 64) {
    throw new Ec2Error(
      "UnsupportedOperation",
      `'${name}' is an x86_64 kernel${header.version ? ` (${header.version.split(" ")[0]})` : ""}; v86 emulates a 32-bit i686 CPU without long mode, so only i386 kernels boot`,
      "boot.checkBootableKernel",
    );
  }
}

function whatIs(bytes: Uint8Array): string {
  if (bytes.length === 0) return "the file is empty";
  const b = Buffer.from(bytes.subarray(0, 8));
  if (b.subarray(0, 4).toString("latin1") === "\x7fELF") return "found an ELF file: an uncompressed vmlinux?";
  if (b[0] === 0x1f && b[1] === 0x8b) return "found gzip data";
  if (b.subarray(0, 6).toString("latin1") === "\xfd7zXZ\x00") return "found xz data";
  if (b.subarray(0, 6).toString("latin1") === "070701") return "found a cpio archive: an initrd?";
  return `found ${bytes.length} bytes starting ${b.toString("hex")}`;
}
