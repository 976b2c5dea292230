import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { planDirs, pvPlan } from "../../src/boot/plan.js";
import { amibootHome } from "../../src/home.js";
import { BootPool } from "../../src/pool/pool.js";
import { makeDisk, makeExt } from "../disks.js";
import { image, MARKER, runCli, tempDir } from "../helpers.js";

const pool = new BootPool({ maxThreads: 2 });
const dirs = planDirs(amibootHome());
const dir = tempDir();
afterAll(async () => {
  await pool.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const amiboot = (...args: string[]) => runCli(args);

describe("PV boots through the PV-GRUB shim", () => {
  it("boots pv-linux.img: the shim's banner, then the kernel, init and the marker", async () => {
    const run = pool.boot(await pvPlan(image("pv-linux.img"), { until: MARKER, timeoutSeconds: 150 }, dirs));
    let text = "";
    run.on("console", (b) => (text += Buffer.from(b).toString("latin1")));
    const r = await run.result;
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: true, outcome: "until", mode: "pv" });
    expect(r.milestones.map((m) => m.name)).toEqual(["loader", "kernel", "init", "until"]);
    expect(text).toMatch(/^amiboot PV-GRUB shim: booting entry 0 'Debian GNU\/Linux, kernel 6\.1\.0-\d+-686' from \(hd0,0\)\/boot\/grub\/menu\.lst/);
    expect(text).toMatch(/Kernel command line: root=\/dev\/xvda1 console=ttyS0/);
    expect(text).toMatch(/amiboot PV-GRUB shim: kernel unpacked on the host \(xz, 15\.\d MiB vmlinux, (\d+ ms|cached)\)/);
    expect(text).toMatch(/amiboot PV-GRUB shim: initrd unpacked on the host \(gzip, \d+\.\d -> \d+\.\d MiB, (\d+ ms|cached)\)/);
  });

  it("boots the fallback entry when the default's initrd is missing, and the console says so", async () => {
    const part = makeExt(dir, "fb.img", "ext4", {
      "boot/grub/menu.lst": "default 0\nfallback 1\ntitle main\nkernel /boot/vmlinuz console=ttyS0\ninitrd /boot/initrd-missing\ntitle rescue\nkernel /boot/vmlinuz console=ttyS0 rescue=1\ninitrd /boot/initrd\n",
      "boot/vmlinuz": fs.readFileSync(image("vmlinuz-i386")),
      "boot/initrd": fs.readFileSync(image("initrd.img")),
    });
    const disk = makeDisk(dir, "fallback-disk.img", 20, "start=2048, type=83\n", [part]);
    // This one leaves the kernel compressed, as real PV-GRUB does: the guest's decompressor runs.
    const plan = await pvPlan(disk, { until: MARKER, timeoutSeconds: 150, guestDecompress: true }, dirs);
    expect(plan.pv?.unpacked).toBeUndefined();
    expect(plan.pv?.entry).toEqual({ index: 1, title: "rescue" });
    const run = pool.boot(plan);
    let text = "";
    run.on("console", (b) => (text += Buffer.from(b).toString("latin1")));
    const r = await run.result;
    expect(r.outcome).toBe("until");
    expect(text).toContain("amiboot PV-GRUB shim: booting entry 1 'rescue'");
    expect(text).toMatch(/amiboot PV-GRUB shim: entry 0 'main' skipped: \(hd0,0\)\/boot\/initrd-missing: .*not found/);
    expect(text).toMatch(/Kernel command line: console=ttyS0 rescue=1/);
  });

  it("amiboot boot --mode pv --json reports the shim's choice", async () => {
    const r = await amiboot("boot", image("pv-linux.img"), "--mode", "pv", "--until", MARKER, "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, mode: "pv", outcome: "until", pv: { menuPath: "(hd0,0)/boot/grub/menu.lst", entry: { index: 0 }, initrd: true, fallback: false } });
  });

  it("amiboot rejects PV boots that cannot work before starting a VM", async () => {
    const noMenu = await amiboot("boot", image("hvm-linux.img"), "--mode", "pv");
    expect(noMenu.code).toBe(2);
    expect(noMenu.stderr.trim()).toMatch(/^amiboot: error PvGrub\.MenuNotFound: no menu\.lst found where PV-GRUB looks/);
    const small = await amiboot("boot", image("pv-linux.img"), "--mode", "pv", "--memory", "64");
    expect(small.code).toBe(2);
    const initrd = fs.statSync(image("initrd.img")).size;
    const needed = Math.ceil((64 * 1048576 + initrd) / 1048576);
    expect(small.stderr).toContain(`error InvalidParameterValue: a PV boot with a ${(initrd / 1048576).toFixed(1)} MiB initrd needs more than ${needed} MiB of memory`);
  });

  it("amiboot inspect shows partitions, menu.lst, entries and kernel facts", async () => {
    const r = await amiboot("inspect", image("pv-linux.img"), "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      partitionTable: "mbr",
      devices: [{ device: "(hd0,0)", start: 1048576, type: "0x83", filesystem: { type: "ext4", label: "amiboot-pv" } }],
      menu: { path: "(hd0,0)/boot/grub/menu.lst", default: 0, fallback: [1], timeout: 0, hiddenmenu: true },
      pvBoot: { entry: 0 },
    });
    expect(report.menu.entries[0]).toMatchObject({ index: 0, root: "(hd0,0)", kernelHeader: { bits: 32, bzImage: true, protocol: "2.15" } });
    expect(report.menu.entries[0].initrd).toMatch(/^\(hd0,0\)\/boot\/initrd\.img-6\.1\.0-\d+-686$/);
    const text = await amiboot("inspect", image("pv-linux.img"));
    expect(text.stdout).toMatch(/32-bit bzImage, boot protocol 2\.15, 6\.1\.0-\d+-686/);
    expect(text.stdout).toContain("PV boot: entry 0");
  });
});
