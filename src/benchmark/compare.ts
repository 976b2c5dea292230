/**
 * Regression comparison of two benchmark runs (an old results file and a new
 * one): for every case both ran, the two medians, their ratio and whether the
 * case moved beyond noise, meaning that the two intervals of the median do
 * not overlap. Intervals from fewer than 6 runs cover less than 95% (see
 * stats.ts), so the comparison names the lower level it reached.
 */
import type { BenchResults } from "./results.js";
import { overlaps, summarize, TARGET_LEVEL, type Interval } from "./stats.js";
import { textTable } from "../text-table.js";
import { percent, seconds, terminalText, times } from "./report-text.js";

export interface CaseChange {
  id: string;
  /** The new run's label (the old one's when it differs is in oldLabel). */
  label: string;
  oldLabel?: string;
  old: { n: number; medianMs: number; ci: Interval };
  new: { n: number; medianMs: number; ci: Interval };
  /** new median / old median. */
  ratio: number;
  /** The two intervals of the median do not overlap. */
  changed: boolean;
  /** "slower" or "faster" when changed, else "same". */
  verdict: "slower" | "faster" | "same";
}

export interface Comparison {
  cases: CaseChange[];
  /** Cases the old run had and the new one does not. */
  onlyOld: { id: string; label: string }[];
  /** Cases new in the new run. */
  onlyNew: { id: string; label: string }[];
  /** Machine facts that differ ("cpuModel: A -> B"): a comparison across machines or versions says less. */
  machineChanges: string[];
  /** The lowest coverage of any interval used (below 0.95 when a case had fewer than 6 runs). */
  minLevel: number;
}

const MACHINE_FACTS = ["cpuModel", "cores", "totalMemoryMiB", "os", "node", "v86", "amiboot"] as const;

/** Compares two runs case by case (by id, in the new run's order). */
export function compareResults(oldRun: BenchResults, newRun: BenchResults): Comparison {
  const oldById = new Map(oldRun.cases.map((c) => [c.id, c]));
  const newIds = new Set(newRun.cases.map((c) => c.id));
  const cases: CaseChange[] = [];
  let minLevel = 1;
  for (const c of newRun.cases) {
    const o = oldById.get(c.id);
    if (!o) continue;
    const a = summarize(o.samples);
    const b = summarize(c.samples);
    const comparable = a.n > 0 && b.n > 0;
    if (comparable) minLevel = Math.min(minLevel, a.ci.level, b.ci.level);
    const changed = comparable && !overlaps(a.ci, b.ci);
    const change: CaseChange = {
      id: c.id,
      label: c.label,
      old: { n: a.n, medianMs: a.medianMs, ci: a.ci },
      new: { n: b.n, medianMs: b.medianMs, ci: b.ci },
      ratio: comparable && a.medianMs > 0 ? b.medianMs / a.medianMs : Number.NaN,
      changed,
      verdict: !changed ? "same" : b.medianMs > a.medianMs ? "slower" : "faster",
    };
    if (o.label !== c.label) change.oldLabel = o.label;
    cases.push(change);
  }
  const machineChanges: string[] = [];
  for (const k of MACHINE_FACTS) {
    const a = oldRun.machine[k];
    const b = newRun.machine[k];
    if (a !== b) machineChanges.push(`${k}: ${a} -> ${b}`);
  }
  return {
    cases,
    onlyOld: oldRun.cases.filter((c) => !newIds.has(c.id)).map((c) => ({ id: c.id, label: c.label })),
    onlyNew: newRun.cases.filter((c) => !oldById.has(c.id)).map((c) => ({ id: c.id, label: c.label })),
    machineChanges,
    minLevel,
  };
}

/** The comparison for the terminal: a table of the common cases, then the cases in one run only and the machine's differences. */
export function compareText(cmp: Comparison): string {
  const out: string[] = [];
  if (cmp.cases.length) {
    const head = ["case", "old median", "new median", "new/old", "old CI", "new CI", "verdict"];
    const ci = (n: number, i: Interval) => (n < 2 ? "-" : `${seconds(i.lo)}–${seconds(i.hi)}`);
    const rows = cmp.cases.map((c) => [
      terminalText(c.label),
      `${seconds(c.old.medianMs)} s`,
      `${seconds(c.new.medianMs)} s`,
      times(c.ratio),
      ci(c.old.n, c.old.ci),
      ci(c.new.n, c.new.ci),
      c.changed ? c.verdict : "within noise",
    ]);
    out.push(textTable(head, rows, { right: head.map((_, i) => i > 0 && i < 6), rule: true }));
    const moved = cmp.cases.filter((c) => c.changed);
    const summary = moved.length
      ? `${moved.length} of ${cmp.cases.length} cases moved beyond noise: ${moved.filter((c) => c.verdict === "slower").length} slower, ${moved.filter((c) => c.verdict === "faster").length} faster.`
      : `No case moved beyond noise (${cmp.cases.length} compared).`;
    const level =
      cmp.minLevel < TARGET_LEVEL
        ? ` Some intervals come from fewer than 6 runs and cover the median with only ${percent(cmp.minLevel)}.`
        : "";
    out.push(`${summary} Beyond noise: the two intervals of the median do not overlap.${level}`);
  } else {
    out.push("No case is in both runs.");
  }
  const only = (c: { id: string; label: string }) => `  ${terminalText(c.label)} (${terminalText(c.id)})`;
  if (cmp.onlyOld.length) out.push(["Only in the old run:", ...cmp.onlyOld.map(only)].join("\n"));
  if (cmp.onlyNew.length) out.push(["Only in the new run:", ...cmp.onlyNew.map(only)].join("\n"));
  if (cmp.machineChanges.length) out.push(["The machine differs:", ...cmp.machineChanges.map((m) => `  ${terminalText(m)}`)].join("\n"));
  return `${out.join("\n\n")}\n`;
}
