import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RawFileDevice } from "../../src/volumes/raw-file.js";
import { tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("RawFileDevice", () => {
  it("keeps the guest's writes in memory and never changes the file", () => {
    const file = path.join(dir, "disk.img");
    const original = Buffer.alloc(4096, 7);
    fs.writeFileSync(file, original);
    const dev = new RawFileDevice(file);
    expect(dev.size).toBe(4096);
    dev.write(512, new Uint8Array(1024).fill(9));
    const back = dev.read(256, 2048);
    expect(back.subarray(0, 256).every((b) => b === 7)).toBe(true);
    expect(back.subarray(256, 1280).every((b) => b === 9)).toBe(true);
    expect(back.subarray(1280).every((b) => b === 7)).toBe(true);
    dev.close();
    expect(fs.readFileSync(file).equals(original)).toBe(true);
  });

  it("reads zeros past the end and rejects writes out of range", () => {
    const file = path.join(dir, "small.img");
    fs.writeFileSync(file, Buffer.alloc(1024, 1));
    const dev = new RawFileDevice(file);
    const r = dev.read(512, 1024);
    expect([r[0], r[511], r[512], r[1023]]).toEqual([1, 1, 0, 0]);
    expect(() => dev.write(1024, new Uint8Array(512))).toThrow(expect.objectContaining({ code: "DiskIOError" }));
    dev.close();
  });

  it("reports a file truncated under it", () => {
    const file = path.join(dir, "shrinks.img");
    fs.writeFileSync(file, Buffer.alloc(8192, 1));
    const dev = new RawFileDevice(file);
    fs.truncateSync(file, 1024);
    expect(() => dev.read(4096, 512)).toThrow(expect.objectContaining({ code: "DiskIOError", message: expect.stringContaining("truncated") }));
    dev.close();
  });
});
