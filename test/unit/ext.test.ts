import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { ExtFilesystem, isExt } from "../../src/guestfs/ext.js";
import { RawFileDevice } from "../../src/volumes/raw-file.js";
import { makeExt } from "../disks.js";
import { tempDir } from "../helpers.js";

const dir = tempDir();
const devices: RawFileDevice[] = [];
afterAll(() => {
  devices.forEach((d) => d.close());
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(img: string): ExtFilesystem {
  const dev = new RawFileDevice(img);
  devices.push(dev);
  return ExtFilesystem.open(dev);
}

const big = randomBytes(5 * 1024 * 1024 + 123);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const longTarget = `/boot/${"deep/".repeat(14)}file.txt`;
const tree = {
  "boot/grub/menu.lst": "default 0\n",
  "boot/vmlinuz-test": big,
  [`boot/${"deep/".repeat(14)}file.txt`]: "at the bottom\n",
  "boot/fast-link": { symlink: "grub/menu.lst" },
  "boot/slow-link": { symlink: longTarget },
  "boot/abs-dir-link": { symlink: "/boot/grub" },
  "boot/dotdot-link": { symlink: "../boot/grub/menu.lst" },
  "loop/a": { symlink: "b" },
  "loop/b": { symlink: "a" },
  "sparse.bin": { sparse: 3 * 1024 * 1024 },
  "empty.txt": "",
};

describe.each([
  ["ext2", "ext2", [] as string[]],
  ["ext3", "ext3", []],
  ["ext4", "ext4", []],
  ["ext4 with 64-bit descriptors", "ext4", ["-O", "64bit"]],
  ["ext2 with 1 KiB blocks (double indirect)", "ext2", ["-b", "1024"]],
] as const)("%s made by mke2fs -d", (label, type, extra) => {
  const img = makeExt(dir, `${label.replace(/\W+/g, "-")}.img`, type, tree, { sizeMiB: 24, extra: [...extra] });
  const fsys = open(img);

  it("is detected with its type and label", () => {
    expect(isExt(new RawFileDevice(img))).toBe(true);
    expect(fsys.type).toBe(type);
    expect(fsys.label).toBe(`t-${type}`);
    expect(fsys.size).toBe(24 * 1024 * 1024);
  });

  it("reads files byte for byte", () => {
    expect(Buffer.from(fsys.readFile("/boot/grub/menu.lst")).toString()).toBe("default 0\n");
    expect(sha(fsys.readFile("/boot/vmlinuz-test"))).toBe(sha(big));
    expect(Buffer.from(fsys.readFile(longTarget)).toString()).toBe("at the bottom\n");
    expect(fsys.readFile("/empty.txt").length).toBe(0);
  });

  it("reads holes in sparse files as zeros", () => {
    const s = fsys.readFile("/sparse.bin");
    expect(s.length).toBe(3 * 1024 * 1024);
    expect(s.subarray(0, s.length - 4096).every((b) => b === 0)).toBe(true);
    expect(s.subarray(s.length - 4096).every((b) => b === 0x5a)).toBe(true);
  });

  it("follows fast, slow, absolute and relative symlinks", () => {
    expect(Buffer.from(fsys.readFile("/boot/fast-link")).toString()).toBe("default 0\n");
    expect(Buffer.from(fsys.readFile("/boot/slow-link")).toString()).toBe("at the bottom\n");
    expect(fsys.isFile("/boot/abs-dir-link/menu.lst")).toBe(true);
    expect(Buffer.from(fsys.readFile("/boot/dotdot-link")).toString()).toBe("default 0\n");
  });

  it("lists directories and names its errors", () => {
    expect(fsys.list("/boot").sort()).toEqual(["abs-dir-link", "deep", "dotdot-link", "fast-link", "grub", "slow-link", "vmlinuz-test"]);
    expect(() => fsys.readFile("/boot/nope")).toThrow(expect.objectContaining({ code: "GuestFs.NotFound", message: expect.stringContaining("'nope' is missing") }));
    expect(() => fsys.readFile("/boot/grub")).toThrow(expect.objectContaining({ code: "GuestFs.IsADirectory" }));
    expect(() => fsys.readFile("/boot/grub/menu.lst/x")).toThrow(expect.objectContaining({ code: "GuestFs.NotADirectory" }));
    expect(() => fsys.readFile("/loop/a")).toThrow(expect.objectContaining({ code: "GuestFs.Loop" }));
    expect(fsys.isFile("/boot/nope")).toBe(false);
  });
});

describe("htree directories", () => {
  it("finds every file in a directory big enough to be indexed", () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) many[`big/file-with-a-longish-name-${i}`] = `${i}\n`;
    const img = makeExt(dir, "htree.img", "ext4", many, { sizeMiB: 32 });
    const fsys = open(img);
    expect(fsys.list("/big")).toHaveLength(3000);
    for (const i of [0, 1234, 2999]) expect(Buffer.from(fsys.readFile(`/big/file-with-a-longish-name-${i}`)).toString()).toBe(`${i}\n`);
  });
});

describe("hostile images", () => {
  const img = makeExt(dir, "victim.img", "ext4", { "boot/grub/menu.lst": "x", "boot/k": randomBytes(300_000) }, { sizeMiB: 8 });

  function patched(name: string, patch: (b: Buffer) => void): string {
    const b = fs.readFileSync(img);
    patch(b);
    const p = `${dir}/${name}`;
    fs.writeFileSync(p, b);
    return p;
  }

  it("rejects a missing superblock, a bad block size and a bad inode size", () => {
    expect(() => open(patched("nomagic.img", (b) => b.writeUInt16LE(0, 1080)))).toThrow(expect.objectContaining({ code: "GuestFs.Corrupt" }));
    expect(() => open(patched("bs.img", (b) => b.writeUInt32LE(40, 1024 + 0x18)))).toThrow(expect.objectContaining({ code: "GuestFs.Corrupt", message: expect.stringContaining("block size") }));
    expect(() => open(patched("is.img", (b) => b.writeUInt16LE(100, 1024 + 0x58)))).toThrow(expect.objectContaining({ code: "GuestFs.Corrupt", message: expect.stringContaining("inode size") }));
  });

  it("refuses features it does not read", () => {
    expect(() => open(patched("enc.img", (b) => b.writeUInt32LE(b.readUInt32LE(1024 + 0x60) | 0x10000, 1024 + 0x60)))).toThrow(
      expect.objectContaining({ code: "GuestFs.Unsupported", message: expect.stringContaining("encryption") }),
    );
  });

  it("reports a truncated image as out of bounds, not a crash", () => {
    const p = `${dir}/short.img`;
    fs.writeFileSync(p, fs.readFileSync(img).subarray(0, 64 * 1024));
    expect(() => open(p).readFile("/boot/k")).toThrow(expect.objectContaining({ code: expect.stringMatching(/^GuestFs\./) }));
  });
});
