import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readKernelHeader } from "../../src/boot/bzimage.js";
import { unpackInitrd, unpackInitrdCached, unpackKernel, unpackKernelCached } from "../../src/boot/host-unpack.js";
import { image, tempDir } from "../helpers.js";

const kernel = fs.readFileSync(image("vmlinuz-i386"));

describe("unpackKernel", () => {
  it("turns Debian's xz bzImage into one whose vmlinux is already in place", () => {
    const r = unpackKernel(kernel);
    if ("reason" in r) throw new Error(r.reason);
    expect(r.compression).toBe("xz");
    // The setup code is the original's; the header still reads as a 32-bit bzImage.
    const setup = (kernel[0x1f1]! + 1) * 512;
    expect(Buffer.from(r.bzImage.subarray(0, 0x1f4)).equals(kernel.subarray(0, 0x1f4))).toBe(true);
    expect(readKernelHeader(r.bzImage, "unpacked")).toMatchObject({ bits: 32, bzImage: true });
    // The protected-mode part starts with mov eax, entry; jmp eax, and the ELF's first segment sits at its physical address.
    const pm = Buffer.from(r.bzImage.subarray(setup));
    expect(pm[0]).toBe(0xb8);
    expect([pm[5], pm[6]]).toEqual([0xff, 0xe0]);
    const entry = pm.readUInt32LE(1);
    expect(entry).toBeGreaterThanOrEqual(0x1000000);
    expect(r.bzImage.length).toBeGreaterThan(r.vmlinuxBytes / 2);
    // Matches what xz itself says the payload holds.
    const payload = kernel.subarray(setup + kernel.readUInt32LE(0x248), setup + kernel.readUInt32LE(0x248) + kernel.readUInt32LE(0x24c));
    expect(r.vmlinuxBytes).toBe(payload.readUInt32LE(payload.length - 4));
    const vmlinux = execFileSync("xz", ["-dc", "--single-stream"], { input: payload.subarray(0, payload.length - 4), maxBuffer: 1 << 26 });
    expect(vmlinux.readUInt32LE(24)).toBe(entry);
  });

  it("says why when it cannot: a 64-bit vmlinux, a damaged payload, an old protocol", () => {
    expect(unpackKernel(fs.readFileSync(image("vmlinuz-amd64")))).toEqual({ reason: "vmlinux is not a 32-bit little-endian i386 ELF" });
    const broken = Buffer.from(kernel);
    const setup = (broken[0x1f1]! + 1) * 512;
    broken.fill(0x41, setup + broken.readUInt32LE(0x248) + 4096, setup + broken.readUInt32LE(0x248) + 8192);
    expect(unpackKernel(broken)).toEqual({ reason: expect.stringMatching(/^decompression failed: /) });
    const old = Buffer.from(kernel);
    old.writeUInt16LE(0x0206, 0x206);
    expect(unpackKernel(old)).toEqual({ reason: "boot protocol 2.06 has no payload fields" });
  });
});

describe("unpackKernelCached", () => {
  it("unpacks once and then serves the same bytes from the cache", () => {
    const dir = tempDir();
    const first = unpackKernelCached(kernel, dir);
    const second = unpackKernelCached(kernel, dir);
    if ("reason" in first || "reason" in second) throw new Error("not unpacked");
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(Buffer.from(second.bzImage).equals(Buffer.from(first.bzImage))).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual([expect.stringMatching(/^[0-9a-f]{64}\.bzimage$/), expect.stringMatching(/^[0-9a-f]{64}\.json$/)]);
    // A damaged entry never reaches a guest: it is unpacked again.
    const file = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith(".bzimage"))!);
    fs.writeFileSync(file, Buffer.alloc(fs.statSync(file).size));
    const third = unpackKernelCached(kernel, dir);
    if ("reason" in third) throw new Error(third.reason);
    expect(third.cached).toBe(false);
    expect(Buffer.from(third.bzImage).equals(Buffer.from(first.bzImage))).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("unpackInitrdCached", () => {
  const initrd = fs.readFileSync(image("initrd.img"));
  const entry = (dir: string, ext: string) => path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith(ext))!);

  it("keys the unpacked cpio by the compressed bytes' SHA-256 and serves it again without unpacking", () => {
    const dir = tempDir();
    const first = unpackInitrdCached(initrd, 64 << 20, dir);
    const second = unpackInitrdCached(initrd, 64 << 20, dir);
    if ("reason" in first || "reason" in second) throw new Error("not unpacked");
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(Buffer.from(second.initrd).equals(Buffer.from(first.initrd))).toBe(true);
    const key = createHash("sha256").update(initrd).digest("hex");
    expect(fs.readdirSync(dir).sort()).toEqual([`${key}.cpio`, `${key}.json`]);
    // An entry bigger than this boot's memory allows is not used: the unpacking fails as without a cache.
    expect(unpackInitrdCached(initrd, 1024, dir)).toEqual({ reason: expect.stringMatching(/^decompression failed/) });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("ignores and rewrites a damaged entry: same size other bytes, truncated, or facts that do not parse", () => {
    const dir = tempDir();
    const good = unpackInitrdCached(initrd, 64 << 20, dir);
    if ("reason" in good) throw new Error(good.reason);
    const damage: ((file: string, meta: string) => void)[] = [
      (file) => {
        const b = fs.readFileSync(file);
        b[b.length >> 1]! ^= 0xff;
        fs.writeFileSync(file, b);
      },
      (file) => fs.truncateSync(file, 1000),
      (_file, meta) => fs.writeFileSync(meta, "{"),
    ];
    for (const d of damage) {
      d(entry(dir, ".cpio"), entry(dir, ".json"));
      const again = unpackInitrdCached(initrd, 64 << 20, dir);
      if ("reason" in again) throw new Error(again.reason);
      expect(again.cached).toBe(false);
      expect(Buffer.from(again.initrd).equals(Buffer.from(good.initrd))).toBe(true);
      // Rewritten: the next launch hits the cache again.
      expect(unpackInitrdCached(initrd, 64 << 20, dir)).toMatchObject({ cached: true });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("does not cache what it leaves for the guest", () => {
    const dir = tempDir();
    expect(unpackInitrdCached(Buffer.from("070701 plain cpio"), 1 << 20, dir)).toEqual({ reason: "not a gzip or xz initramfs" });
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("unpackInitrd", () => {
  const initrd = fs.readFileSync(image("initrd.img"));

  it("gunzips a gzip initramfs into its newc cpio", () => {
    const r = unpackInitrd(initrd, 64 << 20);
    if ("reason" in r) throw new Error(r.reason);
    expect(r.compression).toBe("gzip");
    expect(Buffer.from(r.initrd.subarray(0, 6)).toString()).toBe("070701");
    expect(r.initrd.length).toBeGreaterThan(initrd.length);
  });

  it("leaves what it cannot unpack, saying why", () => {
    expect(unpackInitrd(Buffer.from("070701 plain cpio"), 1 << 20)).toEqual({ reason: "not a gzip or xz initramfs" });
    expect(unpackInitrd(initrd, 1024)).toEqual({ reason: expect.stringMatching(/^decompression failed/) });
    const notCpio = execFileSync("gzip", ["-c"], { input: "hello" });
    expect(unpackInitrd(notCpio, 1 << 20)).toEqual({ reason: "the unpacked initramfs is not a newc cpio archive" });
  });
});
