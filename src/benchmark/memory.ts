import { setTimeout as sleep } from "node:timers/promises";
import type { Cloud } from "../cloud/cloud.js";
import { memoryOf } from "../cloud/instance-types.js";
import { Ec2Error } from "../errors.js";
import type { MemoryResult } from "./results.js";
import type { Runner } from "./runner.js";
import type { SuiteOptions } from "./suite-options.js";

/** After the last instance shows its marker, RSS is read this much later: the boot's transient allocations settle. */
const SETTLE_MS = 2000;
/** The process's CPU time is read over this window, with every instance idle at its shell. */
const IDLE_WINDOW_MS = 5000;

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
      const rssMiB = Math.round(process.memoryUsage().rss / 1048576);
      const idleCpuPercent = await cpuPercent(IDLE_WINDOW_MS);
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

/** This process's CPU time (every thread: the VMs' workers too) over a window, in percent of one core. */
async function cpuPercent(windowMs: number): Promise<number> {
  const before = process.cpuUsage();
  const t0 = performance.now();
  await sleep(windowMs);
  const used = process.cpuUsage(before);
  return Math.round((1000 * (used.user + used.system)) / 1000 / (performance.now() - t0)) / 10;
}

/** The least-squares slope of a figure over running instances. */
function slope(points: MemoryResult["points"], y: (p: MemoryResult["points"][number]) => number): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.running, 0) / n;
  const my = points.reduce((a, p) => a + y(p), 0) / n;
  const sxx = points.reduce((a, p) => a + (p.running - mx) ** 2, 0);
  return sxx > 0 ? points.reduce((a, p) => a + (p.running - mx) * (y(p) - my), 0) / sxx : Number.NaN;
}
