import fs from "node:fs";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { pidIsAlive } from "../pid.js";

const LOCK_WAIT_MS = 30_000;

/**
 * Runs `fn` holding the volume store's lock under `home` (a directory: mkdir
 * is atomic, across processes too); a dead holder's lock is taken over.
 */
export function withStoreLock<T>(home: string, fn: () => T): T {
  const lock = path.join(home, "lock");
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (holderIsDead(lock)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Ec2Error("ResourceBusy", `the volume store at ${home} stayed locked for ${LOCK_WAIT_MS / 1000} s`, "volumes.lock");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function holderIsDead(lock: string): boolean {
  let pid = Number.NaN;
  try {
    pid = Number(fs.readFileSync(path.join(lock, "pid"), "utf8"));
  } catch {
    // No pid file yet: handled with an empty one below.
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    // A lock without a pid (no file, or an empty one) is either being created or left by a crash mid-creation.
    // (An empty file must not reach process.kill: pid 0 is the caller's own process group, always alive.)
    const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    return age > 5000;
  }
  return !pidIsAlive(pid);
}
