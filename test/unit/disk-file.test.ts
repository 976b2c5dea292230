import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkDiskFile } from "../../src/boot/disk-file.js";
import { tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

function bootSector(): Buffer {
  const b = Buffer.alloc(512);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** Every bad disk a user can hand `amiboot boot`, with the error a user reads. */
export const BAD_DISKS: [string, () => string, string, RegExp][] = [
  ["a missing path", () => path.join(dir, "nope.img"), "InvalidDiskImage.NotFound", /does not exist/],
  ["a directory", () => dir, "InvalidDiskImage.NotAFile", /is a directory/],
  ["an empty file", () => file("empty.img", Buffer.alloc(0)), "InvalidDiskImage.Empty", /is empty \(0 bytes\)/],
  ["a file under 512 bytes", () => file("short.img", Buffer.alloc(300, 1)), "InvalidDiskImage.TooSmall", /300 bytes, smaller than one 512-byte sector/],
  ["a disk without 0x55AA", () => file("nosig.img", Buffer.alloc(4096)), "InvalidDiskImage.NotBootable", /bytes 510-511 are 0x0000, expected 0x55AA/],
  [
    "an unreadable path (symlink loop)",
    () => {
      const p = path.join(dir, "loop.img");
      if (!fs.existsSync(p)) fs.symlinkSync(p, p);
      return p;
    },
    "InvalidDiskImage.Unreadable",
    /cannot read disk image .*ELOOP/,
  ],
];

describe("checkDiskFile", () => {
  it("accepts a boot sector and returns its size", () => {
    expect(checkDiskFile(file("ok.img", bootSector()), { bootSignature: true })).toBe(512);
  });

  it.each(BAD_DISKS)("rejects %s", (_what, make, code, message) => {
    expect(() => checkDiskFile(make(), { bootSignature: true })).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
  });

  it("does not ask a PV disk for a boot signature", () => {
    expect(checkDiskFile(file("pv.img", Buffer.alloc(4096)), { bootSignature: false })).toBe(4096);
  });

  it("names a non-regular file", () => {
    expect(() => checkDiskFile("/dev/null", { bootSignature: true })).toThrow(expect.objectContaining({ code: "InvalidDiskImage.NotAFile" }));
  });
});
