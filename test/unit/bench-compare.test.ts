import { describe, expect, it } from "vitest";
import { compareResults, compareText } from "../../src/benchmark/compare.js";
import type { BenchCase, BenchResults } from "../../src/benchmark/results.js";

const MACHINE: BenchResults["machine"] = {
  cpuModel: "Test CPU 3000",
  cores: 2,
  totalMemoryMiB: 24_576,
  node: "v20.20.2",
  v86: "0.5.462",
  amiboot: "0.1.0",
  os: "Linux 6.1 x64",
  loadBefore: [0.1, 0.1, 0.1],
  loadAfter: [1, 1, 1],
};

const kase = (id: string, totals: number[], label = id): BenchCase => ({
  id,
  label,
  engine: "amiboot",
  params: {},
  samples: totals.map((totalMs) => ({ totalMs, milestones: {} })),
});

const run = (cases: BenchCase[], machine: Partial<BenchResults["machine"]> = {}): BenchResults => ({
  version: 1,
  startedAt: "2026-11-25T10:00:00.000Z",
  finishedAt: "2026-11-25T10:10:00.000Z",
  machine: { ...MACHINE, ...machine },
  options: { runs: 6, warmup: 1 },
  cases,
  comparisons: [],
});

/** Six runs around `at` ms: their interval of the median is [min, max] = [at - 50, at + 50]. */
const six = (at: number) => [at - 50, at - 10, at, at + 10, at + 20, at + 50];

describe("compareResults", () => {
  const old = run([kase("steady", six(7000)), kase("regressed", six(7000)), kase("improved", six(4000)), kase("gone", six(1000))]);
  const now = run([kase("improved", six(3000)), kase("steady", six(7080), "steady (renamed)"), kase("regressed", six(7200)), kase("added", six(500))]);
  const cmp = compareResults(old, now);

  it("compares the cases both runs have, in the new run's order, with both medians and their ratio", () => {
    expect(cmp.cases.map((c) => c.id)).toEqual(["improved", "steady", "regressed"]);
    const steady = cmp.cases[1]!;
    expect(steady.old).toEqual({ n: 6, medianMs: 7005, ci: { lo: 6950, hi: 7050, level: 1 - 2 / 64 } });
    expect(steady.new.medianMs).toBe(7085);
    expect(steady.ratio).toBeCloseTo(7085 / 7005, 12);
    expect(steady).toMatchObject({ label: "steady (renamed)", oldLabel: "steady" });
  });

  it("calls a change real only when the two intervals of the median do not overlap", () => {
    expect(cmp.cases.map((c) => [c.id, c.changed, c.verdict])).toEqual([
      ["improved", true, "faster"],
      ["steady", false, "same"],
      ["regressed", true, "slower"],
    ]);
    expect(cmp.minLevel).toBeCloseTo(1 - 2 / 64, 12);
  });

  it("lists the cases in only one run and what differs about the machine", () => {
    expect(cmp.onlyOld).toEqual([{ id: "gone", label: "gone" }]);
    expect(cmp.onlyNew).toEqual([{ id: "added", label: "added" }]);
    expect(cmp.machineChanges).toEqual([]);
    expect(compareResults(old, run([], { v86: "0.5.500", cores: 4 })).machineChanges).toEqual(["cores: 2 -> 4", "v86: 0.5.462 -> 0.5.500"]);
  });

  it("does not call a case changed when either run has no samples", () => {
    const c = compareResults(run([kase("a", [])]), run([kase("a", [1, 2, 3])])).cases[0]!;
    expect(c).toMatchObject({ changed: false, verdict: "same" });
    expect(c.ratio).toBeNaN();
  });
});

describe("compareText", () => {
  it("is a table of the common cases with a verdict, then the cases in one run only", () => {
    const text = compareText(
      compareResults(
        run([kase("steady", six(7000)), kase("regressed", six(7000)), kase("gone", six(1000))]),
        run([kase("steady", six(7080)), kase("regressed", six(7200)), kase("added", six(500))], { node: "v22.0.0" }),
      ),
    );
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^case +old median +new median +new\/old +old CI +new CI +verdict$/);
    expect(lines.find((l) => l.startsWith("steady"))).toMatch(/7\.00 s +7\.08 s +1\.01x +6\.95–7\.05 +7\.03–7\.13 +within noise$/);
    expect(lines.find((l) => l.startsWith("regressed"))).toMatch(/7\.00 s +7\.21 s +1\.03x +6\.95–7\.05 +7\.15–7\.25 +slower$/);
    expect(text).toContain("1 of 2 cases moved beyond noise: 1 slower, 0 faster.");
    expect(text).toContain("Only in the old run:\n  gone (gone)");
    expect(text).toContain("Only in the new run:\n  added (added)");
    expect(text).toContain("The machine differs:\n  node: v20.20.2 -> v22.0.0");
  });

  it("says when intervals from few runs cover the median with less than 95%", () => {
    const text = compareText(compareResults(run([kase("a", [100, 110, 120])]), run([kase("a", [100, 105, 125])])));
    expect(text).toContain("No case moved beyond noise (1 compared).");
    expect(text).toContain("cover the median with only 75%");
  });

  it("says so when no case is in both runs", () => {
    expect(compareText(compareResults(run([kase("a", [1])]), run([kase("b", [1])])))).toMatch(/^No case is in both runs\./);
  });
});
