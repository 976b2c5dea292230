import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BenchResults } from "../../src/benchmark/results.js";
import { TestEndpoint } from "../ec2.js";
import { image, runCli, tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("amiboot bench", () => {
  it("runs a short suite on mbr.img and writes a valid JSON and HTML report; --compare reads them back", async () => {
    const json = path.join(dir, "a.json");
    const report = path.join(dir, "a.html");
    const r = await runCli(
      ["bench", image("mbr.img"), "--modes", "hvm", "--marker", "hello from the boot sector", "--runs", "3", "--warmup", "1", "--warm", "--concurrency", "1,2", "--json", json, "--report", report],
      { env: { ...process.env, AMIBOOT_HOME: path.join(dir, "home") } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^case\s+n\s+median/);
    expect(r.stdout).toContain("mbr.img: HVM, EBS, cold");
    const results = JSON.parse(fs.readFileSync(json, "utf8")) as BenchResults;
    expect(results.version).toBe(1);
    expect(results.cases.map((c) => c.id)).toEqual([
      "mbr.img/hvm/ebs/cold/c1",
      "mbr.img/hvm/ebs/warm/c1",
      "mbr.img/hvm/instance-store/cold/c1",
      "mbr.img/hvm/instance-store/warm/c1",
      "mbr.img/hvm/ebs/cold/c2",
    ]);
    for (const c of results.cases) {
      expect(c.samples).toHaveLength(3);
      for (const s of c.samples) {
        expect(s.totalMs).toBeGreaterThan(0);
        expect(s.milestones.until).toBeGreaterThan(0);
        expect(s.milestones.until).toBeLessThanOrEqual(s.totalMs);
      }
      // Each case's summary is written beside its samples.
      const sorted = c.samples.map((s) => s.totalMs).sort((a, b) => a - b);
      expect(c.summary).toMatchObject({ n: 3, minMs: sorted[0], medianMs: sorted[1], maxMs: sorted[2], ci: { lo: sorted[0], hi: sorted[2] } });
      expect(c.summary!.milestonesMedianMs.until).toBeGreaterThan(0);
    }
    // The warm cases restored a saved state: no BIOS milestone of their own.
    expect(results.cases[1]!.samples.every((s) => s.milestones.bios === undefined)).toBe(true);
    expect(results.cases[4]!.samples.every((s) => s.boots === 2)).toBe(true);
    expect(results.comparisons.map((c) => c.title)).toEqual(["mbr.img HVM ebs: warm vs cold launch", "mbr.img HVM instance-store: warm vs cold launch", "mbr.img HVM: instance store vs EBS"]);
    expect(results.machine.cores).toBeGreaterThan(0);
    const html = fs.readFileSync(report, "utf8");
    expect(html).toMatch(/^<!DOCTYPE html>/i);
    expect(html).toContain("<svg");
    expect(html).toContain("mbr.img: HVM, EBS, cold");

    const same = await runCli(["bench", "--compare", json, json]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain("mbr.img: HVM, EBS, cold");
  });

  it("reports a case whose guest never shows the marker and measures the others", async () => {
    const json = path.join(dir, "b.json");
    // idle.img prints the marker; mbr.img halts without it, so its instance stops before the marker.
    const r = await runCli(["bench", image("idle.img"), image("mbr.img"), "--modes", "hvm", "--root", "ebs", "--runs", "2", "--warmup", "0", "--memory", "2", "--json", json]);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(fs.readFileSync(json, "utf8")) as BenchResults;
    const [idle, mbr] = results.cases;
    expect(idle!.samples).toHaveLength(2);
    expect(idle!.error).toBeUndefined();
    expect(mbr!.samples).toHaveLength(0);
    expect(mbr!.error).toContain("ended before its marker");
    expect(r.stdout).toContain("Failed (left out after the failure):");
    // RSS with 1 and 2 idle.img instances running, and the slope.
    expect(results.memory!.points.map((p) => p.running)).toEqual([1, 2]);
    expect(results.memory!.perExtraInstanceMiB).toBe(results.memory!.points[1]!.rssMiB - results.memory!.points[0]!.rssMiB);
    expect(r.stdout).toMatch(/Memory \(idle\.img: HVM, EBS, cold, 128 MiB guests\): RSS \d+ MiB with 1, \d+ MiB with 2 running/);
    // Idle CPU with 1 and 2 instances at their shell, and what one more costs (rounded to 0.1%).
    const [one, two] = results.memory!.points;
    expect(Math.abs(results.memory!.idleCpuPerInstancePercent - (two!.idleCpuPercent - one!.idleCpuPercent))).toBeLessThanOrEqual(0.11);
    expect(r.stdout).toMatch(/Idle CPU \(each instance at its shell\): [\d.]+% with 1, [\d.]+% with 2; -?[\d.]+% of a core per idle instance/);
    const none = await runCli(["bench", image("mbr.img"), "--modes", "hvm", "--root", "ebs", "--runs", "1", "--warmup", "0"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("BenchFailed");
  });

  it("without a marker times each boot to the guest's power-off, in the control plane and as an 'amiboot boot' process", async () => {
    const json = path.join(dir, "c.json");
    // mbr.img prints a line and halts: its instance stops with Client.InstanceInitiatedShutdown, its process exits 0.
    const r = await runCli(["bench", image("mbr.img"), "--modes", "hvm", "--root", "ebs", "--marker", "", "--process", "--runs", "2", "--warmup", "0", "--json", json], {
      env: { ...process.env, AMIBOOT_HOME: path.join(dir, "home-c") },
    });
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(fs.readFileSync(json, "utf8")) as BenchResults;
    expect(results.cases.map((c) => [c.id, c.error])).toEqual([
      ["mbr.img/hvm/ebs/cold/c1", undefined],
      ["mbr.img/hvm/process", undefined],
    ]);
    const [launch, proc] = results.cases;
    for (const s of launch!.samples) {
      expect(s.milestones.halted).toBeGreaterThan(0);
      expect(s.milestones.until).toBeUndefined();
      // From RunInstances: the VM's start comes after it.
      expect(s.totalMs).toBeGreaterThanOrEqual(s.milestones.halted!);
    }
    expect(proc!.samples).toHaveLength(2);
    expect(proc!.samples.every((s) => s.totalMs > 0)).toBe(true);
    expect(r.stdout).toContain("mbr.img: HVM, amiboot boot process");
    expect(r.stdout).toContain('marker ""');
    const warm = await runCli(["bench", image("mbr.img"), "--marker", "", "--warm"]);
    expect(warm.code).toBe(2);
    expect(warm.stderr).toContain("--warm needs a marker");
  });

  it("launches AMIs through a running endpoint, cold, warm and two at once", async () => {
    const endpoint = await new TestEndpoint().start();
    try {
      const owner = endpoint.cloud.accounts.defaultAccount();
      const snap = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("idle.img")).snapshotId;
      const ami = endpoint.cloud.images.register(owner.accountId, "us-east-1", { name: "bench-idle", architecture: "i386", virtualizationType: "hvm", rootDeviceName: "/dev/sda1", blockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }).imageId;
      const json = path.join(dir, "ami.json");
      const env = { ...process.env, AWS_ACCESS_KEY_ID: owner.accessKeyId, AWS_SECRET_ACCESS_KEY: owner.secretAccessKey };
      const r = await runCli(["bench", ami, "--endpoint", endpoint.server.url, "--runs", "2", "--warmup", "1", "--warm", "--concurrency", "1,2", "--json", json], { env });
      expect(r.code, r.stderr).toBe(0);
      const results = JSON.parse(fs.readFileSync(json, "utf8")) as BenchResults;
      expect(results.cases.map((c) => c.id)).toEqual([`${ami}/hvm/ebs/cold/c1`, `${ami}/hvm/ebs/warm/c1`, `${ami}/hvm/ebs/cold/c2`]);
      for (const c of results.cases) expect(c.samples.map((x) => x.totalMs > 0)).toEqual([true, true]);
      expect(results.cases[2]!.samples.every((x) => x.boots === 2)).toBe(true);
      // Every instance the suite launched is terminated.
      const left = endpoint.cloud.instances.describe(owner.accountId, "us-east-1", { instanceIds: [], filters: [] });
      expect(left.length).toBeGreaterThan(0);
      expect(left.every((i) => i.state === "terminated")).toBe(true);
      // Without a marker: RunInstances to the instance's own shutdown (mbr.img halts; its EBS instance stops).
      const mbrSnap = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
      const mbrAmi = endpoint.cloud.images.register(owner.accountId, "us-east-1", { name: "bench-mbr", architecture: "i386", virtualizationType: "hvm", rootDeviceName: "/dev/sda1", blockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: mbrSnap } }] }).imageId;
      const offJson = path.join(dir, "ami-off.json");
      const off = await runCli(["bench", mbrAmi, "--endpoint", endpoint.server.url, "--marker", "", "--runs", "1", "--warmup", "0", "--json", offJson], { env });
      expect(off.code, off.stderr).toBe(0);
      const offCase = (JSON.parse(fs.readFileSync(offJson, "utf8")) as BenchResults).cases[0]!;
      expect([offCase.error, offCase.samples.length, offCase.samples[0]!.totalMs > 0]).toEqual([undefined, 1, true]);
      // With the marker, the same AMI's instance stops before it: the case fails and is reported.
      const failed = await runCli(["bench", mbrAmi, "--endpoint", endpoint.server.url, "--runs", "1", "--warmup", "0"], { env });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain("ended before its marker");
      const unknown = await runCli(["bench", "ami-0123456789abcdef0", "--endpoint", endpoint.server.url], { env });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("InvalidAMIID.NotFound");
    } finally {
      await endpoint.dispose();
    }
  });

  it("--ssh times the cloud-image workflow on amiboot and on QEMU TCG: SSH-ready, user data applied, IMDS from the guest", async () => {
    const json = path.join(dir, "ssh.json");
    // The sample image's init reads IMDS as cloud-init would: the key for root's dropbear, then a `#!` user data.
    const r = await runCli(["bench", image("hvm-linux.img"), "--ssh", "--ssh-user", "root", "--type", "t1.micro", "--vs-qemu", "--runs", "1", "--timeout", "240", "--json", json], {
      env: { ...process.env, AMIBOOT_HOME: path.join(dir, "home-ssh") },
    });
    expect(r.code, r.stderr).toBe(0);
    // A cloud image's launch takes minutes: --ssh makes no warm-up run unless asked.
    expect(r.stderr).not.toContain("warm-up");
    const results = JSON.parse(fs.readFileSync(json, "utf8")) as BenchResults;
    expect(results.options.warmup).toBe(0);
    const figures = ["ssh-ready", "configured", "imds"];
    expect(results.cases.map((c) => [c.id, c.error])).toEqual([
      ...figures.map((f) => [`hvm-linux.img/hvm/workflow/${f}`, undefined]),
      ...figures.map((f) => [`hvm-linux.img/hvm/qemu-workflow/${f}`, undefined]),
    ]);
    for (const engine of [results.cases.slice(0, 3), results.cases.slice(3)]) {
      const [ssh, configured, imds] = engine.map((c) => c.samples[0]!.totalMs);
      // Where the time went: the kernel's start and init, both on the way to SSH.
      const { kernel, init } = engine[0]!.samples[0]!.milestones;
      expect(0 < kernel! && kernel! < init! && init! < ssh!, JSON.stringify(engine[0]!.samples[0])).toBe(true);
      // The sample image starts dropbear, then runs the user data: both minutes at most, from launch.
      expect(ssh).toBeGreaterThan(1000);
      expect(configured).toBeGreaterThan(1000);
      expect(Math.abs(configured! - ssh!)).toBeLessThan(60_000);
      // A GET through the guest's network stack: a millisecond or more, and well under a second.
      expect(imds).toBeGreaterThan(0);
      expect(imds).toBeLessThan(1000);
    }
    expect(results.comparisons.map((c) => c.title)).toEqual([
      "hvm-linux.img launch to SSH-ready: amiboot vs QEMU TCG",
      "hvm-linux.img launch to user data applied: amiboot vs QEMU TCG",
      "hvm-linux.img IMDS GET in the guest (mean of 20): amiboot vs QEMU TCG",
    ]);
    expect(r.stdout).toMatch(/hvm-linux\.img launch to SSH-ready: amiboot vs QEMU TCG: .* is \d+\.\d\dx /);
    // The user logs in as someone the image lacks: every figure fails, saying why.
    const bad = await runCli(["bench", image("hvm-linux.img"), "--ssh", "--ssh-user", "nobody", "--type", "t1.micro", "--runs", "1", "--warmup", "0", "--timeout", "240"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ssh could not log in as nobody at 127\.77\.\d+\.\d+:10022: .*Permission denied/);
    const mixed = await runCli(["bench", image("hvm-linux.img"), "--ssh", "--warm", "--memory", "2"]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain("--ssh times one launch at a time of disk images, cold: it does not combine with --warm, --memory");
    const pvOnly = await runCli(["bench", image("pv-linux.img"), "--ssh", "--modes", "pv"]);
    expect(pvOnly.code).toBe(2);
    expect(pvOnly.stderr).toContain("--ssh boots each image as HVM");
  }, 600_000);

  it("refuses bad options with a clear message", async () => {
    const r = await runCli(["bench", image("mbr.img"), "--modes", "xen"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("modes must be hvm and/or pv");
    const e = await runCli(["bench", "ami-0123456789abcdef0", "--endpoint", "localhost:8773"]);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain("'localhost:8773' is not an http:// or https:// URL.");
    const c = await runCli(["bench", "--compare", image("mbr.img"), image("mbr.img")]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("cannot read");
  });
});
