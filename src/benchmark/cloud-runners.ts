import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Cloud } from "../cloud/cloud.js";
import { GUEST_SHUTDOWN } from "../cloud/instance-lifecycle.js";
import { WARM_TAG, type InstanceGoal } from "../cloud/instances.js";
import { Ec2Error } from "../errors.js";
import { createBundle } from "../volumes/bundle.js";
import type { BenchCase, BenchSample } from "./results.js";
import { endMilestone, launchLabels, type Runner } from "./runner.js";
import type { SuiteOptions } from "./suite-options.js";

const OP = "benchmark.bench";
const REGION = "us-east-1";

/**
 * RunInstances of an image registered from `file` (EBS: a snapshot; instance
 * store: a bundle) in this process's control plane, timed by the instances'
 * events to the marker (or, without one, to the guest powering off). With
 * concurrency c, c instances launch at once and the sample is the wall time
 * until all got there. Every instance is terminated before the next sample.
 */
export async function launchRunner(cloud: Cloud, o: SuiteOptions, file: string, mode: "hvm" | "pv", root: string, warm: boolean, concurrency: number, id: string): Promise<Runner> {
  const imageId = await registerBenchImage(cloud, file, mode, root, `bench-${Buffer.from(id).toString("hex").slice(0, 100)}`);
  const sizeMiB = Math.round(fs.statSync(file).size / 1048576);
  const c: BenchCase = { id, label: `${path.basename(file)}: ${launchLabels(mode, root, warm, concurrency)}`, engine: "amiboot", params: { image: path.basename(file), mode, root, warm, concurrency, sizeMiB }, samples: [] };
  return { case: c, imageId, measure: () => launchOnce(cloud, o, c, imageId, root, warm, concurrency) };
}

/** An image of `file` in the bench's region: EBS (a snapshot of it) or instance store (a bundle of it), available. */
export async function registerBenchImage(cloud: Cloud, file: string, mode: "hvm" | "pv", root: string, name: string): Promise<string> {
  const owner = cloud.accounts.defaultAccount().accountId;
  const virtualizationType = mode === "hvm" ? "hvm" : "paravirtual";
  if (root === "ebs") {
    const snap = cloud.snapshots.importDisk(owner, REGION, file).snapshotId;
    return cloud.images.register(owner, REGION, { name, architecture: "i386", virtualizationType, rootDeviceName: "/dev/sda1", blockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }).imageId;
  }
  const prefix = `b${createHash("sha256").update(name).digest("hex").slice(0, 32)}`;
  createBundle(file, { bucket: path.join(cloud.home, "buckets", "bench"), prefix });
  const imageId = cloud.images.register(owner, REGION, { name, architecture: "i386", virtualizationType, imageLocation: `bench/${prefix}.manifest.xml`, blockDeviceMappings: [] }).imageId;
  await cloud.images.verified(imageId);
  return imageId;
}

async function launchOnce(cloud: Cloud, o: SuiteOptions, c: BenchCase, imageId: string, root: string, warm: boolean, concurrency: number): Promise<BenchSample> {
  const owner = cloud.accounts.defaultAccount().accountId;
  // When each milestone arrived (ms since RunInstances), per instance: the clock of the sample.
  const arrivals = new Map<string, Map<string, number>>();
  const t0 = performance.now();
  const off = cloud.instances.on("milestone", (e) => {
    const mine = arrivals.get(e.instanceId) ?? new Map<string, number>();
    arrivals.set(e.instanceId, mine);
    if (!mine.has(e.milestone.name)) mine.set(e.milestone.name, performance.now() - t0);
  });
  const ids = cloud.instances.run(owner, REGION, { imageId, instanceType: o.instanceType, minCount: concurrency, maxCount: concurrency, blockDeviceMappings: [], tags: warm ? [{ key: WARM_TAG, value: "true" }] : [] }).instances.map((i) => i.instanceId);
  try {
    // Without a marker the boot ends when the guest powers off: stopped (EBS) or terminated (instance store).
    const goal: InstanceGoal = o.marker ? "status-ok" : root === "ebs" ? "stopped" : "terminated";
    const reached = await Promise.all(ids.map((iid) => reachedAt(cloud, o, c, iid, goal, t0, arrivals)));
    const slowest = reached.reduce((a, b) => (b.ms > a.ms ? b : a));
    // The slowest instance's milestones, from its VM's start (what comes before is queueing and starting the VM).
    const ms = cloud.instances.get(owner, REGION, slowest.instanceId, "bench").milestones;
    const end = o.marker ? ms.find((m) => m.name === "until")?.atMs ?? Infinity : Infinity;
    const milestones = Object.fromEntries(ms.filter((m) => m.atMs <= end).map((m) => [m.name, Math.round(m.atMs)]));
    return { totalMs: Math.round(slowest.ms), milestones, boots: ids.length };
  } finally {
    off();
    cloud.instances.terminate(owner, REGION, ids);
    await Promise.all(ids.map((iid) => cloud.instances.waitFor(iid, "terminated", { timeoutMs: 60_000 })));
    // A warm launch leaves a machine being prepared for the next one: ready before the next case runs, so its restore takes no core from it.
    if (warm) await cloud.instances.standbysReady();
  }
}

/** Waits for one instance of a sample; its time is when the marker (or the power-off) arrived. Errors name the case. */
async function reachedAt(cloud: Cloud, o: SuiteOptions, c: BenchCase, iid: string, goal: InstanceGoal, t0: number, arrivals: Map<string, Map<string, number>>): Promise<{ instanceId: string; ms: number }> {
  const timeoutMs = Math.max(1, o.timeoutSeconds * 1000 - (performance.now() - t0));
  let instance;
  try {
    instance = await cloud.instances.waitFor(iid, goal, { timeoutMs });
  } catch (err) {
    if (!(err instanceof Ec2Error)) throw err;
    const what = o.marker ? "ended before its marker" : "ended before the guest powered off";
    throw new Ec2Error(err.code, err.code === "InstanceFailed" ? `${c.label}: ${what}: ${err.message}` : `${c.label}: ${err.message}`, OP);
  }
  const seen = arrivals.get(iid) ?? new Map<string, number>();
  if (o.marker) return { instanceId: iid, ms: seen.get("until") ?? performance.now() - t0 };
  if (instance.stateReason?.code !== GUEST_SHUTDOWN.code) {
    throw new Ec2Error("InstanceFailed", `${c.label}: ended before the guest powered off: ${iid} is ${instance.state}: ${instance.stateReason?.message ?? "no reason given"}`, OP);
  }
  const last = endMilestone([...seen].map(([name, atMs]) => ({ name, atMs })));
  return { instanceId: iid, ms: last?.atMs ?? performance.now() - t0 };
}
