import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";

/** The EBS block: snapshots store and checksum the disk in 512 KiB pieces. */
export const CHUNK_SIZE = 512 * 1024;

const HASH = /^[0-9a-f]{64}$/;
const OPEN_CHUNKS = 64;

/**
 * Content-addressed chunks named by their SHA-256, stored once however many
 * snapshots use them. A chunk is written to a temporary name, fsynced and
 * renamed, so a crash never leaves a half-written chunk under its real name;
 * a read verifies the hash, so a damaged chunk is reported, never returned.
 */
export class ChunkStore {
  /** Open chunk files of readInto, oldest first. */
  private readonly fds = new Map<string, number>();

  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
  }

  static hash(bytes: Uint8Array): string {
    return createHash("sha256").update(bytes).digest("hex");
  }

  /** Stores a chunk (if new) and returns its hash. */
  put(bytes: Uint8Array, hash = ChunkStore.hash(bytes)): string {
    const file = this.file(hash);
    if (fs.existsSync(file)) return hash;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomically(file, bytes);
    return hash;
  }

  /**
   * A chunk's bytes, checked against its name. With `trusted`, a chunk this
   * reader already verified is read without hashing it again (chunk files
   * are immutable; the first read of each one in a VM is always checked).
   */
  get(hash: string, trusted?: Set<string>): Uint8Array {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(this.file(hash));
    } catch (err) {
      throw new Ec2Error("InvalidSnapshot.Corrupt", `chunk ${hash} is missing from the store (${(err as NodeJS.ErrnoException).code})`, "volumes.chunkStoreGet");
    }
    if (trusted?.has(hash)) return bytes;
    if (ChunkStore.hash(bytes) !== hash) {
      throw new Ec2Error("InvalidSnapshot.Corrupt", `chunk ${hash} is damaged: its SHA-256 no longer matches`, "volumes.chunkStoreGet");
    }
    trusted?.add(hash);
    return bytes;
  }

  /** Reads part of a chunk already verified by this reader straight into `into` (no copy, no hash). */
  readInto(hash: string, into: Uint8Array, at: number, within: number, n: number): void {
    let fd = this.fds.get(hash);
    if (fd === undefined) {
      try {
        fd = fs.openSync(this.file(hash), "r");
      } catch (err) {
        throw new Ec2Error("InvalidSnapshot.Corrupt", `chunk ${hash} is missing from the store (${(err as NodeJS.ErrnoException).code})`, "volumes.chunkStoreReadInto");
      }
      if (this.fds.size >= OPEN_CHUNKS) {
        const [oldest, oldFd] = this.fds.entries().next().value!;
        fs.closeSync(oldFd);
        this.fds.delete(oldest);
      }
      this.fds.set(hash, fd);
    }
    const got = fs.readSync(fd, into, at, n, within);
    if (got !== n) throw new Ec2Error("InvalidSnapshot.Corrupt", `chunk ${hash} is shorter than it was when verified`, "volumes.chunkStoreReadInto");
  }

  /** Closes the chunk files readInto keeps open. */
  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  has(hash: string): boolean {
    return fs.existsSync(this.file(hash));
  }

  delete(hash: string): void {
    fs.rmSync(this.file(hash), { force: true });
  }

  /** Every stored chunk's hash (leftover temporary files are not chunks). */
  list(): string[] {
    const out: string[] = [];
    for (const dir of safeReaddir(this.root)) {
      for (const name of safeReaddir(path.join(this.root, dir))) if (HASH.test(name)) out.push(name);
    }
    return out;
  }

  /** Removes temporary files a crash left behind. */
  sweepTemporary(): number {
    let n = 0;
    for (const dir of safeReaddir(this.root)) {
      for (const name of safeReaddir(path.join(this.root, dir))) {
        if (name.endsWith(".tmp")) {
          fs.rmSync(path.join(this.root, dir, name), { force: true });
          n++;
        }
      }
    }
    return n;
  }

  private file(hash: string): string {
    if (!HASH.test(hash)) throw new Ec2Error("InvalidSnapshot.Corrupt", `'${hash}' is not a chunk name`, "volumes.chunkStore");
    return path.join(this.root, hash.slice(0, 2), hash);
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
