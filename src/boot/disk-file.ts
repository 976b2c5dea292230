import fs from "node:fs";
import { Ec2Error } from "../errors.js";
import { SECTOR_SIZE } from "../volumes/block-device.js";

/**
 * Checks, before any worker starts, that a path is a raw disk: a readable
 * regular file of at least one sector; for an HVM boot (SeaBIOS runs the
 * MBR) its first sector must end in 0x55AA. Returns the disk's size in bytes.
 */
export function checkDiskFile(path: string, options: { bootSignature: boolean }): number {
  const op = "boot.checkDiskFile";
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Ec2Error("InvalidDiskImage.NotFound", `disk image '${path}' does not exist`, op);
    throw new Ec2Error("InvalidDiskImage.Unreadable", `cannot read disk image '${path}': ${(err as Error).message}`, op);
  }
  if (st.isDirectory()) throw new Ec2Error("InvalidDiskImage.NotAFile", `'${path}' is a directory, not a disk image`, op);
  if (!st.isFile()) throw new Ec2Error("InvalidDiskImage.NotAFile", `'${path}' is not a regular file`, op);
  if (st.size === 0) throw new Ec2Error("InvalidDiskImage.Empty", `disk image '${path}' is empty (0 bytes)`, op);
  if (st.size < SECTOR_SIZE) {
    throw new Ec2Error("InvalidDiskImage.TooSmall", `disk image '${path}' is ${st.size} bytes, smaller than one 512-byte sector`, op);
  }
  const mbr = Buffer.alloc(SECTOR_SIZE);
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, "r");
    fs.readSync(fd, mbr, 0, SECTOR_SIZE, 0);
  } catch (err) {
    throw new Ec2Error("InvalidDiskImage.Unreadable", `cannot read disk image '${path}': ${(err as Error).message}`, op);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (options.bootSignature) checkBootSector(mbr, `disk image '${path}'`);
  return st.size;
}

/** SeaBIOS boots a disk only when its first sector ends in 0x55AA. */
export function checkBootSector(mbr: Uint8Array, what: string): void {
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) {
    const found = `0x${hex(mbr[510]!)}${hex(mbr[511]!)}`;
    throw new Ec2Error(
      "InvalidDiskImage.NotBootable",
      `${what} has no boot signature (bytes 510-511 are ${found}, expected 0x55AA): the BIOS would not boot it`,
      "boot.checkBootSector",
    );
  }
}

function hex(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, "0");
}
