import fs from "node:fs";
import path from "node:path";
import { writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { pidIsAlive } from "../pid.js";

/** Who serves a data directory: written by `amiboot serve`, read by the commands that would write beside it. */
export interface ServerHolder {
  pid: number;
  url: string;
  startedAt: string;
}

const FILE = "server.json";

/**
 * The endpoint is the only writer of a data directory while it runs: it
 * holds this lock, and the local commands that change state (volumes,
 * accounts) refuse while it is held. The lock is a file created with
 * link(2), which is atomic and never leaves a half-written file; a holder
 * that died (its pid is gone) is taken over.
 */
export class ServerLock {
  private constructor(private readonly file: string) {}

  static acquire(home: string, url: string): ServerLock {
    fs.mkdirSync(home, { recursive: true });
    const file = path.join(home, FILE);
    const mine: ServerHolder = { pid: process.pid, url, startedAt: new Date().toISOString() };
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileAtomically(tmp, `${JSON.stringify(mine)}\n`);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          fs.linkSync(tmp, file);
          return new ServerLock(file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw err;
        }
        const holder = serverHolding(home);
        if (holder) throw new Ec2Error("ResourceBusy", `another amiboot server (pid ${holder.pid}, ${holder.url}) already serves ${home}`, "store.serverLock");
        // A dead holder's lock: taken over once.
        fs.rmSync(file, { force: true });
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  release(): void {
    // Only our own: a lock taken over after we were presumed dead is not ours to remove.
    const holder = readHolder(this.file);
    if (holder?.pid === process.pid) fs.rmSync(this.file, { force: true });
  }
}

/** The live server that holds `home`, if any. */
export function serverHolding(home: string): ServerHolder | undefined {
  const holder = readHolder(path.join(home, FILE));
  return holder && pidIsAlive(holder.pid) ? holder : undefined;
}

/**
 * For local commands that write to the data directory: refuses while a
 * server holds it (the endpoint is then the only writer), naming the server
 * and what to do instead.
 */
export function refuseWhileServed(home: string, what: string, instead: string): void {
  const holder = serverHolding(home);
  if (holder) {
    throw new Ec2Error("ResourceBusy", `${what} changes ${home} directly, which the running amiboot server (pid ${holder.pid}, ${holder.url}) owns; ${instead}`, "store.serverLock");
  }
}

function readHolder(file: string): ServerHolder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<ServerHolder>;
    return Number.isInteger(h.pid) && h.pid! > 0 ? { pid: h.pid!, url: String(h.url ?? ""), startedAt: String(h.startedAt ?? "") } : undefined;
  } catch {
    // Missing or unreadable (never half-written: see acquire): no holder.
    return undefined;
  }
}
