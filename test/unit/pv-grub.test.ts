import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pvGrub } from "../../src/boot/pv-grub.js";
import { readPartitionTable } from "../../src/guestfs/partitions.js";
import { RawFileDevice } from "../../src/volumes/raw-file.js";
import { makeDisk, makeExt } from "../disks.js";
import { image, tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const kernel32 = fs.readFileSync(image("vmlinuz-i386"));
const kernel64 = fs.readFileSync(image("vmlinuz-amd64"));
const initrd = fs.readFileSync(image("initrd.img"));

function shim(img: string) {
  const dev = new RawFileDevice(img);
  try {
    return pvGrub(dev, path.basename(img));
  } finally {
    dev.close();
  }
}

const menu = (body: string) => `default 0\nfallback 1\ntimeout 0\n${body}`;

describe("PV-GRUB shim", () => {
  it("boots the sample pv-linux.img: entry 0, its kernel, initrd and arguments", () => {
    const c = shim(image("pv-linux.img"));
    expect(c.menuPath).toBe("(hd0,0)/boot/grub/menu.lst");
    expect(c.entry.index).toBe(0);
    expect(Buffer.from(c.kernel).equals(kernel32)).toBe(true);
    expect(Buffer.from(c.initrd!).equals(initrd)).toBe(true);
    expect(c.cmdline).toMatch(/^root=\/dev\/xvda1 console=ttyS0 /);
    expect(c.header).toMatchObject({ bits: 32, bzImage: true, protocol: "2.15" });
    expect(c.notes).toEqual([]);
  });

  it("falls back when the default entry's kernel is missing, and says why", () => {
    const part = makeExt(dir, "fallback-part.img", "ext4", {
      "boot/grub/menu.lst": menu("title broken\nkernel /boot/gone root=x\ntitle good\nkernel /boot/vmlinuz ok=1\ninitrd /boot/initrd\n"),
      "boot/vmlinuz": kernel32,
      "boot/initrd": initrd,
    });
    const c = shim(makeDisk(dir, "fallback.img", 20, "start=2048, type=83\n", [part]));
    expect(c.entry).toMatchObject({ index: 1, title: "good" });
    expect(c.cmdline).toBe("ok=1");
    expect(c.notes).toEqual([expect.stringMatching(/^entry 0 'broken' skipped: \(hd0,0\)\/boot\/gone: '\/boot\/gone' not found/)]);
  });

  it("falls back from an x86_64 kernel, and refuses when nothing else is left", () => {
    const files = { "boot/vmlinuz64": kernel64, "boot/vmlinuz": kernel32 };
    const both = makeExt(dir, "arch-part.img", "ext4", { ...files, "boot/grub/menu.lst": menu("title amd64\nkernel /boot/vmlinuz64\ntitle i386\nkernel /boot/vmlinuz\n") });
    expect(shim(makeDisk(dir, "arch.img", 24, "start=2048, type=83\n", [both])).entry.title).toBe("i386");
    const only = makeExt(dir, "arch64-part.img", "ext4", { ...files, "boot/grub/menu.lst": "title amd64\nkernel /boot/vmlinuz64\n" });
    expect(() => shim(makeDisk(dir, "arch64.img", 24, "start=2048, type=83\n", [only]))).toThrow(
      expect.objectContaining({ code: "UnsupportedOperation", message: expect.stringMatching(/is an x86_64 kernel \(6\.1\.0-\d+-amd64\).*32-bit/) }),
    );
  });

  it("names what a non-bzImage kernel is", () => {
    const part = makeExt(dir, "notk-part.img", "ext2", { "grub/menu.lst": "title t\nkernel /initrd\n", initrd });
    expect(() => shim(makeDisk(dir, "notk.img", 20, "start=2048, type=83\n", [part]))).toThrow(
      expect.objectContaining({ code: "InvalidKernel", message: expect.stringContaining("no 'HdrS' setup header at 0x202 (found gzip data)") }),
    );
  });

  it("searches in PV-GRUB's order: (hd0,0)/boot/grub before (hd0,1)/grub; (hd0,1)/grub when (hd0,0) has none", () => {
    const p0 = makeExt(dir, "o0.img", "ext4", { "boot/grub/menu.lst": "title zero\nkernel /k\n", k: kernel32 }, { sizeMiB: 8 });
    const p0empty = makeExt(dir, "o0e.img", "ext4", { "etc/hostname": "x\n" }, { sizeMiB: 8 });
    const p1 = makeExt(dir, "o1.img", "ext3", { "grub/menu.lst": "title one\nkernel /k\n", k: kernel32 }, { sizeMiB: 8 });
    const script = "start=2048, size=16384, type=83\nstart=18432, size=16384, type=83\n";
    expect(shim(makeDisk(dir, "order-a.img", 20, script, [p0, p1])).menuPath).toBe("(hd0,0)/boot/grub/menu.lst");
    const c = shim(makeDisk(dir, "order-b.img", 20, script, [p0empty, p1]));
    expect(c.menuPath).toBe("(hd0,1)/grub/menu.lst");
    expect(c.entry.title).toBe("one");
  });

  it("reads a whole-disk filesystem as (hd0) and follows device prefixes to other partitions", () => {
    const whole = makeExt(dir, "whole.img", "ext4", { "boot/grub/menu.lst": "title w\nkernel /boot/k\n", "boot/k": kernel32 });
    expect(shim(whole).menuPath).toBe("(hd0)/boot/grub/menu.lst");
    const p0 = makeExt(dir, "pre0.img", "ext4", { "boot/grub/menu.lst": "title t\nkernel (hd0,1)/vmlinuz a\ninitrd (hd0,1)/initrd\n" }, { sizeMiB: 8 });
    const p1 = makeExt(dir, "pre1.img", "ext2", { vmlinuz: kernel32, initrd }, { sizeMiB: 12 });
    const c = shim(makeDisk(dir, "prefix.img", 24, "start=2048, size=16384, type=83\nstart=18432, size=24576, type=83\n", [p0, p1]));
    expect(Buffer.from(c.kernel).equals(kernel32)).toBe(true);
    expect(c.initrd?.length).toBe(initrd.length);
  });

  it("boots from a logical partition named by root (hd0,4)", () => {
    const p0 = makeExt(dir, "l0.img", "ext4", { "boot/grub/menu.lst": "title logical\nroot (hd0,4)\nkernel /k\n" }, { sizeMiB: 4 });
    const l = makeExt(dir, "l4.img", "ext4", { k: kernel32 }, { sizeMiB: 10 });
    const disk = makeDisk(dir, "logical.img", 24, "start=2048, size=8192, type=83\nstart=10240, type=5\nstart=12288, size=20480, type=83\n", [p0, l]);
    const dev = new RawFileDevice(disk);
    expect(readPartitionTable(dev).partitions.map((p) => [p.number, p.type])).toEqual([
      [0, "0x83"],
      [4, "0x83"],
    ]);
    dev.close();
    expect(shim(disk).kernel.length).toBe(kernel32.length);
  });

  it("reads GPT disks and FAT partitions", () => {
    const fat = path.join(dir, "fat.img");
    execFileSync("mkfs.fat", ["-F", "16", "-n", "BOOT", "-C", fat, "20000"], { stdio: "pipe" });
    const menuFile = path.join(dir, "menu.lst");
    fs.writeFileSync(menuFile, "title fat\nkernel /boot/vmlinuz\n");
    fs.writeFileSync(path.join(dir, "vmlinuz"), kernel32);
    execFileSync("mmd", ["-i", fat, "::/boot", "::/boot/grub"]);
    execFileSync("mcopy", ["-i", fat, menuFile, "::/boot/grub/menu.lst"]);
    execFileSync("mcopy", ["-i", fat, path.join(dir, "vmlinuz"), "::/boot/vmlinuz"]);
    const disk = makeDisk(dir, "gpt.img", 24, "label: gpt\nstart=2048, size=40000, name=boot\n", [fat]);
    const dev = new RawFileDevice(disk);
    expect(readPartitionTable(dev)).toMatchObject({ scheme: "gpt", partitions: [{ number: 0, start: 2048 * 512, name: "boot" }] });
    dev.close();
    expect(shim(disk).entry.title).toBe("fat");
  });

  it("says where it looked when there is no menu.lst", () => {
    expect(() => shim(image("hvm-linux.img"))).toThrow(
      expect.objectContaining({ code: "PvGrub.MenuNotFound", message: expect.stringContaining("(hd0,0)/boot/grub: no menu.lst; (hd0,0)/grub: no menu.lst") }),
    );
  });
});

describe("partition tables made by sfdisk", () => {
  it("numbers primaries 0-3 and logicals from 4, like GRUB", () => {
    const disk = makeDisk(dir, "table.img", 8, "start=2048, size=2048, type=83\nstart=4096, size=2048, type=c\nstart=6144, size=10240, type=5\nstart=8192, size=1024, type=83\nstart=11264, size=1024, type=82\n");
    const dev = new RawFileDevice(disk);
    const t = readPartitionTable(dev);
    dev.close();
    expect(t.scheme).toBe("mbr");
    expect(t.partitions.map((p) => [p.number, p.start / 512, p.size / 512, p.type])).toEqual([
      [0, 2048, 2048, "0x83"],
      [1, 4096, 2048, "0x0c"],
      [4, 8192, 1024, "0x83"],
      [5, 11264, 1024, "0x82"],
    ]);
  });

  it("rejects an extended partition chain that loops", () => {
    const disk = makeDisk(dir, "ebrloop.img", 8, "start=2048, size=14336, type=5\nstart=4096, size=1024, type=83\nstart=7168, size=1024, type=83\n");
    const b = fs.readFileSync(disk);
    // The second EBR's "next" entry gets the first EBR's link to it: the chain returns to itself.
    const ext = 2048 * 512;
    const secondEbr = ext + b.readUInt32LE(ext + 462 + 8) * 512;
    b.copy(b, secondEbr + 462, ext + 462, ext + 478);
    fs.writeFileSync(disk, b);
    const dev = new RawFileDevice(disk);
    expect(() => readPartitionTable(dev)).toThrow(expect.objectContaining({ code: "GuestFs.Loop" }));
    dev.close();
  });
});
