import type { BlockDevice } from "../volumes/block-device.js";
import { Le, readChecked } from "./bytes.js";
import { guestFsError } from "./errors.js";
import { falseIfMissing, MAX_FILE_BYTES, pathParts, type GuestFilesystem } from "./filesystem.js";

const OP = "guestfs.fat";
/** Directories larger than this are treated as corrupt (bounds memory per lookup). */
const MAX_DIR_ENTRIES = 65536;
/** Consecutive clusters are read together, up to this many bytes per device read. */
const MAX_RUN_BYTES = 4 * 1024 * 1024;
/** FAT sectors are cached in chunks of this size while following chains. */
const FAT_CHUNK = 4096;
const END = -1;
const ATTR_VOLUME = 0x08;
const ATTR_DIR = 0x10;
const ATTR_LFN = 0x0f;

interface Entry {
  /** The long name when a valid LFN sequence precedes the entry, else the 8.3 name. */
  name: string;
  short: string;
  isDir: boolean;
  cluster: number;
  size: number;
  /** A volume-label entry: never listed or looked up. */
  label?: boolean;
  /** The FAT12/16 root, which lives in a fixed region rather than a cluster chain. */
  fixedRoot?: boolean;
}

/** Cheap check that a boot sector carries a plausible FAT BPB. */
export function isFat(bootSector: Uint8Array): boolean {
  if (bootSector.length < 512 || bootSector[510] !== 0x55 || bootSector[511] !== 0xaa) return false;
  const bpb = new Le(bootSector, "isFat");
  const bytesPerSector = bpb.u16(11);
  const perCluster = bpb.u8(13);
  const media = bpb.u8(21);
  return (
    [512, 1024, 2048, 4096].includes(bytesPerSector) &&
    perCluster >= 1 &&
    perCluster <= 128 &&
    (perCluster & (perCluster - 1)) === 0 &&
    bpb.u16(14) >= 1 &&
    bpb.u8(16) >= 1 &&
    (media === 0xf0 || media >= 0xf8)
  );
}

/** A read-only FAT12/16/32 reader that treats every byte of the image as hostile. */
export class FatFilesystem implements GuestFilesystem {
  readonly label: string;
  private readonly root: Entry;
  private chunkNo = -1;
  private chunk: Uint8Array = new Uint8Array(0);

  private constructor(
    private readonly dev: BlockDevice,
    readonly type: "fat12" | "fat16" | "fat32",
    readonly size: number,
    private readonly fatStart: number,
    private readonly fatBytes: number,
    private readonly rootStart: number,
    private readonly rootEntries: number,
    private readonly dataStart: number,
    private readonly clusterBytes: number,
    private readonly maxCluster: number,
    rootCluster: number,
    bpbLabel: string,
  ) {
    this.root = { name: "/", short: "/", isDir: true, cluster: rootCluster, size: 0, fixedRoot: type !== "fat32" };
    const volume = this.entries(this.root, "/").find((e) => e.label);
    this.label = (volume ? volume.short : bpbLabel).trim();
  }

  /** Reads and validates the BPB; throws GuestFs.Unsupported when the device holds no FAT. */
  static open(dev: BlockDevice): FatFilesystem {
    const boot = readChecked(dev, 0, 512, OP);
    if (!isFat(boot)) throw guestFsError("Unsupported", "no FAT boot sector (signature or BPB missing)", OP);
    const bpb = new Le(boot, OP);
    const bps = bpb.u16(11);
    const spc = bpb.u8(13);
    const reserved = bpb.u16(14);
    const fats = bpb.u8(16);
    const rootEntries = bpb.u16(17);
    const fatSectors = bpb.u16(22) || bpb.u32(36);
    const totalSectors = bpb.u16(19) || bpb.u32(32);
    const rootSectors = Math.ceil((rootEntries * 32) / bps);
    const firstData = reserved + fats * fatSectors + rootSectors;
    if (fatSectors === 0 || totalSectors <= firstData) {
      throw guestFsError("Corrupt", `BPB layout is impossible (${totalSectors} sectors, data from sector ${firstData})`, OP);
    }
    const clusters = Math.floor((totalSectors - firstData) / spc);
    // Microsoft's rule: the cluster count alone decides the FAT type.
    const type = clusters < 4085 ? "fat12" : clusters < 65525 ? "fat16" : "fat32";
    const entryBits = type === "fat12" ? 12 : type === "fat16" ? 16 : 32;
    if (clusters < 1 || clusters > 0x0ffffff5 || fatSectors * bps < Math.ceil(((clusters + 2) * entryBits) / 8)) {
      throw guestFsError("Corrupt", `${clusters} clusters do not fit a ${type} FAT of ${fatSectors} sectors`, OP);
    }
    if (type !== "fat32" && rootEntries === 0) throw guestFsError("Corrupt", `${type} volume has no root directory`, OP);
    const size = totalSectors * bps;
    if (size > dev.size) throw guestFsError("OutOfBounds", `filesystem of ${size} bytes is larger than its ${dev.size}-byte device (truncated?)`, OP);
    // FAT32 may mirror all FATs (use the first) or name one active FAT in the extended flags.
    const flags = type === "fat32" ? bpb.u16(40) : 0;
    const activeFat = flags & 0x80 ? flags & 0x0f : 0;
    if (activeFat >= fats) throw guestFsError("Corrupt", `active FAT ${activeFat} of ${fats} does not exist`, OP);
    const ext = type === "fat32" ? 64 : 36;
    const bpbLabel = bpb.u8(ext + 2) === 0x29 ? Buffer.from(bpb.slice(ext + 7, 11)).toString("latin1") : "";
    return new FatFilesystem(
      dev,
      type,
      size,
      (reserved + activeFat * fatSectors) * bps,
      fatSectors * bps,
      (reserved + fats * fatSectors) * bps,
      rootEntries,
      firstData * bps,
      spc * bps,
      clusters + 1,
      type === "fat32" ? bpb.u32(44) : 0,
      bpbLabel.trim() === "NO NAME" ? "" : bpbLabel,
    );
  }

  readFile(path: string): Uint8Array {
    const entry = this.lookup(path);
    if (entry.isDir) throw guestFsError("IsADirectory", `'${path}' is a directory`, `${OP}.readFile`);
    if (entry.size > MAX_FILE_BYTES) throw guestFsError("TooLarge", `'${path}' is ${entry.size} bytes (limit ${MAX_FILE_BYTES})`, `${OP}.readFile`);
    return entry.size === 0 ? new Uint8Array(0) : this.readChain(entry.cluster, entry.size, path);
  }

  isFile(path: string): boolean {
    return falseIfMissing(() => !this.lookup(path).isDir);
  }

  list(path: string): string[] {
    const dir = this.lookup(path);
    if (!dir.isDir) throw guestFsError("NotADirectory", `'${path}' is not a directory`, `${OP}.list`);
    return this.entries(dir, path)
      .filter((e) => !e.label)
      .map((e) => e.name);
  }

  /** Walks the path one component at a time (iterative: the image cannot deepen a recursion). */
  private lookup(path: string): Entry {
    let entry = this.root;
    for (const part of pathParts(path)) {
      if (!entry.isDir) throw guestFsError("NotADirectory", `'${entry.name}' in '${path}' is not a directory`, `${OP}.lookup`);
      const want = part.toLowerCase();
      const found = this.entries(entry, path).find((e) => !e.label && (e.name.toLowerCase() === want || e.short.toLowerCase() === want));
      if (!found) throw guestFsError("NotFound", `'${part}' in '${path}' does not exist`, `${OP}.lookup`);
      entry = found;
    }
    return entry;
  }

  /** A directory's entries without ".", ".." and deleted ones (volume labels marked). */
  private entries(dir: Entry, path: string): Entry[] {
    const bytes = dir.fixedRoot ? readChecked(this.dev, this.rootStart, this.rootEntries * 32, OP) : this.readChain(dir.cluster, null, path);
    const d = new Le(bytes, OP);
    const out: Entry[] = [];
    let lfn: string[] = [];
    let nextOrd = 0;
    let sum = -1;
    for (let at = 0; at + 32 <= bytes.length; at += 32) {
      const first = d.u8(at);
      const attr = d.u8(at + 11);
      if (first === 0x00) break;
      if (first === 0xe5) {
        nextOrd = 0;
        lfn = [];
        continue;
      }
      if ((attr & 0x3f) === ATTR_LFN) {
        const ord = first & 0x1f;
        if (first & 0x40) {
          // The last LFN part comes first on disk; it starts a new sequence.
          lfn = new Array<string>(ord).fill("");
          nextOrd = ord;
          sum = d.u8(at + 13);
        }
        if (ord === 0 || ord !== nextOrd || d.u8(at + 13) !== sum) {
          nextOrd = 0;
          lfn = [];
          continue;
        }
        lfn[ord - 1] = ucs2(d.slice(at + 1, 10)) + ucs2(d.slice(at + 14, 12)) + ucs2(d.slice(at + 28, 4));
        nextOrd = ord === 1 ? -1 : ord - 1; // -1: complete, awaiting its short entry
        continue;
      }
      const raw = d.slice(at, 11);
      const label = (attr & ATTR_VOLUME) !== 0;
      const short = shortName(raw, d.u8(at + 12), label);
      const long = nextOrd === -1 && checksum(raw) === sum ? (lfn.join("").split("\0")[0] ?? "") : "";
      nextOrd = 0;
      lfn = [];
      if (short === "." || short === "..") continue;
      const hi = this.type === "fat32" ? d.u16(at + 20) : 0;
      out.push({
        name: long || short,
        short,
        isDir: (attr & ATTR_DIR) !== 0,
        cluster: hi * 0x10000 + d.u16(at + 26),
        size: d.u32(at + 28),
        label,
      });
    }
    return out;
  }

  /** Reads `want` bytes of a chain (a file), or the whole bounded chain when `want` is null (a directory). */
  private readChain(start: number, want: number | null, path: string): Uint8Array {
    const need = want === null ? Infinity : Math.ceil(want / this.clusterBytes);
    const maxDir = (MAX_DIR_ENTRIES * 32) / this.clusterBytes;
    const clusters: number[] = [];
    const seen = new Set<number>();
    for (let c = start; ; ) {
      if (c < 2 || c > this.maxCluster) throw guestFsError("Corrupt", `'${path}' refers to cluster ${c} (valid 2..${this.maxCluster})`, `${OP}.chain`);
      if (seen.has(c)) throw guestFsError("Loop", `cluster chain of '${path}' loops back to cluster ${c}`, `${OP}.chain`);
      if (want === null && clusters.length >= maxDir) throw guestFsError("Corrupt", `directory '${path}' has more than ${MAX_DIR_ENTRIES} entries`, `${OP}.chain`);
      seen.add(c);
      clusters.push(c);
      if (clusters.length >= need) break;
      c = this.next(c);
      if (c === END && want === null) break;
      if (c === END) throw guestFsError("Corrupt", `'${path}' ends after ${clusters.length} clusters but its size is ${want} bytes`, `${OP}.chain`);
    }
    const out = new Uint8Array(want ?? clusters.length * this.clusterBytes);
    for (let i = 0; i < clusters.length; ) {
      // Coalesce consecutive clusters into one device read.
      let j = i + 1;
      while (j < clusters.length && clusters[j] === clusters[j - 1]! + 1 && (j - i) * this.clusterBytes < MAX_RUN_BYTES) j++;
      const at = i * this.clusterBytes;
      const len = Math.min((j - i) * this.clusterBytes, out.length - at);
      out.set(readChecked(this.dev, this.dataStart + (clusters[i]! - 2) * this.clusterBytes, len, `${OP}.data`), at);
      i = j;
    }
    return out;
  }

  /** The FAT entry of a cluster: the next cluster, or END. */
  private next(c: number): number {
    if (this.type === "fat12") {
      const v = this.fatByte(c + (c >> 1)) | (this.fatByte(c + (c >> 1) + 1) << 8);
      const e = c & 1 ? v >> 4 : v & 0xfff;
      return e >= 0xff8 ? END : e;
    }
    if (this.type === "fat16") {
      const e = this.fatByte(c * 2) | (this.fatByte(c * 2 + 1) << 8);
      return e >= 0xfff8 ? END : e;
    }
    const e = (this.fatByte(c * 4) | (this.fatByte(c * 4 + 1) << 8) | (this.fatByte(c * 4 + 2) << 16) | ((this.fatByte(c * 4 + 3) & 0x0f) << 24)) >>> 0;
    return e >= 0x0ffffff8 ? END : e;
  }

  /** One byte of the active FAT through a one-chunk cache (open() checked the FAT covers every cluster). */
  private fatByte(at: number): number {
    const no = Math.floor(at / FAT_CHUNK);
    if (no !== this.chunkNo) {
      const from = no * FAT_CHUNK;
      this.chunk = readChecked(this.dev, this.fatStart + from, Math.min(FAT_CHUNK, this.fatBytes - from), `${OP}.fat`);
      this.chunkNo = no;
    }
    const b = this.chunk[at - no * FAT_CHUNK];
    if (b === undefined) throw guestFsError("Corrupt", `FAT byte ${at} lies outside the ${this.fatBytes}-byte FAT`, `${OP}.fat`);
    return b;
  }
}

/** UCS-2 little-endian code units as a string. */
function ucs2(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i]! | (bytes[i + 1]! << 8));
  return s;
}

/** The 8.3 name with the NT lowercase flags applied; a volume label keeps all 11 bytes. */
function shortName(raw: Uint8Array, flags: number, label: boolean): string {
  const text = Buffer.from(raw).toString("latin1");
  if (label) return text.trimEnd();
  // A lead byte of 0x05 stands for a real 0xE5 (which would mean "deleted").
  let base = (raw[0] === 0x05 ? "\u00e5" + text.slice(1, 8) : text.slice(0, 8)).trimEnd();
  let ext = text.slice(8).trimEnd();
  if (flags & 0x08) base = base.toLowerCase();
  if (flags & 0x10) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

/** The checksum of an 8.3 name that each of its LFN entries repeats. */
function checksum(raw: Uint8Array): number {
  let sum = 0;
  for (const b of raw) sum = (((sum & 1) << 7) + (sum >> 1) + b) & 0xff;
  return sum;
}
