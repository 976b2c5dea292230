import type { BlockDevice } from "../volumes/block-device.js";
import { cString, Le, readChecked } from "./bytes.js";
import { guestFsError } from "./errors.js";
import { falseIfMissing, MAX_FILE_BYTES, pathParts, type GuestFilesystem } from "./filesystem.js";

const SUPERBLOCK_AT = 1024;
const EXT_MAGIC = 0xef53;
const EXTENT_MAGIC = 0xf30a;
const ROOT_INODE = 2;

// Feature bits (superblock s_feature_*).
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_COMPRESSION = 0x1;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_FLEX_BG = 0x200;
const INCOMPAT_ENCRYPT = 0x10000;
const UNSUPPORTED_INCOMPAT: [number, string][] = [
  [INCOMPAT_COMPRESSION, "compression"],
  [INCOMPAT_JOURNAL_DEV, "external journal device"],
  [INCOMPAT_META_BG, "meta_bg"],
  [INCOMPAT_ENCRYPT, "encryption"],
];

// Inode flags and modes.
const FLAG_EXTENTS = 0x80000;
const FLAG_INLINE_DATA = 0x10000000;
const S_IFMT = 0xf000;
const S_IFDIR = 0x4000;
const S_IFREG = 0x8000;
const S_IFLNK = 0xa000;

// Bounds a crafted image cannot push past.
const MAX_EXTENT_DEPTH = 5;
const MAX_EXTENT_NODES = 65536;
const MAX_SYMLINKS = 40;
const MAX_DIR_ENTRIES = 1 << 20;
const MAX_PATH_STEPS = 4096;

/** An inode as the reader needs it. */
interface Inode {
  number: number;
  mode: number;
  size: number;
  flags: number;
  block: Uint8Array;
}

/** Is there an ext2/3/4 superblock on this device? */
export function isExt(dev: BlockDevice): boolean {
  if (dev.size < SUPERBLOCK_AT + 1024) return false;
  return new Le(dev.read(SUPERBLOCK_AT, 1024), "ext.detect").u16(0x38) === EXT_MAGIC;
}

/**
 * A read-only ext2/ext3/ext4 reader for untrusted images: extents and
 * indirect blocks, 32- and 64-bit group descriptors, linear and htree
 * directories (read linearly), fast and slow symlinks, sparse files.
 */
export class ExtFilesystem implements GuestFilesystem {
  readonly type: "ext2" | "ext3" | "ext4";
  readonly label: string;
  readonly size: number;
  private readonly blockSize: number;
  private readonly blocksCount: number;
  private readonly inodesCount: number;
  private readonly inodesPerGroup: number;
  private readonly inodeSize: number;
  private readonly descSize: number;
  private readonly descTableBlock: number;
  private readonly groupCount: number;

  private constructor(private readonly dev: BlockDevice) {
    const op = "guestfs.extSuperblock";
    if (dev.size < SUPERBLOCK_AT + 1024) throw guestFsError("Corrupt", `device of ${dev.size} bytes is too small for an ext superblock`, op);
    const sb = new Le(readChecked(dev, SUPERBLOCK_AT, 1024, op), op);
    if (sb.u16(0x38) !== EXT_MAGIC) throw guestFsError("Corrupt", "no ext superblock (magic 0xEF53 missing at byte 1080)", op);
    const logBlock = sb.u32(0x18);
    if (logBlock > 6) throw guestFsError("Corrupt", `block size 2^(10+${logBlock}) is invalid`, op);
    this.blockSize = 1024 << logBlock;
    const incompat = sb.u32(0x60);
    for (const [bit, what] of UNSUPPORTED_INCOMPAT) {
      if (incompat & bit) throw guestFsError("Unsupported", `ext feature '${what}' is not supported`, op);
    }
    const is64 = (incompat & INCOMPAT_64BIT) !== 0;
    this.blocksCount = sb.u32(0x04) + (is64 ? sb.u32(0x150) * 2 ** 32 : 0);
    this.inodesCount = sb.u32(0x00);
    this.inodesPerGroup = sb.u32(0x28);
    const blocksPerGroup = sb.u32(0x20);
    const firstDataBlock = sb.u32(0x14);
    this.inodeSize = sb.u32(0x4c) >= 1 ? sb.u16(0x58) : 128;
    this.descSize = is64 ? sb.u16(0xfe) : 32;
    if (this.inodeSize < 128 || this.inodeSize > this.blockSize || (this.inodeSize & (this.inodeSize - 1)) !== 0) {
      throw guestFsError("Corrupt", `inode size ${this.inodeSize} is invalid`, op);
    }
    if (this.descSize < 32 || this.descSize > 1024 || (this.descSize & (this.descSize - 1)) !== 0) {
      throw guestFsError("Corrupt", `group descriptor size ${this.descSize} is invalid`, op);
    }
    if (blocksPerGroup === 0 || this.inodesPerGroup === 0 || this.inodesPerGroup > this.blockSize * 8 || firstDataBlock >= this.blocksCount) {
      throw guestFsError("Corrupt", "superblock geometry is inconsistent (blocks or inodes per group)", op);
    }
    this.groupCount = Math.ceil((this.blocksCount - firstDataBlock) / blocksPerGroup);
    if (this.groupCount * this.inodesPerGroup < this.inodesCount) throw guestFsError("Corrupt", "more inodes than the groups can hold", op);
    this.descTableBlock = firstDataBlock + 1;
    this.size = this.blocksCount * this.blockSize;
    this.label = cString(sb.slice(0x78, 16)).trim();
    this.type = incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG) ? "ext4" : sb.u32(0x5c) & COMPAT_HAS_JOURNAL ? "ext3" : "ext2";
  }

  static open(dev: BlockDevice): ExtFilesystem {
    return new ExtFilesystem(dev);
  }

  readFile(path: string): Uint8Array {
    const inode = this.lookup(path);
    if ((inode.mode & S_IFMT) === S_IFDIR) throw guestFsError("IsADirectory", `'${path}' is a directory`, "guestfs.extReadFile");
    if ((inode.mode & S_IFMT) !== S_IFREG) throw guestFsError("Unsupported", `'${path}' is not a regular file`, "guestfs.extReadFile");
    return this.data(inode);
  }

  isFile(path: string): boolean {
    return falseIfMissing(() => (this.lookup(path).mode & S_IFMT) === S_IFREG);
  }

  list(path: string): string[] {
    const inode = this.lookup(path);
    if ((inode.mode & S_IFMT) !== S_IFDIR) throw guestFsError("NotADirectory", `'${path}' is not a directory`, "guestfs.extList");
    return [...this.entries(inode).keys()].filter((n) => n !== "." && n !== "..");
  }

  /** Resolves a path to its inode, following symlinks (at most 40, as Linux). */
  private lookup(path: string): Inode {
    const op = "guestfs.extLookup";
    const todo = pathParts(path).reverse();
    const trail: Inode[] = [this.inode(ROOT_INODE)];
    let symlinks = 0;
    let steps = 0;
    while (todo.length > 0) {
      if (++steps > MAX_PATH_STEPS) throw guestFsError("Loop", `resolving '${path}' takes too many steps`, op);
      const name = todo.pop()!;
      const dir = trail[trail.length - 1]!;
      if (name === "..") {
        if (trail.length > 1) trail.pop();
        continue;
      }
      if ((dir.mode & S_IFMT) !== S_IFDIR) throw guestFsError("NotADirectory", `a component before '${name}' in '${path}' is not a directory`, op);
      const number = this.entries(dir).get(name);
      if (number === undefined) throw guestFsError("NotFound", `'${path}' not found ('${name}' is missing)`, op);
      const inode = this.inode(number);
      if ((inode.mode & S_IFMT) === S_IFLNK) {
        if (++symlinks > MAX_SYMLINKS) throw guestFsError("Loop", `too many symbolic links resolving '${path}'`, op);
        const target = Buffer.from(this.symlinkTarget(inode)).toString("latin1");
        if (target.startsWith("/")) trail.length = 1;
        todo.push(...pathParts(target).reverse());
        continue;
      }
      trail.push(inode);
    }
    return trail[trail.length - 1]!;
  }

  private inode(number: number): Inode {
    const op = "guestfs.extInode";
    if (!Number.isInteger(number) || number < 1 || number > this.inodesCount) {
      throw guestFsError("Corrupt", `inode number ${number} is outside 1-${this.inodesCount}`, op);
    }
    const group = Math.floor((number - 1) / this.inodesPerGroup);
    const index = (number - 1) % this.inodesPerGroup;
    const desc = new Le(readChecked(this.dev, this.descTableBlock * this.blockSize + group * this.descSize, this.descSize, op), op);
    const table = desc.u32(0x08) + (this.descSize >= 64 ? desc.u32(0x28) * 2 ** 32 : 0);
    if (table >= this.blocksCount) throw guestFsError("Corrupt", `inode table of group ${group} is at block ${table}, past the end`, op);
    const raw = new Le(readChecked(this.dev, table * this.blockSize + index * this.inodeSize, 128, op), op);
    return {
      number,
      mode: raw.u16(0x00),
      size: raw.u32(0x04) + raw.u32(0x6c) * 2 ** 32,
      flags: raw.u32(0x20),
      block: raw.slice(0x28, 60),
    };
  }

  private symlinkTarget(inode: Inode): Uint8Array {
    if (inode.size > 4096) throw guestFsError("Corrupt", `symlink inode ${inode.number} claims ${inode.size} bytes`, "guestfs.extSymlink");
    // Fast symlinks keep the target in the block array itself.
    if (inode.size < 60 && !(inode.flags & FLAG_EXTENTS)) return inode.block.subarray(0, inode.size);
    return this.data(inode);
  }

  /** Directory entries by name; htree directories read linearly (their index blocks look empty). */
  private entries(dir: Inode): Map<string, number> {
    const op = "guestfs.extDir";
    const data = this.data(dir);
    const out = new Map<string, number>();
    const le = new Le(data, op);
    let at = 0;
    while (at + 8 <= data.length) {
      const inode = le.u32(at);
      const recLen = le.u16(at + 4);
      const nameLen = le.u8(at + 6);
      const blockEnd = (Math.floor(at / this.blockSize) + 1) * this.blockSize;
      if (recLen < 8 || recLen % 4 !== 0 || at + recLen > blockEnd || nameLen + 8 > recLen) {
        throw guestFsError("Corrupt", `directory inode ${dir.number}: bad entry at byte ${at} (rec_len ${recLen}, name_len ${nameLen})`, op);
      }
      if (inode !== 0 && nameLen > 0) {
        out.set(Buffer.from(le.slice(at + 8, nameLen)).toString("latin1"), inode);
        if (out.size > MAX_DIR_ENTRIES) throw guestFsError("Corrupt", `directory inode ${dir.number} has too many entries`, op);
      }
      at += recLen;
    }
    return out;
  }

  /** A file's bytes: holes and unwritten extents read as zeros. */
  private data(inode: Inode): Uint8Array {
    const op = "guestfs.extRead";
    if (inode.flags & FLAG_INLINE_DATA) throw guestFsError("Unsupported", `inode ${inode.number} keeps its data inline (inline_data)`, op);
    if (inode.size > MAX_FILE_BYTES) throw guestFsError("TooLarge", `inode ${inode.number} is ${inode.size} bytes, over the ${MAX_FILE_BYTES}-byte limit`, op);
    const out = new Uint8Array(inode.size);
    const blocks = Math.ceil(inode.size / this.blockSize);
    const copy = (logical: number, physical: number, count: number) => {
      const n = Math.min(count, blocks - logical);
      if (n <= 0) return;
      if (physical + n > this.blocksCount) throw guestFsError("Corrupt", `inode ${inode.number} maps to blocks ${physical}-${physical + n - 1}, past the end`, op);
      const bytes = readChecked(this.dev, physical * this.blockSize, n * this.blockSize, op);
      const at = logical * this.blockSize;
      out.set(bytes.subarray(0, Math.min(bytes.length, out.length - at)), at);
    };
    if (inode.flags & FLAG_EXTENTS) this.walkExtents(inode, copy);
    else this.walkIndirect(inode, blocks, copy);
    return out;
  }

  /** Visits the extent tree with an explicit stack: depth and node count are bounded. */
  private walkExtents(inode: Inode, copy: (logical: number, physical: number, count: number) => void): void {
    const op = "guestfs.extExtents";
    const stack: { node: Uint8Array; depth: number }[] = [{ node: inode.block, depth: -1 }];
    let nodes = 0;
    while (stack.length > 0) {
      const { node, depth } = stack.pop()!;
      if (++nodes > MAX_EXTENT_NODES) throw guestFsError("Loop", `inode ${inode.number}: extent tree has too many nodes`, op);
      const h = new Le(node, op);
      if (h.u16(0) !== EXTENT_MAGIC) throw guestFsError("Corrupt", `inode ${inode.number}: extent header magic missing`, op);
      const entries = h.u16(2);
      const nodeDepth = h.u16(6);
      if (nodeDepth > MAX_EXTENT_DEPTH || (depth >= 0 && nodeDepth !== depth)) {
        throw guestFsError("Corrupt", `inode ${inode.number}: extent tree depth ${nodeDepth} is invalid`, op);
      }
      if (12 + entries * 12 > node.length) throw guestFsError("Corrupt", `inode ${inode.number}: ${entries} extents overflow their node`, op);
      for (let i = 0; i < entries; i++) {
        const at = 12 + i * 12;
        if (nodeDepth === 0) {
          const logical = h.u32(at);
          let len = h.u16(at + 4);
          const uninitialized = len > 32768;
          if (uninitialized) len -= 32768;
          const physical = h.u16(at + 6) * 2 ** 32 + h.u32(at + 8);
          if (!uninitialized) copy(logical, physical, len);
        } else {
          const child = h.u16(at + 8) * 2 ** 32 + h.u32(at + 4);
          if (child >= this.blocksCount) throw guestFsError("Corrupt", `inode ${inode.number}: extent index points past the end`, op);
          stack.push({ node: readChecked(this.dev, child * this.blockSize, this.blockSize, op), depth: nodeDepth - 1 });
        }
      }
    }
  }

  /** Direct, single, double and triple indirect blocks (the depth is fixed at 3). */
  private walkIndirect(inode: Inode, blocks: number, copy: (logical: number, physical: number, count: number) => void): void {
    const op = "guestfs.extIndirect";
    const perBlock = this.blockSize / 4;
    const i = new Le(inode.block, op);
    const visit = (block: number, level: number, first: number): void => {
      if (block === 0 || first >= blocks) return;
      if (level === 0) return copy(first, block, 1);
      if (block >= this.blocksCount) throw guestFsError("Corrupt", `inode ${inode.number}: indirect block ${block} is past the end`, op);
      const table = new Le(readChecked(this.dev, block * this.blockSize, this.blockSize, op), op);
      const span = perBlock ** (level - 1);
      for (let k = 0; k < perBlock && first + k * span < blocks; k++) visit(table.u32(k * 4), level - 1, first + k * span);
    };
    for (let k = 0; k < 12; k++) visit(i.u32(k * 4), 0, k);
    visit(i.u32(48), 1, 12);
    visit(i.u32(52), 2, 12 + perBlock);
    visit(i.u32(56), 3, 12 + perBlock + perBlock * perBlock);
  }
}
