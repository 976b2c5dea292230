import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cloud } from "../cloud/cloud.js";
import { memoryOf } from "../cloud/instance-types.js";
import { Ec2Error } from "../errors.js";
import type { MemoryResult } from "./results.js";
import type { Runner } from "./runner.js";
import type { SuiteOptions } from "./suite-options.js";

/** After the last instance shows its marker, RSS is read this much later: the boot's transient allocations settle. */
const SETTLE_MS = 2000;
/**
 * Idle CPU is read over windows of this length once no thread of this
 * process keeps a core busy (BUSY_THREAD_PERCENT): a guest goes on working
 * after its marker (the sample images make SSH host keys and take a DHCP
 * lease), and idle means after that. At most IDLE_MAX_WINDOWS windows.
 */
const IDLE_WINDOW_MS = 2000;
const IDLE_MAX_WINDOWS = 30;
const BUSY_THREAD_PERCENT = 50;

/**
 * RSS and CPU use with 1, 2, … instances of the first case's image running
 * (each idle after its marker), and the slopes: what one more running
 * instance costs in memory and, idle, in CPU.
 */
export async function measureMemory(cloud: Cloud, o: SuiteOptions, first: Runner | undefined): Promise<MemoryResult | undefined> {
  if (!first?.imageId) return undefined;
  const owner = cloud.accounts.defaultAccount().accountId;
  const region = "us-east-1";
  const ids: string[] = [];
  const points: MemoryResult["points"] = [];
  try {
    for (let k = 1; k <= o.memory; k++) {
      const id = cloud.instances.run(owner, region, { imageId: first.imageId, instanceType: o.instanceType, minCount: 1, maxCount: 1, blockDeviceMappings: [], tags: [] }).instances[0]!.instanceId;
      ids.push(id);
      try {
        await cloud.instances.waitFor(id, "status-ok", { timeoutMs: o.timeoutSeconds * 1000 });
      } catch (err) {
        throw err instanceof Ec2Error ? new Ec2Error(err.code, `memory: ${err.message}`, "benchmark.bench") : err;
      }
      await sleep(SETTLE_MS);
      const idleCpuPercent = await settledCpuPercent();
      const rssMiB = Math.round(process.memoryUsage().rss / 1048576);
      points.push({ running: k, rssMiB, idleCpuPercent });
      o.log(`bench: memory: ${k} running, RSS ${rssMiB} MiB, idle CPU ${idleCpuPercent}% of a core`);
    }
  } finally {
    cloud.instances.terminate(owner, region, ids);
    await Promise.all(ids.map((id) => cloud.instances.waitFor(id, "terminated", { timeoutMs: 60_000 })));
  }
  return {
    label: first.case.label,
    guestMiB: memoryOf(o.instanceType, "bench"),
    points,
    perExtraInstanceMiB: Math.round(slope(points, (p) => p.rssMiB)),
    idleCpuPerInstancePercent: Math.round(10 * slope(points, (p) => p.idleCpuPercent)) / 10,
  };
}

/** This process's CPU use over a window in percent of one core, once no thread of it is busy (Linux: per thread from /proc; elsewhere the first window). */
async function settledCpuPercent(): Promise<number> {
  let cpu = 0;
  for (let i = 0; i < IDLE_MAX_WINDOWS; i++) {
    const before = threadTicks();
    const usage = process.cpuUsage();
    const t0 = performance.now();
    await sleep(IDLE_WINDOW_MS);
    const ms = performance.now() - t0;
    const used = process.cpuUsage(usage);
    cpu = Math.round((used.user + used.system) / ms) / 10;
    const after = threadTicks();
    if (!before || !after) return cpu;
    // Clock ticks are 10 ms on Linux: percent of a core = ticks * 10 ms / window.
    const busiest = Math.max(0, ...[...after].map(([tid, t]) => ((t - (before.get(tid) ?? t)) * 1000) / ms));
    if (busiest < BUSY_THREAD_PERCENT) return cpu;
  }
  return cpu;
}

/** CPU clock ticks (user + system) of each thread of this process, or undefined without /proc. */
function threadTicks(): Map<string, number> | undefined {
  try {
    const ticks = new Map<string, number>();
    for (const tid of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks.set(tid, Number(fields[11]) + Number(fields[12]));
    }
    return ticks;
  } catch {
    return undefined;
  }
}

/** The least-squares slope of a figure over running instances. */
function slope(points: MemoryResult["points"], y: (p: MemoryResult["points"][number]) => number): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.running, 0) / n;
  const my = points.reduce((a, p) => a + y(p), 0) / n;
  const sxx = points.reduce((a, p) => a + (p.running - mx) ** 2, 0);
  return sxx > 0 ? points.reduce((a, p) => a + (p.running - mx) * (y(p) - my), 0) / sxx : Number.NaN;
}
