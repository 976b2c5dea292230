/**
 * Statistics of boot-time samples: medians and distribution-free confidence
 * intervals of the median.
 *
 * Method. Boot times are not normal (a long right tail: a page-cache miss, a
 * busy neighbour), so the suite reports medians, not means, and an interval
 * that assumes nothing about the distribution: the order-statistic interval
 * of the median. Sort the n samples x(1) <= ... <= x(n). Each sample falls
 * below the true median with probability 1/2, so the number B of samples
 * below it is Binomial(n, 1/2), and
 *
 *   P(x(j) <= median <= x(n+1-j)) = 1 - 2 P(B <= j-1)
 *
 * The interval is [x(j), x(n+1-j)] with the largest j whose coverage is at
 * least 95% (for n = 10: x(2)..x(9), 97.9%; n = 20: x(6)..x(15), 95.9%).
 * The coverage reached is reported with the interval: it is exact for
 * continuous data and a lower bound with ties. Below 6 samples no interval
 * reaches 95%: the widest, [min, max], covers the median with probability
 * 1 - 2^(1-n) (n = 5: 93.75%, n = 2: 50%, n = 1: 0), and that is what is
 * reported.
 *
 * Ratios between two cases are computed per pair of runs (run i of each; the
 * suite interleaves runs so that drift hits both alike), and the median and
 * interval above are then taken over the ratios.
 */
import type { BenchCase, BenchSample, Interval, Summary } from "./results.js";
export type { Interval, Summary } from "./results.js";
import { MILESTONE_ORDER } from "./results.js";

/** The confidence level the intervals aim for. */
export const TARGET_LEVEL = 0.95;

export interface RatioSummary {
  /** Pairs used (runs present and positive in both cases). */
  n: number;
  /** other[i] / baseline[i], in run order. */
  ratios: number[];
  median: number;
  ci: Interval;
}

export interface Throughput {
  /** Boots per sample (the concurrency). */
  boots: number;
  n: number;
  /** Median of the samples' boots per minute. */
  perMinute: number;
  ci: Interval;
}

/** Ascending copy. */
export function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

export function min(xs: readonly number[]): number {
  return xs.length ? Math.min(...xs) : Number.NaN;
}

export function max(xs: readonly number[]): number {
  return xs.length ? Math.max(...xs) : Number.NaN;
}

/** The middle value; for an even count the mean of the two middle values. NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The nearest-rank q-quantile (0 < q <= 1): the smallest sample with at least q of the samples at or below it. NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  return sorted(xs)[Math.min(xs.length, Math.max(1, Math.ceil(q * xs.length))) - 1]!;
}

/** P(B <= k) for B ~ Binomial(n, 1/2), summed in log space so that large n does not underflow. */
export function binomialHalfCdf(n: number, k: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let logChoose = 0; // log C(n, 0)
  let sum = 0;
  const logHalfN = n * Math.log(0.5);
  for (let i = 0; i <= k; i++) {
    if (i > 0) logChoose += Math.log(n - i + 1) - Math.log(i);
    sum += Math.exp(logChoose + logHalfN);
  }
  return Math.min(1, sum);
}

/**
 * The 1-based ranks [j, n+1-j] of the order statistics that bound the median
 * with coverage at least `target`, and the coverage reached. Below 6 samples
 * (at 95%) that is [1, n] with less coverage.
 */
export function medianRanks(n: number, target = TARGET_LEVEL): { lo: number; hi: number; level: number } {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`medianRanks: n must be a positive integer, got ${n}`);
  const coverage = (j: number) => 1 - 2 * binomialHalfCdf(n, j - 1);
  let j = 1;
  while (j + 1 <= (n + 1) / 2 && coverage(j + 1) >= target) j++;
  return { lo: j, hi: n + 1 - j, level: Math.max(0, coverage(j)) };
}

/** The distribution-free interval of the median (see the method above). NaN bounds and level 0 when empty. */
export function medianInterval(xs: readonly number[], target = TARGET_LEVEL): Interval {
  if (xs.length === 0) return { lo: Number.NaN, hi: Number.NaN, level: 0 };
  const s = sorted(xs);
  const r = medianRanks(s.length, target);
  return { lo: s[r.lo - 1]!, hi: s[r.hi - 1]!, level: r.level };
}

/** n, min, median, max and the median's interval of a case's total times, and each milestone's median. */
export function summarize(samples: readonly BenchSample[]): Summary {
  const totals = samples.map((s) => s.totalMs);
  return {
    n: totals.length,
    minMs: min(totals),
    medianMs: median(totals),
    maxMs: max(totals),
    ci: medianInterval(totals),
    milestonesMedianMs: milestoneMedians(samples),
  };
}

/** Milestone -> median over the samples that have it; in boot order, then any others by name. */
export function milestoneMedians(samples: readonly BenchSample[]): Record<string, number> {
  const values = new Map<string, number[]>();
  for (const s of samples) {
    for (const [name, ms] of Object.entries(s.milestones)) {
      if (!Number.isFinite(ms)) continue;
      const list = values.get(name) ?? [];
      list.push(ms);
      values.set(name, list);
    }
  }
  const out: Record<string, number> = {};
  for (const name of milestoneNames([...values.keys()])) out[name] = median(values.get(name)!);
  return out;
}

/** Milestone names in boot order (bios, loader, kernel, init, until), then any others by name. */
export function milestoneNames(names: Iterable<string>): string[] {
  const set = new Set(names);
  const known: string[] = MILESTONE_ORDER.filter((m) => set.has(m));
  const others = [...set].filter((m) => !(MILESTONE_ORDER as readonly string[]).includes(m)).sort();
  return [...known, ...others];
}

/**
 * other[i] / baseline[i] for every run i present in both (the shorter list
 * decides), skipping pairs that are not positive finite numbers; then the
 * median ratio and its interval.
 */
export function pairedRatio(baseline: readonly number[], other: readonly number[]): RatioSummary {
  const ratios: number[] = [];
  const n = Math.min(baseline.length, other.length);
  for (let i = 0; i < n; i++) {
    const b = baseline[i]!;
    const o = other[i]!;
    if (b > 0 && o > 0 && Number.isFinite(b) && Number.isFinite(o)) ratios.push(o / b);
  }
  return { n: ratios.length, ratios, median: median(ratios), ci: medianInterval(ratios) };
}

/** Boots in one sample: its own count, else the case's concurrency, else 1. */
export function bootsOf(sample: BenchSample, c: Pick<BenchCase, "params">): number {
  if (sample.boots !== undefined) return sample.boots;
  const concurrency = c.params.concurrency;
  return typeof concurrency === "number" && concurrency > 0 ? concurrency : 1;
}

/** Whether a case measures concurrent boots (it has a concurrency or its samples count boots). */
export function isConcurrencyCase(c: Pick<BenchCase, "params" | "samples">): boolean {
  return c.params.concurrency !== undefined || c.samples.some((s) => s.boots !== undefined);
}

/** Boots per minute of one sample. */
export function bootsPerMinute(boots: number, totalMs: number): number {
  return totalMs > 0 ? (boots / totalMs) * 60_000 : Number.NaN;
}

/** A concurrency case's throughput: median boots per minute over its samples, with its interval; undefined for other cases. */
export function throughput(c: BenchCase): Throughput | undefined {
  if (!isConcurrencyCase(c)) return undefined;
  const rates = c.samples.map((s) => bootsPerMinute(bootsOf(s, c), s.totalMs)).filter(Number.isFinite);
  const boots = c.samples.length ? median(c.samples.map((s) => bootsOf(s, c))) : bootsOf({ totalMs: 0, milestones: {} }, c);
  return { boots, n: rates.length, perMinute: median(rates), ci: medianInterval(rates) };
}

/** Whether two intervals share a point (closed intervals); false when either is empty. */
export function overlaps(a: Pick<Interval, "lo" | "hi">, b: Pick<Interval, "lo" | "hi">): boolean {
  if ([a.lo, a.hi, b.lo, b.hi].some(Number.isNaN)) return false;
  return a.lo <= b.hi && b.lo <= a.hi;
}
