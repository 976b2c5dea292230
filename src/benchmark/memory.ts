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
 * RSS with 1, 2, … instances of the first case's image running (each idle
 * after its marker), and the slope: what one more running instance costs.
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
      points.push({ running: k, rssMiB: Math.round(process.memoryUsage().rss / 1048576) });
      o.log(`bench: memory: ${k} running, RSS ${points.at(-1)!.rssMiB} MiB`);
    }
  } finally {
    cloud.instances.terminate(owner, region, ids);
    await Promise.all(ids.map((id) => cloud.instances.waitFor(id, "terminated", { timeoutMs: 60_000 })));
  }
  return { label: first.case.label, guestMiB: memoryOf(o.instanceType, "bench"), points, perExtraInstanceMiB: Math.round(slope(points)) };
}

/** The least-squares slope of RSS over running instances. */
function slope(points: MemoryResult["points"]): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.running, 0) / n;
  const my = points.reduce((a, p) => a + p.rssMiB, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.running - mx) ** 2, 0);
  return sxx > 0 ? points.reduce((a, p) => a + (p.running - mx) * (p.rssMiB - my), 0) / sxx : Number.NaN;
}
