import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { checkDiskFile } from "../boot/disk-file.js";
import { pvGrub } from "../boot/pv-grub.js";
import { Cloud } from "../cloud/cloud.js";
import { Ec2Error } from "../errors.js";
import { RawFileDevice } from "../volumes/raw-file.js";
import { launchRunner } from "./cloud-runners.js";
import { amiRunners } from "./endpoint-runners.js";
import { measureMemory } from "./memory.js";
import { amibootProcessRunners, packageRoot, qemuRunner, qemuVersion } from "./process-runners.js";
import type { BenchResults } from "./results.js";
import { summarize } from "./stats.js";
import type { Runner } from "./runner.js";
import { amibootWorkflowRunners, qemuWorkflowRunners, WORKFLOW_FIGURES, workflowCaseId, workflowKey } from "./workflow-runners.js";
import { suiteOptions, type SuiteOptions } from "./suite-options.js";

export { DEFAULT_SUITE_OPTIONS, SSH_SUITE_DEFAULTS, type SuiteOptions } from "./suite-options.js";
export { measureProcess } from "./process-runners.js";

const require = createRequire(import.meta.url);

/**
 * The boot-time suite: every case through amiboot's control plane in this
 * process (RunInstances to the user-space marker, as a user launches), AMIs
 * through an endpoint, and as processes timed from spawn `amiboot boot` and
 * QEMU TCG, the peer. Runs are interleaved (run 1 of every case, then run
 * 2, ...) so that drift on the machine hits all cases alike, and ratios are
 * taken per pair of runs.
 */
export async function runSuite(input: Partial<SuiteOptions> & { images: string[] }): Promise<BenchResults> {
  const o = suiteOptions(input);
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
      // Without a marker the cloud keeps its own (it needs one); the cases then wait for the guest's power-off.
      cloud = new Cloud(home, { instances: { bootSlots: slots, maxInstances: Math.max(32, slots), standbyMachines: o.standbyMachines, ...(o.marker ? { marker: o.marker } : {}) } });
      clouds.set(slots, cloud);
    }
    return cloud;
  };
  try {
    const runners: Runner[] = [];
    const comparisons: BenchResults["comparisons"] = [];
    for (const file of o.images) {
      const name = path.basename(file);
      if (o.ssh) {
        const why = hvmProblem(file);
        if (why) {
          o.log(`bench: ${name}: no workflow cases (they boot HVM: ${why})`);
          continue;
        }
        const cloud = cloudFor(1);
        const key = workflowKey(cloud);
        runners.push(...(await amibootWorkflowRunners(cloud, o, file, key, `${name}/hvm/workflow`)));
        const q = o.vsQemu ? qemuWorkflowRunners(o, file, key, `${name}/hvm/qemu-workflow`) : undefined;
        if (q) {
          runners.push(...q);
          for (const f of WORKFLOW_FIGURES) comparisons.push({ title: `${name} ${f.label}: amiboot vs QEMU TCG`, baseline: workflowCaseId(`${name}/hvm/qemu-workflow`, f.id), other: workflowCaseId(`${name}/hvm/workflow`, f.id) });
        }
        continue;
      }
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
        const processes = o.process ? amibootProcessRunners(o, file, mode, `${name}/${mode}/process`) : [];
        runners.push(...processes);
        const q = o.vsQemu ? qemuRunner(o, file, mode, `${name}/${mode}/qemu`) : undefined;
        if (q) {
          runners.push(q);
          comparisons.push({ title: `${name} ${mode.toUpperCase()}: amiboot vs QEMU TCG`, baseline: q.case.id, other: id(o.roots[0]!, false, 1) });
          // Both timed from process spawn: the like-for-like pair.
          for (const p of processes) comparisons.push({ title: `${name} ${mode.toUpperCase()}: ${p.case.label.split(", ").slice(1).join(", ")} vs QEMU TCG`, baseline: q.case.id, other: p.case.id });
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
    const memory = o.memory > 0 ? await measureMemory(cloudFor(1), o, runners.find((r) => r.imageId)) : undefined;
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
      machine: machineFacts(loadBefore, o.vsQemu),
      options: { runs: o.runs, warmup: o.warmup, modes: o.modes, roots: o.roots, warm: o.warm, standbyMachines: o.standbyMachines, concurrency: o.concurrency, vsQemu: o.vsQemu, process: o.process, ssh: o.ssh, marker: o.marker, instanceType: o.instanceType, timeoutSeconds: o.timeoutSeconds, images: o.images, amis: o.amis.ids },
      cases: runners.map((r) => ({ ...r.case, summary: summarize(r.case.samples) })),
      comparisons: comparisons.filter((c) => runners.some((r) => r.case.id === c.baseline) && runners.some((r) => r.case.id === c.other)),
      ...(memory ? { memory } : {}),
    };
  } finally {
    for (const cloud of clouds.values()) await cloud.shutdown();
    for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
  }
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

function machineFacts(loadBefore: number[], withQemu: boolean): BenchResults["machine"] {
  const version = (pkg: string) => {
    try {
      return (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      return "unknown";
    }
  };
  const own = JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string };
  const qemu = withQemu ? qemuVersion() : undefined;
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
    ...(qemu ? { qemu } : {}),
  };
}
