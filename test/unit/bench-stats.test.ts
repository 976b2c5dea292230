import { describe, expect, it } from "vitest";
import type { BenchCase, BenchSample } from "../../src/benchmark/results.js";
import {
  binomialHalfCdf,
  bootsPerMinute,
  max,
  median,
  medianInterval,
  medianRanks,
  milestoneMedians,
  min,
  overlaps,
  pairedRatio,
  quantile,
  summarize,
  throughput,
} from "../../src/benchmark/stats.js";

const sample = (totalMs: number, milestones: Record<string, number> = {}, extra: Partial<BenchSample> = {}): BenchSample => ({ totalMs, milestones, ...extra });

describe("median, min, max", () => {
  it("takes the middle value, or the mean of the two middle values for an even count", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([5, 5, 5, 1])).toBe(5);
    expect(median([10, 30])).toBe(20);
  });

  it("quantile is the nearest rank: the smallest sample with at least q of them at or below it", () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile(xs, 1)).toBe(100);
    expect(quantile([7, 3], 0.01)).toBe(3);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("is NaN for no samples, as are min and max", () => {
    expect(median([])).toBeNaN();
    expect(min([])).toBeNaN();
    expect(max([])).toBeNaN();
    expect([min([4, 2, 9]), max([4, 2, 9])]).toEqual([2, 9]);
  });

  it("does not reorder its input", () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe("the order-statistic interval of the median", () => {
  it("sums the binomial(n, 1/2) distribution exactly for small n and without underflow for large n", () => {
    expect(binomialHalfCdf(10, 1)).toBeCloseTo(11 / 1024, 15);
    expect(binomialHalfCdf(20, 5)).toBeCloseTo(21_700 / 1_048_576, 15);
    expect(binomialHalfCdf(5, -1)).toBe(0);
    expect(binomialHalfCdf(5, 5)).toBe(1);
    const big = binomialHalfCdf(2000, 1000);
    expect(big).toBeGreaterThan(0.5);
    expect(big).toBeLessThan(0.52);
  });

  it("chooses the ranks of the textbook tables and reports the coverage reached", () => {
    expect(medianRanks(6)).toEqual({ lo: 1, hi: 6, level: 1 - 2 / 64 });
    expect(medianRanks(9)).toEqual({ lo: 2, hi: 8, level: 1 - (2 * 10) / 512 });
    expect(medianRanks(10)).toEqual({ lo: 2, hi: 9, level: 1 - (2 * 11) / 1024 });
    expect(medianRanks(20)).toMatchObject({ lo: 6, hi: 15 });
    expect(medianRanks(20).level).toBeCloseTo(1 - (2 * 21_700) / 1_048_576, 12);
    expect(medianRanks(100)).toMatchObject({ lo: 40, hi: 61 });
    for (const n of [6, 7, 10, 20, 33, 100, 1000]) expect(medianRanks(n).level).toBeGreaterThanOrEqual(0.95);
  });

  it("is [min, max] below 6 samples, with the lower coverage it reaches (n = 1: none)", () => {
    expect(medianRanks(1)).toEqual({ lo: 1, hi: 1, level: 0 });
    expect(medianRanks(2)).toEqual({ lo: 1, hi: 2, level: 0.5 });
    expect(medianRanks(3)).toEqual({ lo: 1, hi: 3, level: 0.75 });
    expect(medianRanks(5)).toEqual({ lo: 1, hi: 5, level: 0.9375 });
    expect(() => medianRanks(0)).toThrow(RangeError);
  });

  it("picks the order statistics of the samples, whatever their order", () => {
    expect(medianInterval([70, 10, 100, 40, 20, 90, 30, 60, 50, 80])).toEqual({ lo: 20, hi: 90, level: 1 - 22 / 1024 });
    expect(medianInterval([])).toEqual({ lo: Number.NaN, hi: Number.NaN, level: 0 });
  });

  it("collapses to a point when every sample ties", () => {
    expect(medianInterval([7, 7, 7, 7, 7, 7, 7])).toMatchObject({ lo: 7, hi: 7 });
  });
});

describe("summarize", () => {
  it("one sample: min, median and max are that sample; no interval to speak of", () => {
    const s = summarize([sample(7300, { kernel: 4300, until: 6800 })]);
    expect(s).toEqual({ n: 1, minMs: 7300, medianMs: 7300, maxMs: 7300, ci: { lo: 7300, hi: 7300, level: 0 }, milestonesMedianMs: { kernel: 4300, until: 6800 } });
  });

  it("two samples: the mean as median, [min, max] at 50%", () => {
    const s = summarize([sample(200), sample(100)]);
    expect(s).toMatchObject({ n: 2, minMs: 100, medianMs: 150, maxMs: 200, ci: { lo: 100, hi: 200, level: 0.5 } });
  });

  it("an even count of ten: the mean of the 5th and 6th, the interval from the 2nd to the 9th", () => {
    const totals = [7400, 7310, 7290, 7350, 7330, 7700, 7320, 7300, 7360, 7340];
    const s = summarize(totals.map((t) => sample(t)));
    expect(s).toMatchObject({ n: 10, minMs: 7290, medianMs: 7335, maxMs: 7700, ci: { lo: 7300, hi: 7400 } });
    expect(s.ci.level).toBeCloseTo(0.9785, 4);
  });

  it("takes each milestone's median over the samples that reached it, in boot order", () => {
    const m = milestoneMedians([
      sample(1, { until: 680, custom: 5, kernel: 430, bios: 40 }),
      sample(1, { until: 700, kernel: 450, bios: 42 }),
      sample(1, { until: 690, bios: 41, loader: 43 }),
    ]);
    expect(Object.keys(m)).toEqual(["bios", "loader", "kernel", "until", "custom"]);
    expect(m).toEqual({ bios: 41, loader: 43, kernel: 440, until: 690, custom: 5 });
  });

  it("no samples: n 0 and NaN, not an exception", () => {
    const s = summarize([]);
    expect(s.n).toBe(0);
    expect(s.medianMs).toBeNaN();
    expect(s.ci.level).toBe(0);
    expect(s.milestonesMedianMs).toEqual({});
  });
});

describe("pairedRatio", () => {
  it("divides run i by run i, so drift common to both cancels", () => {
    // Both cases slow down together over the run; the other one always takes twice as long.
    const baseline = [100, 110, 120, 130, 140, 150, 160, 170, 180, 190];
    const other = baseline.map((b) => 2 * b);
    const r = pairedRatio(baseline, other);
    expect(r).toMatchObject({ n: 10, median: 2, ci: { lo: 2, hi: 2 } });
    expect(r.ratios).toHaveLength(10);
  });

  it("gives the median ratio and the order-statistic interval of the ratios", () => {
    const baseline = [100, 100, 100, 100, 100, 100];
    const other = [150, 180, 170, 160, 190, 200];
    const r = pairedRatio(baseline, other);
    expect(r.ratios).toEqual([1.5, 1.8, 1.7, 1.6, 1.9, 2]);
    expect(r.median).toBeCloseTo(1.75, 12);
    expect(r.ci).toEqual({ lo: 1.5, hi: 2, level: 1 - 2 / 64 });
  });

  it("pairs only the runs both have and skips pairs that are not positive numbers", () => {
    const r = pairedRatio([100, 0, 100, Number.NaN, 100], [300, 200, 200]);
    expect(r.ratios).toEqual([3, 2]);
    expect(r).toMatchObject({ n: 2, median: 2.5, ci: { lo: 2, hi: 3, level: 0.5 } });
    expect(pairedRatio([], [1, 2]).n).toBe(0);
    expect(pairedRatio([], [1, 2]).median).toBeNaN();
  });
});

describe("throughput", () => {
  const batch = (concurrency: number | undefined, samples: BenchSample[]): BenchCase => ({
    id: `c${concurrency}`,
    label: `x${concurrency}`,
    engine: "amiboot",
    params: concurrency === undefined ? { mode: "hvm" } : { mode: "hvm", concurrency },
    samples,
  });

  it("is boots per minute of each batch, its median and interval", () => {
    const t = throughput(batch(4, [sample(16_000, {}, { boots: 4 }), sample(15_000, {}, { boots: 4 }), sample(20_000, {}, { boots: 4 })]));
    expect(t).toMatchObject({ boots: 4, n: 3, perMinute: 15, ci: { lo: 12, hi: 16, level: 0.75 } });
  });

  it("takes the boots from the case's concurrency when the samples do not count them", () => {
    expect(throughput(batch(2, [sample(12_000)]))).toMatchObject({ boots: 2, perMinute: 10 });
  });

  it("is undefined for a case that is not about concurrency", () => {
    expect(throughput(batch(undefined, [sample(7000)]))).toBeUndefined();
    expect(bootsPerMinute(1, 0)).toBeNaN();
  });
});

describe("overlaps", () => {
  it("treats intervals as closed and empty ones as overlapping nothing", () => {
    expect(overlaps({ lo: 1, hi: 2 }, { lo: 2, hi: 3 })).toBe(true);
    expect(overlaps({ lo: 1, hi: 2 }, { lo: 2.01, hi: 3 })).toBe(false);
    expect(overlaps({ lo: 5, hi: 6 }, { lo: 1, hi: 9 })).toBe(true);
    expect(overlaps({ lo: Number.NaN, hi: Number.NaN }, { lo: 1, hi: 9 })).toBe(false);
  });
});
