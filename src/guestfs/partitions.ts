import type { BlockDevice } from "../volumes/block-device.js";
import { Le, readChecked } from "./bytes.js";
import { guestFsError } from "./errors.js";

/** One partition, numbered as GRUB legacy does: primaries 0-3, logicals from 4, GPT entries in order. */
export interface Partition {
  number: number;
  /** Byte offset and length on the disk. */
  start: number;
  size: number;
  /** MBR type byte ("0x83") or GPT type GUID. */
  type: string;
  /** GPT partition name, when there is one. */
  name?: string;
}

export interface PartitionTable {
  /** "none": the disk holds one filesystem with no table, GRUB's (hd0). */
  scheme: "mbr" | "gpt" | "none";
  partitions: Partition[];
}

const SECTOR = 512;
const EXTENDED = new Set([0x05, 0x0f, 0x85]);
const MAX_LOGICAL = 128;
const MAX_GPT_ENTRIES = 1024;

/** Reads the MBR (primary and logical partitions) or the GPT behind a protective MBR. */
export function readPartitionTable(dev: BlockDevice): PartitionTable {
  if (dev.size < SECTOR) return { scheme: "none", partitions: [] };
  const mbr = new Le(readChecked(dev, 0, SECTOR, "mbr"), "mbr");
  if (mbr.u16(510) !== 0xaa55) return { scheme: "none", partitions: [] };
  const entries = [0, 1, 2, 3].map((i) => mbrEntry(mbr, 446 + i * 16));
  if (entries.some((e) => e.type === 0xee)) return { scheme: "gpt", partitions: readGpt(dev) };
  // A boot sector with 0x55AA but nonsense entries is a filesystem's own (a FAT volume with no table).
  const sectors = Math.floor(dev.size / SECTOR);
  const sane = entries.every((e) => e.type === 0 || ((e.status === 0 || e.status === 0x80) && e.lba >= 1 && e.count > 0 && e.lba + e.count <= sectors));
  const used = entries.filter((e) => e.type !== 0);
  if (!sane || used.length === 0) return { scheme: "none", partitions: [] };
  const partitions: Partition[] = [];
  entries.forEach((e, i) => {
    if (e.type !== 0 && !EXTENDED.has(e.type)) partitions.push(part(i, e.lba, e.count, e.type));
  });
  const ext = entries.find((e) => EXTENDED.has(e.type));
  if (ext) partitions.push(...readLogical(dev, ext.lba, sectors));
  return { scheme: "mbr", partitions };
}

interface MbrEntry {
  status: number;
  type: number;
  lba: number;
  count: number;
}

function mbrEntry(s: Le, at: number): MbrEntry {
  return { status: s.u8(at), type: s.u8(at + 4), lba: s.u32(at + 8), count: s.u32(at + 12) };
}

function part(number: number, lba: number, count: number, type: number): Partition {
  return { number, start: lba * SECTOR, size: count * SECTOR, type: `0x${type.toString(16).padStart(2, "0")}` };
}

/** Follows the chain of extended boot records; bounded and loop-checked. */
function readLogical(dev: BlockDevice, extStart: number, sectors: number): Partition[] {
  const out: Partition[] = [];
  const seen = new Set<number>();
  let ebr = extStart;
  while (out.length < MAX_LOGICAL) {
    if (seen.has(ebr)) throw guestFsError("Loop", `extended partition chain returns to sector ${ebr}`, "guestfs.mbrLogical");
    seen.add(ebr);
    if (ebr >= sectors) throw guestFsError("OutOfBounds", `extended boot record at sector ${ebr} is past the disk's end`, "guestfs.mbrLogical");
    const s = new Le(readChecked(dev, ebr * SECTOR, SECTOR, "mbr.logical"), "mbr.logical");
    if (s.u16(510) !== 0xaa55) throw guestFsError("Corrupt", `extended boot record at sector ${ebr} has no 0x55AA signature`, "guestfs.mbrLogical");
    const logical = mbrEntry(s, 446);
    const next = mbrEntry(s, 462);
    if (logical.type !== 0) {
      const lba = ebr + logical.lba;
      if (logical.count === 0 || lba + logical.count > sectors) {
        throw guestFsError("OutOfBounds", `logical partition at sector ${lba} (+${logical.count}) runs past the disk's end`, "guestfs.mbrLogical");
      }
      out.push(part(4 + out.length, lba, logical.count, logical.type));
    }
    if (next.type === 0 || next.lba === 0) return out;
    ebr = extStart + next.lba;
  }
  throw guestFsError("Corrupt", `more than ${MAX_LOGICAL} logical partitions`, "guestfs.mbrLogical");
}

function readGpt(dev: BlockDevice): Partition[] {
  const op = "guestfs.gpt";
  const h = new Le(readChecked(dev, SECTOR, SECTOR, op), op);
  if (Buffer.from(h.slice(0, 8)).toString("latin1") !== "EFI PART") {
    throw guestFsError("Corrupt", "protective MBR but no 'EFI PART' GPT header at sector 1", op);
  }
  const entriesLba = h.u64(72);
  const count = h.u32(80);
  const entrySize = h.u32(84);
  if (count > MAX_GPT_ENTRIES) throw guestFsError("Corrupt", `GPT claims ${count} partition entries (at most ${MAX_GPT_ENTRIES})`, op);
  if (entrySize < 128 || entrySize > 4096 || entrySize % 8 !== 0) throw guestFsError("Corrupt", `GPT entry size ${entrySize} is invalid`, op);
  const table = new Le(readChecked(dev, entriesLba * SECTOR, count * entrySize, op), op);
  const sectors = Math.floor(dev.size / SECTOR);
  const out: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * entrySize;
    const type = guid(table.slice(at, 16));
    if (type === "00000000-0000-0000-0000-000000000000") continue;
    const first = table.u64(at + 32);
    const last = table.u64(at + 40);
    if (first < 1 || last < first || last >= sectors) {
      throw guestFsError("OutOfBounds", `GPT entry ${i} spans sectors ${first}-${last}, outside the ${sectors}-sector disk`, op);
    }
    const name = Buffer.from(table.slice(at + 56, 72)).toString("utf16le").replace(/\0.*$/s, "");
    out.push({ number: i, start: first * SECTOR, size: (last - first + 1) * SECTOR, type, ...(name ? { name } : {}) });
  }
  return out;
}

/** A GUID in its mixed-endian text form. */
function guid(b: Uint8Array): string {
  const h = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(b.subarray(from, to));
    return (reverse ? part.reverse() : part).map((x) => x.toString(16).padStart(2, "0")).join("");
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}
