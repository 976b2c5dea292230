import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, image, MARKER, runCli, tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const amiboot = (...args: string[]) => runCli(args);

describe("amiboot boot", () => {
  it("boots mbr.img and prints its console and the milestone table", async () => {
    const r = await amiboot("boot", image("mbr.img"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("amiboot mbr.img: hello from the boot sector");
    expect(r.stdout).toMatch(/milestone\s+time \(s\)\s+what/);
    expect(r.stdout).toMatch(/halted\s+\d+\.\d\d\s+CPU halted/);
    expect(r.stdout).toMatch(/end\s+\d+\.\d\d\s+outcome: halted/);
  });

  it("prints one JSON object with --json", async () => {
    const r = await amiboot("boot", image("mbr.img"), "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, outcome: "halted", mode: "hvm", memoryMiB: 128, image: image("mbr.img") });
    expect(out.milestones.map((m: { name: string }) => m.name)).toEqual(["bios", "halted"]);
    expect(out.console).toEqual(["amiboot mbr.img: hello from the boot sector"]);
    expect(typeof out.elapsedMs).toBe("number");
  });

  it.each([
    ["a missing path", () => path.join(dir, "missing.img"), "InvalidDiskImage.NotFound"],
    ["a directory", () => dir, "InvalidDiskImage.NotAFile"],
    ["an empty file", () => write("empty.img", 0), "InvalidDiskImage.Empty"],
    ["a file under 512 bytes", () => write("tiny.img", 100), "InvalidDiskImage.TooSmall"],
    ["a disk without the boot signature", () => write("blank.img", 1 << 20), "InvalidDiskImage.NotBootable"],
  ])("rejects %s with exit 2 and one line naming the problem", async (_what, make, code) => {
    const r = await amiboot("boot", make());
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^amiboot: error ${code.replace(".", "\\.")}: `));
  });

  it("rejects bad flags with exit 2", async () => {
    const r = await amiboot("boot", image("mbr.img"), "--memory", "8");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error InvalidParameterValue: memory must be a whole number of MiB from 16 to 2048, got 8");
    const u = await amiboot("boot", image("mbr.img"), "--memory", "lots");
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("'lots' is not a number.");
  });

  it("exits 124 on timeout and 1 on an x86_64 kernel, with one error line", async () => {
    const t = await amiboot("boot", image("hvm-linux.img"), "--until", "never-printed", "--timeout", "2", "--json");
    expect(t.code).toBe(124);
    expect(JSON.parse(t.stdout)).toMatchObject({ ok: false, outcome: "timeout", error: { code: "BootTimeout" } });
    const x = await amiboot("boot", image("hvm-x86_64.img"));
    expect(x.code).toBe(1);
    expect(x.stderr.trim()).toMatch(/^amiboot: error UnsupportedOperation: .*x86_64 kernels cannot boot/);
  });

  it("--attach connects stdin to the guest and Ctrl-] detaches", async () => {
    const child = spawn(process.execPath, [CLI, "boot", image("hvm-linux.img"), "--attach", "--timeout", "150"]);
    let out = "";
    let step = 0;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      if (step === 0 && out.includes(MARKER) && out.endsWith("# \x1b[6n")) {
        step = 1;
        child.stdin.write("echo attached-$((2+3))\n");
      } else if (step === 1 && out.includes("attached-5")) {
        step = 2;
        child.stdin.write("\x1d");
      }
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(err).toContain("Ctrl-] detaches");
    expect(code).toBe(0);
    expect(out).toMatch(/end\s+\d+\.\d\d\s+outcome: stopped/);
  });
});

function write(name: string, size: number): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.alloc(size));
  return p;
}
