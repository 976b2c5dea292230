import { randomBytes } from "node:crypto";
import fs from "node:fs";

/**
 * Writes `target` through a temporary file in the same directory, synced and
 * then renamed into place: readers (and a process killed midway) see the old
 * file or the whole new one, never a part. A failed write leaves nothing.
 */
export function writeAtomically(target: string, write: (fd: number) => void): void {
  const tmp = `${target}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  const fd = fs.openSync(tmp, "wx", 0o644);
  try {
    write(fd);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, target);
}

/** writeAtomically with the whole content at hand. */
export function writeFileAtomically(target: string, data: string | Uint8Array): void {
  writeAtomically(target, (fd) => {
    if (typeof data === "string") fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
  });
}
