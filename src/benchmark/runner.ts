import type { BenchCase, BenchSample } from "./results.js";

/** One thing to measure: `measure` returns one sample. */
export interface Runner {
  case: BenchCase;
  measure(): Promise<BenchSample>;
  /** The image launched (in-process amiboot cases). */
  imageId?: string;
}

/** "HVM, EBS, cold, 2 at once": how a launch case is named in the reports. */
export function launchLabels(mode: string, root: string, warm: boolean, concurrency: number): string {
  return [mode.toUpperCase(), root === "ebs" ? "EBS" : "instance store", warm ? "warm" : "cold", ...(concurrency > 1 ? [`${concurrency} at once`] : [])].join(", ");
}

/** The milestone that ends a boot timed without a marker: the guest powering off or halting, else the last one seen. */
export function endMilestone(milestones: { name: string; atMs: number }[]): { name: string; atMs: number } | undefined {
  return milestones.find((m) => m.name === "poweroff" || m.name === "halted") ?? milestones.at(-1);
}
