import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FatFilesystem, isFat } from "../../src/guestfs/fat.js";
import { MAX_FILE_BYTES } from "../../src/guestfs/filesystem.js";
import type { BlockDevice } from "../../src/volumes/block-device.js";
import { RawFileDevice } from "../../src/volumes/raw-file.js";
import { tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const LONG = "A Long File Name With Spaces.txt";
const LONGER = "a-very-long-file-name-that-needs-several-lfn-entries.cfg";
const MENU = "default 0\ntitle Debian\nroot (hd0,0)\nkernel /boot/vmlinuz root=/dev/xvda1\n";

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const BIG = noise(300_000, 42);

/** Runs one of the real dosfstools/mtools commands. */
function run(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { cwd: dir, stdio: "pipe", env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } });
}

/** Builds an image with mkfs.fat and fills it with mtools; returns its path. */
function makeImage(name: string, fatBits: 12 | 16 | 32, kib: number, label?: string): string {
  const img = path.join(dir, name);
  run("mkfs.fat", "-F", String(fatBits), ...(label ? ["-n", label] : []), "-C", img, String(kib));
  fs.writeFileSync(path.join(dir, "menu.lst"), MENU);
  fs.writeFileSync(path.join(dir, "big.bin"), BIG);
  run("mmd", "-i", img, "::/boot", "::/boot/grub");
  run("mcopy", "-i", img, path.join(dir, "menu.lst"), "::/boot/grub/menu.lst");
  run("mcopy", "-i", img, path.join(dir, "big.bin"), "::/boot/big.bin");
  run("mcopy", "-i", img, path.join(dir, "big.bin"), `::/boot/${LONG}`);
  run("mcopy", "-i", img, path.join(dir, "menu.lst"), `::/boot/${LONGER}`);
  return img;
}

/** An in-memory device over a (possibly damaged) image. */
function memDevice(bytes: Uint8Array): BlockDevice {
  return {
    size: bytes.length - (bytes.length % 512),
    read: (offset, length) => {
      const out = new Uint8Array(length);
      if (offset < bytes.length) out.set(bytes.subarray(offset, Math.min(offset + length, bytes.length)));
      return out;
    },
    write: () => {
      throw new Error("read-only");
    },
    flush: () => {},
    close: () => {},
  };
}

/** Byte offset of the 8.3 directory entry whose raw name is `raw` (11 chars). */
function direntAt(image: Buffer, raw: string): number {
  const at = image.indexOf(Buffer.from(raw, "latin1"));
  expect(at).toBeGreaterThan(0);
  return at;
}

const gfs = (code: string) => expect.objectContaining({ code: `GuestFs.${code}` });

describe.each([
  { bits: 12 as const, kib: 2048, type: "fat12" },
  { bits: 16 as const, kib: 20000, type: "fat16" },
  { bits: 32 as const, kib: 40000, type: "fat32" },
])("FatFilesystem on a FAT$bits image made by mkfs.fat and mtools", ({ bits, kib, type }) => {
  let fat: FatFilesystem;
  let dev: RawFileDevice;
  beforeAll(() => {
    const img = makeImage(`fat${bits}.img`, bits, kib, "AMIBOOT");
    dev = new RawFileDevice(img);
    fat = FatFilesystem.open(dev);
  });
  afterAll(() => dev.close());

  it("detects the type, size and label", () => {
    expect(isFat(dev.read(0, 512))).toBe(true);
    expect(fat.type).toBe(type);
    expect(fat.size).toBe(kib * 1024);
    expect(fat.label).toBe("AMIBOOT");
  });

  it("reads nested files byte-exact, small and multi-cluster", () => {
    expect(Buffer.from(fat.readFile("/boot/grub/menu.lst")).toString()).toBe(MENU);
    expect(Buffer.from(fat.readFile("/boot/big.bin")).equals(BIG)).toBe(true);
  });

  it("reads long names, case-insensitively, and their 8.3 aliases", () => {
    expect(Buffer.from(fat.readFile(`/boot/${LONG}`)).equals(BIG)).toBe(true);
    expect(Buffer.from(fat.readFile("/BOOT/a long file name with SPACES.TXT")).equals(BIG)).toBe(true);
    expect(Buffer.from(fat.readFile(`/boot/${LONGER.toUpperCase()}`)).toString()).toBe(MENU);
    expect(Buffer.from(fat.readFile("/Boot/Grub/MENU.LST")).toString()).toBe(MENU);
    expect(fat.isFile("/boot/ALONGF~1.TXT")).toBe(true);
  });

  it("lists directories without '.', '..' or the volume label", () => {
    expect(fat.list("/")).toEqual(["boot"]);
    expect(fat.list("/boot").sort()).toEqual(["big.bin", "grub", LONG, LONGER].sort());
    expect(fat.list("/boot/grub")).toEqual(["menu.lst"]);
  });

  it("answers isFile and names the path in NotFound, NotADirectory and IsADirectory", () => {
    expect(fat.isFile("/boot/grub/menu.lst")).toBe(true);
    expect(fat.isFile("/boot/grub")).toBe(false);
    expect(fat.isFile("/boot/nope")).toBe(false);
    expect(fat.isFile("/boot/big.bin/x")).toBe(false);
    expect(() => fat.readFile("/boot/grub/grub.cfg")).toThrow(expect.objectContaining({ code: "GuestFs.NotFound", message: expect.stringContaining("/boot/grub/grub.cfg") }));
    expect(() => fat.readFile("/boot/big.bin/menu.lst")).toThrow(expect.objectContaining({ code: "GuestFs.NotADirectory", message: expect.stringContaining("/boot/big.bin/menu.lst") }));
    expect(() => fat.list("/boot/big.bin")).toThrow(gfs("NotADirectory"));
    expect(() => fat.readFile("/boot/grub")).toThrow(expect.objectContaining({ code: "GuestFs.IsADirectory", message: expect.stringContaining("/boot/grub") }));
  });
});

describe("FatFilesystem on damaged images", () => {
  let image: Buffer;
  beforeAll(() => {
    image = fs.readFileSync(makeImage("damage16.img", 16, 20000, "DAMAGED"));
  });

  it("reports an empty label when mkfs.fat was given none", () => {
    const dev = new RawFileDevice(makeImage("nolabel.img", 12, 2048));
    expect(FatFilesystem.open(dev).label).toBe("");
    dev.close();
  });

  it("reports a FAT cycle in a file's chain as GuestFs.Loop", () => {
    const img = Buffer.from(image);
    const fat = FatFilesystem.open(memDevice(img));
    const entry = direntAt(img, "BIG     BIN");
    const cluster = img.readUInt16LE(entry + 26);
    const fatStart = img.readUInt16LE(14) * img.readUInt16LE(11);
    img.writeUInt16LE(cluster, fatStart + cluster * 2); // the first cluster now points to itself
    expect(() => fat.readFile("/boot/big.bin")).toThrow(gfs("Loop"));
  });

  it("reports a cycle in the FAT32 root directory as GuestFs.Loop", () => {
    const img = fs.readFileSync(makeImage("loop32.img", 32, 40000));
    const root = img.readUInt32LE(44);
    const fatStart = img.readUInt16LE(14) * img.readUInt16LE(11);
    img.writeUInt32LE(root, fatStart + root * 4);
    expect(() => FatFilesystem.open(memDevice(img))).toThrow(gfs("Loop"));
  });

  it("reports a chain shorter than the file as Corrupt and a huge size as TooLarge", () => {
    const img = Buffer.from(image);
    const fat = FatFilesystem.open(memDevice(img));
    const entry = direntAt(img, "MENU    LST");
    img.writeUInt32LE(1_000_000, entry + 28);
    expect(() => fat.readFile("/boot/grub/menu.lst")).toThrow(gfs("Corrupt"));
    img.writeUInt32LE(MAX_FILE_BYTES + 1, entry + 28);
    expect(() => fat.readFile("/boot/grub/menu.lst")).toThrow(gfs("TooLarge"));
  });

  it("falls back to the 8.3 name when the LFN checksum does not match it", () => {
    const img = Buffer.from(image);
    const entry = direntAt(img, "ALONGF~1TXT");
    // The 32-char name takes 3 LFN entries just before its 8.3 entry: change all their checksums alike.
    for (let k = 1; k <= 3; k++) img[entry - 32 * k + 13] = img[entry - 32 * k + 13]! ^ 0xff;
    const fat = FatFilesystem.open(memDevice(img));
    expect(fat.list("/boot")).toContain("ALONGF~1.TXT");
    expect(fat.isFile(`/boot/${LONG}`)).toBe(false);
  });

  it("falls back to the 8.3 name when the LFN sequence is broken", () => {
    const img = Buffer.from(image);
    const entry = direntAt(img, "ALONGF~1TXT");
    expect(img[entry - 64]).toBe(2); // the middle of the 3 LFN entries
    img[entry - 64] = 3;
    const fat = FatFilesystem.open(memDevice(img));
    expect(fat.list("/boot")).toContain("ALONGF~1.TXT");
    expect(fat.list("/boot")).toContain(LONGER);
    expect(Buffer.from(fat.readFile("/boot/alongf~1.txt")).equals(BIG)).toBe(true);
  });

  it("refuses a truncated image with a GuestFs error, not a RangeError", () => {
    const img = path.join(dir, "truncated.img");
    fs.writeFileSync(img, image.subarray(0, image.length / 2));
    const dev = new RawFileDevice(img);
    expect(() => FatFilesystem.open(dev)).toThrow(gfs("OutOfBounds"));
    dev.close();
  });

  it("survives random garbage over the BPB and over the FAT and directories", () => {
    const paths = ["/", "/boot", "/boot/grub", "/boot/grub/menu.lst", "/boot/big.bin", `/boot/${LONG}`];
    let opened = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const img = Buffer.from(image);
      const n = noise(80, seed);
      if (seed % 4 === 0) {
        n.copy(img, 11); // pure garbage: isFat almost always says no
      } else if (seed % 4 === 1) {
        // Garbage, but with the fields isFat checks made plausible, so open() must judge the rest.
        n.copy(img, 11);
        img.writeUInt16LE(512, 11);
        img[13] = 1 << (n[2]! & 7);
        img[14] ||= 1;
        img[16] ||= 2;
        img[21] = 0xf8;
      } else if (seed % 4 === 2) {
        for (let k = 0; k < 4; k++) img[11 + (n[k]! % 80)] = n[k + 4]!; // a few BPB bytes
      } else {
        for (const [i, b] of n.entries()) img[512 + ((b * 7919 + i * 104729 + seed) % 150_000)] = n[(i + 1) % n.length]!; // FATs and root
      }
      const dev = memDevice(img);
      const attempt = (fn: () => unknown) => {
        try {
          fn();
        } catch (err) {
          expect(err).toEqual(expect.objectContaining({ code: expect.stringMatching(/^GuestFs\./) }));
        }
      };
      if (!isFat(dev.read(0, 512))) continue;
      attempt(() => {
        const fat = FatFilesystem.open(dev);
        opened++;
        for (const p of paths) {
          attempt(() => fat.list(p));
          attempt(() => fat.readFile(p));
          attempt(() => fat.isFile(p));
        }
      });
    }
    expect(opened).toBeGreaterThan(100);
  });
});
