import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomically } from "../durable-file.js";

/**
 * A directory of host-side unpacking results (kernels, initrds), each keyed
 * by the SHA-256 of its compressed input: the same image launched again
 * skips the decompression. An entry is two files, `KEY.EXT` (the bytes) and
 * `KEY.json` (facts about them, with the bytes' own size and SHA-256); both
 * are written to a temporary name and renamed, so a crash leaves the old
 * entry or the whole new one. An entry whose bytes do not match its facts
 * (damaged, truncated, or written by an older amiboot) is ignored and
 * rewritten: whatever this returns goes to a guest.
 */
export type Unpacked<M> = { bytes: Uint8Array; facts: M } | { reason: string };

export function throughCache<M extends object>(
  dir: string,
  input: Uint8Array,
  ext: string,
  unpack: () => Unpacked<M>,
): ({ bytes: Uint8Array; facts: M; cached: boolean }) | { reason: string } {
  const key = sha256(input);
  const file = path.join(dir, `${key}.${ext}`);
  const meta = path.join(dir, `${key}.json`);
  const hit = read<M>(file, meta);
  if (hit) return { ...hit, cached: true };
  const r = unpack();
  if ("reason" in r) return r;
  try {
    fs.mkdirSync(dir, { recursive: true });
    // The bytes first: facts naming bytes that are not there yet would only miss.
    writeFileAtomically(file, r.bytes);
    writeFileAtomically(meta, JSON.stringify({ facts: r.facts, size: r.bytes.length, sha256: sha256(r.bytes) }));
  } catch {
    // A cache that cannot be written only costs time.
  }
  return { ...r, cached: false };
}

function read<M>(file: string, meta: string): { bytes: Uint8Array; facts: M } | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(meta, "utf8")) as { facts?: M; size?: number; sha256?: string };
    if (typeof m.size !== "number" || typeof m.sha256 !== "string" || typeof m.facts !== "object" || m.facts === null) return undefined;
    // The size first, so that a damaged entry the size of a disk is never read whole.
    if (fs.statSync(file).size !== m.size) return undefined;
    const bytes = fs.readFileSync(file);
    return sha256(bytes) === m.sha256 ? { bytes, facts: m.facts } : undefined;
  } catch {
    // Not cached, or unreadable: unpack again.
    return undefined;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
