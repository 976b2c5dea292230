import { DescribeImagesCommand, DescribeInstancesCommand, DescribeInstanceStatusCommand, RunInstancesCommand, TerminateInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { ConsoleLines } from "../boot/console-lines.js";
import { checkDiskFile } from "../boot/disk-file.js";
import { pvGrub } from "../boot/pv-grub.js";
import { BootTimer } from "../boot/timer.js";
import { Cloud } from "../cloud/cloud.js";
import { memoryOf } from "../cloud/instance-types.js";
import { WARM_TAG } from "../cloud/instances.js";
import { Ec2Error } from "../errors.js";
import { createBundle } from "../volumes/bundle.js";
import { RawFileDevice } from "../volumes/raw-file.js";
import type { BenchCase, BenchResults, BenchSample, MemoryResult } from "./results.js";

export interface SuiteOptions {
  /** Raw disk images to boot. */
  images: string[];
  /** AMIs to launch through an EC2 endpoint (`amiboot serve`), with a client for it. */
  amis: { ids: string[]; client?: EC2Client };
  runs: number;
  warmup: number;
  modes: ("hvm" | "pv")[];
  roots: ("ebs" | "instance-store")[];
  /** Also measure warm launches (restored from the state saved at the marker). */
  warm: boolean;
  /** Concurrent launches to measure (1 is always measured). */
  concurrency: number[];
  /** Measure QEMU TCG on the same disk (HVM) or the same kernel and initrd (PV), when installed. */
  vsQemu: boolean;
  marker: string;
  instanceType: string;
  /** Measure RSS with 1..memory instances running (0: not measured). */
  memory: number;
  /** Seconds a launch may take to show the marker before its case fails. */
  timeoutSeconds: number;
  /** Progress lines for people (stderr). */
  log: (line: string) => void;
}

export const DEFAULT_SUITE_OPTIONS: Omit<SuiteOptions, "images"> = {
  amis: { ids: [] },
  runs: 5,
  warmup: 1,
  modes: ["hvm", "pv"],
  roots: ["ebs", "instance-store"],
  warm: false,
  concurrency: [1],
  vsQemu: false,
  marker: "AMIBOOT-USERSPACE-READY",
  instanceType: "t1.micro",
  timeoutSeconds: 120,
  memory: 0,
  log: () => {},
};

/** One thing to measure: `measure` returns one sample. */
interface Runner {
  case: BenchCase;
  measure(): Promise<BenchSample>;
  /** The image launched (amiboot cases). */
  imageId?: string;
}

const require = createRequire(import.meta.url);

/**
 * The boot-time suite: every case through amiboot's control plane in this
 * process (RunInstances to the user-space marker, as a user launches), and
 * QEMU TCG as the peer. Runs are interleaved (run 1 of every case, then run
 * 2, ...) so that drift on the machine hits all cases alike, and ratios are
 * taken per pair of runs.
 */
export async function runSuite(input: Partial<SuiteOptions> & { images: string[] }): Promise<BenchResults> {
  const o: SuiteOptions = { ...DEFAULT_SUITE_OPTIONS, ...input };
  checkOptions(o);
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  const homes: string[] = [];
  const clouds = new Map<number, Cloud>();
  /** One control plane per concurrency level: its boot slots are the concurrency. */
  const cloudFor = (slots: number): Cloud => {
    let cloud = clouds.get(slots);
    if (!cloud) {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-bench-"));
      homes.push(home);
      cloud = new Cloud(home, { instances: { bootSlots: slots, marker: o.marker, maxInstances: Math.max(32, slots) } });
      clouds.set(slots, cloud);
    }
    return cloud;
  };
  try {
    const runners: Runner[] = [];
    const comparisons: BenchResults["comparisons"] = [];
    for (const file of o.images) {
      const name = path.basename(file);
      for (const mode of o.modes) {
        const why = mode === "pv" ? pvProblem(file) : hvmProblem(file);
        if (why) {
          o.log(`bench: ${name}: no ${mode.toUpperCase()} cases (${why})`);
          continue;
        }
        const id = (root: string, warm: boolean, c: number) => `${name}/${mode}/${root}/${warm ? "warm" : "cold"}/c${c}`;
        for (const root of o.roots) {
          runners.push(await launchRunner(cloudFor(1), o, file, mode, root, false, 1, id(root, false, 1)));
          if (o.warm) {
            runners.push(await launchRunner(cloudFor(1), o, file, mode, root, true, 1, id(root, true, 1)));
            comparisons.push({ title: `${name} ${mode.toUpperCase()} ${root}: warm vs cold launch`, baseline: id(root, false, 1), other: id(root, true, 1) });
          }
        }
        if (o.roots.length === 2) comparisons.push({ title: `${name} ${mode.toUpperCase()}: instance store vs EBS`, baseline: id("ebs", false, 1), other: id("instance-store", false, 1) });
        for (const c of o.concurrency.filter((c) => c > 1)) {
          runners.push(await launchRunner(cloudFor(c), o, file, mode, o.roots[0]!, false, c, id(o.roots[0]!, false, c)));
        }
        if (o.vsQemu) {
          const q = qemuRunner(o, file, mode, `${name}/${mode}/qemu`);
          if (q) {
            runners.push(q);
            comparisons.push({ title: `${name} ${mode.toUpperCase()}: amiboot vs QEMU TCG`, baseline: q.case.id, other: id(o.roots[0]!, false, 1) });
          }
        }
      }
    }
    // PV vs HVM: on the same image when it boots both ways, else across the one HVM and the one PV image (the sample images share their kernel).
    const coldOf = (mode: string) => runners.filter((r) => r.case.params.mode === mode && r.case.params.root === o.roots[0] && r.case.params.warm === false && r.case.params.concurrency === 1);
    const [hvm, pv] = [coldOf("hvm"), coldOf("pv")];
    for (const p of pv) {
      const h = hvm.find((x) => x.case.params.image === p.case.params.image) ?? (hvm.length === 1 && pv.length === 1 ? hvm[0] : undefined);
      if (h) comparisons.push({ title: `PV (${p.case.params.image}) vs HVM (${h.case.params.image})`, baseline: h.case.id, other: p.case.id });
    }
    for (const ami of o.amis.ids) {
      const cases = await amiRunners(o, ami);
      runners.push(...cases);
      if (o.warm) comparisons.push({ title: `${ami}: warm vs cold launch`, baseline: cases[0]!.case.id, other: cases[1]!.case.id });
    }
    if (runners.length === 0) throw new Ec2Error("InvalidParameterValue", "nothing to measure: no image can boot in the modes asked for", "benchmark.bench");

    // Memory first, in a process no earlier VM has left idle workers or garbage in.
    const memory = o.memory > 0 ? await measureMemory(cloudFor(1), o, runners.find((r) => r.case.engine === "amiboot")) : undefined;
    for (let run = -o.warmup; run < o.runs; run++) {
      for (const r of runners) {
        if (r.case.error) continue;
        try {
          const sample = await r.measure();
          o.log(`bench: ${run < 0 ? "warm-up" : `run ${run + 1}/${o.runs}`} ${r.case.label}: ${(sample.totalMs / 1000).toFixed(2)} s`);
          if (run >= 0) r.case.samples.push(sample);
        } catch (err) {
          // A case that fails is reported and left out of later runs; the others go on.
          r.case.error = err instanceof Error ? err.message : String(err);
          o.log(`bench: ${r.case.label} failed, left out from now on: ${r.case.error}`);
        }
      }
    }
    if (runners.every((r) => r.case.error)) throw new Ec2Error("BenchFailed", `every case failed; first: ${runners[0]!.case.label}: ${runners[0]!.case.error}`, "benchmark.bench");
    return {
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machineFacts(loadBefore),
      options: { runs: o.runs, warmup: o.warmup, modes: o.modes, roots: o.roots, warm: o.warm, concurrency: o.concurrency, vsQemu: o.vsQemu, marker: o.marker, instanceType: o.instanceType, timeoutSeconds: o.timeoutSeconds, images: o.images, amis: o.amis.ids },
      cases: runners.map((r) => r.case),
      comparisons: comparisons.filter((c) => runners.some((r) => r.case.id === c.baseline) && runners.some((r) => r.case.id === c.other)),
      ...(memory ? { memory } : {}),
    };
  } finally {
    for (const cloud of clouds.values()) await cloud.shutdown();
    for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
  }
}

function checkOptions(o: SuiteOptions): void {
  const bad = (m: string) => new Ec2Error("InvalidParameterValue", m, "benchmark.bench");
  if (o.images.length === 0 && o.amis.ids.length === 0) throw bad("give at least one disk image or AMI");
  if (o.amis.ids.length > 0 && !o.amis.client) throw bad("AMIs are launched through an EC2 endpoint: give a client for it");
  for (const f of o.images) if (!fs.existsSync(f)) throw bad(`no such image: ${f}`);
  if (!Number.isInteger(o.runs) || o.runs < 1) throw bad(`runs must be an integer >= 1, got ${o.runs}`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw bad(`warmup must be an integer >= 0, got ${o.warmup}`);
  if (!(o.timeoutSeconds > 0)) throw bad(`timeout must be a number of seconds > 0, got ${o.timeoutSeconds}`);
  if (o.modes.length === 0 || o.modes.some((m) => m !== "hvm" && m !== "pv")) throw bad(`modes must be hvm and/or pv, got ${o.modes.join(",")}`);
  if (o.roots.length === 0 || o.roots.some((r) => r !== "ebs" && r !== "instance-store")) throw bad(`roots must be ebs and/or instance-store, got ${o.roots.join(",")}`);
  if (o.concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 32)) throw bad(`concurrency levels must be integers from 1 to 32, got ${o.concurrency.join(",")}`);
}

/** Why SeaBIOS would not boot this disk (no boot signature, or a partition table with no boot code), if it would not. */
function hvmProblem(file: string): string | undefined {
  try {
    checkDiskFile(file, { bootSignature: true });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  const dev = new RawFileDevice(file);
  try {
    // The first 440 bytes are the MBR's boot code; all zeros is a partition table alone (a PV disk).
    if (dev.read(0, 440).every((b) => b === 0)) return "its MBR has a partition table but no boot code";
    return undefined;
  } finally {
    dev.close();
  }
}

/** Why the PV-GRUB shim cannot boot this image, if it cannot. */
function pvProblem(file: string): string | undefined {
  const dev = new RawFileDevice(file);
  try {
    pvGrub(dev, path.basename(file));
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    dev.close();
  }
}

/**
 * RunInstances of an image registered from `file` (EBS: a snapshot; instance
 * store: a bundle), timed to the marker. With concurrency c, c instances
 * launch at once and the sample is the wall time until all show the marker.
 * Every instance is terminated before the next sample.
 */
async function launchRunner(cloud: Cloud, o: SuiteOptions, file: string, mode: "hvm" | "pv", root: string, warm: boolean, concurrency: number, id: string): Promise<Runner> {
  const owner = cloud.accounts.defaultAccount().accountId;
  const region = "us-east-1";
  const virtualizationType = mode === "hvm" ? "hvm" : "paravirtual";
  const name = `bench-${Buffer.from(id).toString("hex").slice(0, 100)}`;
  let imageId: string;
  if (root === "ebs") {
    const snap = cloud.snapshots.importDisk(owner, region, file).snapshotId;
    imageId = cloud.images.register(owner, region, { name, architecture: "i386", virtualizationType, rootDeviceName: "/dev/sda1", blockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }).imageId;
  } else {
    const prefix = `b${Buffer.from(id).toString("hex").slice(0, 60)}`;
    createBundle(file, { bucket: path.join(cloud.home, "buckets", "bench"), prefix });
    imageId = cloud.images.register(owner, region, { name, architecture: "i386", virtualizationType, imageLocation: `bench/${prefix}.manifest.xml`, blockDeviceMappings: [] }).imageId;
    await cloud.images.verified(imageId);
  }
  const sizeMiB = Math.round(fs.statSync(file).size / 1048576);
  const labels = [mode.toUpperCase(), root === "ebs" ? "EBS" : "instance store", warm ? "warm" : "cold", ...(concurrency > 1 ? [`${concurrency} at once`] : [])];
  const c: BenchCase = { id, label: `${path.basename(file)}: ${labels.join(", ")}`, engine: "amiboot", params: { image: path.basename(file), mode, root, warm, concurrency, sizeMiB }, samples: [] };
  return {
    case: c,
    imageId,
    async measure() {
      const t0 = performance.now();
      const r = cloud.instances.run(owner, region, {
        imageId,
        instanceType: o.instanceType,
        minCount: concurrency,
        maxCount: concurrency,
        blockDeviceMappings: [],
        tags: warm ? [{ key: WARM_TAG, value: "true" }] : [],
      });
      const ids = r.instances.map((i) => i.instanceId);
      try {
        const reached = new Map<string, number>();
        while (reached.size < ids.length) {
          if (performance.now() - t0 > o.timeoutSeconds * 1000) throw new Ec2Error("BootTimeout", `${c.label}: no marker within ${o.timeoutSeconds} s`, "benchmark.bench");
          for (const iid of ids) {
            if (reached.has(iid)) continue;
            const i = cloud.instances.get(owner, region, iid, "bench");
            if (i.milestones.some((m) => m.name === "until")) reached.set(iid, performance.now() - t0);
            else if (i.state === "stopped" || i.state === "terminated") throw new Ec2Error("InstanceFailed", `${c.label}: ${iid} ended before its marker: ${i.stateReason?.message ?? i.state}`, "benchmark.bench");
          }
          await new Promise((res) => setTimeout(res, 5));
        }
        const totalMs = Math.max(...reached.values());
        // The slowest instance's milestones, from its VM's start (what comes before is queueing and starting the VM).
        const last = [...reached].sort((a, b) => b[1] - a[1])[0]![0];
        const ms = cloud.instances.get(owner, region, last, "bench").milestones;
        const until = ms.find((m) => m.name === "until")!.atMs;
        const milestones = Object.fromEntries(ms.filter((m) => m.atMs <= until).map((m) => [m.name, Math.round(m.atMs)]));
        return { totalMs: Math.round(totalMs), milestones, boots: ids.length };
      } finally {
        cloud.instances.terminate(owner, region, ids);
        for (const iid of ids) {
          while (cloud.instances.get(owner, region, iid, "bench").state !== "terminated") await new Promise((res) => setTimeout(res, 10));
        }
      }
    },
  };
}

/**
 * RSS with 1, 2, … instances of the first case's image running (each idle
 * after its marker, measured 2 s after the last one reached it), and the
 * slope: what one more running instance costs.
 */
async function measureMemory(cloud: Cloud, o: SuiteOptions, first: Runner | undefined): Promise<MemoryResult | undefined> {
  if (!first) return undefined;
  const owner = cloud.accounts.defaultAccount().accountId;
  const region = "us-east-1";
  const imageId = first.imageId;
  const ids: string[] = [];
  const points: MemoryResult["points"] = [];
  try {
    for (let k = 1; k <= o.memory; k++) {
      const id = cloud.instances.run(owner, region, { imageId, instanceType: o.instanceType, minCount: 1, maxCount: 1, blockDeviceMappings: [], tags: [] }).instances[0]!.instanceId;
      ids.push(id);
      const t0 = performance.now();
      while (!cloud.instances.get(owner, region, id, "bench").milestones.some((m) => m.name === "until")) {
        if (performance.now() - t0 > o.timeoutSeconds * 1000) throw new Ec2Error("BootTimeout", `memory: ${id} showed no marker within ${o.timeoutSeconds} s`, "benchmark.bench");
        await new Promise((res) => setTimeout(res, 20));
      }
      await new Promise((res) => setTimeout(res, 2000));
      points.push({ running: k, rssMiB: Math.round(process.memoryUsage().rss / 1048576) });
      o.log(`bench: memory: ${k} running, RSS ${points.at(-1)!.rssMiB} MiB`);
    }
  } finally {
    cloud.instances.terminate(owner, region, ids);
    for (const id of ids) while (cloud.instances.get(owner, region, id, "bench").state !== "terminated") await new Promise((res) => setTimeout(res, 10));
  }
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.running, 0) / n;
  const my = points.reduce((a, p) => a + p.rssMiB, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.running - mx) ** 2, 0);
  const slope = sxx > 0 ? points.reduce((a, p) => a + (p.running - mx) * (p.rssMiB - my), 0) / sxx : Number.NaN;
  return { label: first.case.label, guestMiB: memoryOf(o.instanceType, "bench"), points, perExtraInstanceMiB: Math.round(slope) };
}

/**
 * An AMI launched through an EC2 endpoint, as any client launches it: time
 * from RunInstances to the instance status check passing (the marker),
 * polled every 20 ms. The API shows no milestones, so these cases have
 * none. Cold, warm (with --warm) and each concurrency level.
 */
async function amiRunners(o: SuiteOptions, ami: string): Promise<Runner[]> {
  const client = o.amis.client!;
  const image = (await client.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images?.[0];
  if (!image) throw new Ec2Error("InvalidAMIID.NotFound", `The image id '[${ami}]' does not exist`, "benchmark.bench");
  const mode = image.VirtualizationType === "paravirtual" ? "pv" : "hvm";
  const root = image.RootDeviceType ?? "ebs";
  const variants = [
    { warm: false, concurrency: 1 },
    ...(o.warm ? [{ warm: true, concurrency: 1 }] : []),
    ...o.concurrency.filter((c) => c > 1).map((concurrency) => ({ warm: false, concurrency })),
  ];
  return variants.map(({ warm, concurrency }) => {
    const labels = [mode.toUpperCase(), root === "ebs" ? "EBS" : "instance store", warm ? "warm" : "cold", ...(concurrency > 1 ? [`${concurrency} at once`] : [])];
    const c: BenchCase = {
      id: `${ami}/${mode}/${root}/${warm ? "warm" : "cold"}/c${concurrency}`,
      label: `${ami} (${image.Name ?? "?"}): ${labels.join(", ")}, via the endpoint`,
      engine: "amiboot",
      params: { image: ami, mode, root, warm, concurrency, endpoint: true },
      samples: [],
    };
    return { case: c, measure: () => launchThroughEndpoint(client, o, c, ami, warm, concurrency) };
  });
}

async function launchThroughEndpoint(client: EC2Client, o: SuiteOptions, c: BenchCase, ami: string, warm: boolean, concurrency: number): Promise<BenchSample> {
  const t0 = performance.now();
  const r = await client.send(
    new RunInstancesCommand({
      ImageId: ami,
      InstanceType: o.instanceType as never,
      MinCount: concurrency,
      MaxCount: concurrency,
      ...(warm ? { TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: WARM_TAG, Value: "true" }] }] } : {}),
    }),
  );
  const ids = (r.Instances ?? []).map((i) => i.InstanceId!);
  try {
    const reached = new Map<string, number>();
    while (reached.size < ids.length) {
      if (performance.now() - t0 > o.timeoutSeconds * 1000) throw new Ec2Error("BootTimeout", `${c.label}: no marker within ${o.timeoutSeconds} s`, "benchmark.bench");
      const statuses = (await client.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, IncludeAllInstances: true }))).InstanceStatuses ?? [];
      for (const st of statuses) {
        const state = st.InstanceState?.Name;
        if (state === "stopped" || state === "terminated") throw new Ec2Error("InstanceFailed", `${c.label}: ${st.InstanceId} ended before its marker (${state})`, "benchmark.bench");
        if (st.InstanceStatus?.Status === "ok" && !reached.has(st.InstanceId!)) reached.set(st.InstanceId!, performance.now() - t0);
      }
      if (reached.size < ids.length) await new Promise((res) => setTimeout(res, 20));
    }
    return { totalMs: Math.round(Math.max(...reached.values())), milestones: {}, boots: ids.length };
  } finally {
    if (ids.length > 0) {
      await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
      for (let i = 0; i < 3000; i++) {
        const states = (await client.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations?.flatMap((x) => x.Instances ?? []).map((x) => x.State?.Name) ?? [];
        if (states.every((st) => st === "terminated")) break;
        await new Promise((res) => setTimeout(res, 20));
      }
    }
  }
}

/** QEMU TCG on the same disk (HVM), or QEMU's direct boot of the kernel and initrd the shim picks (PV); undefined when QEMU is missing. */
function qemuRunner(o: SuiteOptions, file: string, mode: "hvm" | "pv", id: string): Runner | undefined {
  if (spawnSync("qemu-system-i386", ["--version"]).status !== 0) {
    o.log("bench: qemu-system-i386 not found (apt-get install qemu-system-x86): no QEMU cases");
    return undefined;
  }
  const memory = "128";
  const base = ["-accel", "tcg", "-m", memory, "-nographic", "-no-reboot"];
  let args: string[];
  if (mode === "hvm") args = [...base, "-drive", `file=${file},format=raw,snapshot=on`];
  else {
    const dev = new RawFileDevice(file);
    let choice;
    try {
      choice = pvGrub(dev, path.basename(file));
    } finally {
      dev.close();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-bench-qemu-"));
    fs.writeFileSync(path.join(dir, "vmlinuz"), choice.kernel);
    if (choice.initrd) fs.writeFileSync(path.join(dir, "initrd"), choice.initrd);
    args = [...base, "-kernel", path.join(dir, "vmlinuz"), ...(choice.initrd ? ["-initrd", path.join(dir, "initrd")] : []), "-append", choice.cmdline, "-drive", `file=${file},format=raw,snapshot=on`];
  }
  const c: BenchCase = { id, label: `${path.basename(file)}: ${mode.toUpperCase()}, QEMU TCG`, engine: "qemu", params: { image: path.basename(file), mode, engine: "qemu-tcg" }, samples: [] };
  return { case: c, measure: () => measureProcess("qemu-system-i386", args, o.marker, o.timeoutSeconds * 1000) };
}

/** Starts a process, reads its serial console on stdout, ends it at the marker; times from spawn. */
export function measureProcess(command: string, args: string[], marker: string, timeoutMs = 300_000): Promise<BenchSample> {
  return new Promise((resolve, reject) => {
    const timer = new BootTimer(marker);
    const lines = new ConsoleLines();
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "ignore"] });
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let done = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (done) return;
      for (const b of chunk) {
        const line = lines.pushByte(b);
        const hit = line !== undefined ? timer.line(line) : [timer.partial(lines.current)].filter((m) => m !== undefined);
        if (hit.some((m) => m.name === "until")) {
          done = true;
          child.kill("SIGKILL");
          resolve({ totalMs: Math.round(timer.elapsedMs()), milestones: Object.fromEntries(timer.milestones.map((m) => [m.name, Math.round(m.atMs)])), boots: 1 });
          return;
        }
      }
    });
    child.on("exit", () => {
      clearTimeout(kill);
      if (!done) reject(new Ec2Error("BootFailed", `${command} ended without showing '${marker}'; last lines: ${lines.tail(3).join(" / ")}`, "benchmark.bench"));
    });
  });
}

function machineFacts(loadBefore: number[]): BenchResults["machine"] {
  const version = (pkg: string) => {
    try {
      return (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      return "unknown";
    }
  };
  // dist/src/benchmark/ when built, src/benchmark/ under the test runner.
  const pkg = ["../../../package.json", "../../package.json"].map((p) => new URL(p, import.meta.url)).find((u) => fs.existsSync(u) && JSON.parse(fs.readFileSync(u, "utf8")).name === "amiboot");
  const own = pkg ? (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }) : { version: "unknown" };
  return {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    totalMemoryMiB: Math.round(os.totalmem() / 1048576),
    node: process.version,
    v86: version("v86"),
    amiboot: own.version,
    os: `${os.type()} ${os.release()}`,
    loadBefore,
    loadAfter: os.loadavg(),
  };
}
