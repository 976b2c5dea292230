/**
 * The text report of a boot-time benchmark run (the terminal's table), and
 * the facts and number formats the HTML report shares with it. Pure
 * functions of the results.
 */
import { textTable } from "../text-table.js";
import type { BenchCase, BenchResults, MemoryResult } from "./results.js";
import { MILESTONE_TITLES } from "./results.js";
import { milestoneNames, pairedRatio, summarize, throughput, type Interval, type RatioSummary, type Summary, type Throughput } from "./stats.js";

// ---------------------------------------------------------------- numbers

/** Seconds from ms: 3 decimals below 1 s, 2 below 100 s, else 1; "-" for NaN. */
export function seconds(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  const s = ms / 1000;
  return s.toFixed(s < 1 ? 3 : s < 100 ? 2 : 1);
}

/** A coverage level as a percentage: "95.9%", "50%". */
export function percent(level: number): string {
  const p = Math.round(level * 1000) / 10;
  return `${Number.isInteger(p) ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** A ratio: "1.79x". */
export function times(ratio: number): string {
  if (!Number.isFinite(ratio)) return "-";
  return `${ratio.toFixed(ratio < 10 ? 2 : 1)}x`;
}

export function perMinute(x: number): string {
  return Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "-";
}

/** "7.20–7.45 s (97.9%)", or "-" with fewer than 2 samples (no interval to speak of). */
function intervalSeconds(n: number, ci: Interval): string {
  return n < 2 ? "-" : `${seconds(ci.lo)}–${seconds(ci.hi)} s (${percent(ci.level)})`;
}

/** Text for the terminal: control characters (escape sequences, newlines in a file name) shown as U+FFFD. */
export function terminalText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\ufffd");
}

// ---------------------------------------------------------------- shared facts

export interface CaseFacts {
  c: BenchCase;
  summary: Summary;
  throughput: Throughput | undefined;
}

export interface ComparisonFacts {
  title: string;
  baseline: BenchCase | undefined;
  other: BenchCase | undefined;
  /** Undefined when a case is missing. */
  ratio: RatioSummary | undefined;
}

export function caseFacts(results: BenchResults): CaseFacts[] {
  return results.cases.map((c) => ({ c, summary: summarize(c.samples), throughput: throughput(c) }));
}

export function comparisonFacts(results: BenchResults): ComparisonFacts[] {
  const byId = new Map(results.cases.map((c) => [c.id, c]));
  return results.comparisons.map((cmp) => {
    const baseline = byId.get(cmp.baseline);
    const other = byId.get(cmp.other);
    const ratio = baseline && other ? pairedRatio(totals(baseline), totals(other)) : undefined;
    return { title: cmp.title, baseline, other, ratio };
  });
}

export const totals = (c: BenchCase) => c.samples.map((s) => s.totalMs);

/** The milestones any case reached, in boot order. */
export function allMilestones(results: BenchResults): string[] {
  return milestoneNames(results.cases.flatMap((c) => c.samples.flatMap((s) => Object.keys(s.milestones))));
}

export const milestoneTitle = (name: string) => MILESTONE_TITLES[name] ?? name;

/** "other is 1.79x baseline [1.70–1.85]" and the interval's level and pairs, or why there is no ratio. */
export function comparisonSentence(f: ComparisonFacts): string {
  if (!f.baseline || !f.other || !f.ratio) {
    const missing = [!f.baseline && "baseline", !f.other && "other"].filter(Boolean).join(" and ");
    return `${f.title}: no ratio, the ${missing} case is missing from the results`;
  }
  const r = f.ratio;
  if (r.n === 0) return `${f.title}: no ratio, no pair of runs in both cases`;
  const ci = r.n < 2 ? "" : ` [${r.ci.lo.toFixed(2)}–${r.ci.hi.toFixed(2)}] (${percent(r.ci.level)})`;
  return `${f.title}: ${f.other.label} is ${times(r.median)} ${f.baseline.label}${ci}, ${r.n} pair${r.n === 1 ? "" : "s"}`;
}

function machineLines(results: BenchResults): string[] {
  const m = results.machine;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  return [
    `machine: ${m.cpuModel}, ${m.cores} cores, ${(m.totalMemoryMiB / 1024).toFixed(1)} GiB, ${m.os}`,
    `software: Node ${m.node}, v86 ${m.v86}, amiboot ${m.amiboot}${m.qemu ? `, ${m.qemu}` : ""}`,
    `load average (1, 5, 15 min): ${load(m.loadBefore)} before, ${load(m.loadAfter)} after`,
    `run: ${results.startedAt} to ${results.finishedAt}; ${optionsText(results.options)}`,
  ];
}

export function optionsText(options: BenchResults["options"]): string {
  return Object.entries(options)
    .map(([k, v]) => `${k} ${typeof v === "string" && v !== "" ? v : JSON.stringify(v)}`)
    .join(", ");
}

// ---------------------------------------------------------------- terminal

/** RSS with 1..N instances running and the cost of one more. */
export function memoryLine(m: MemoryResult): string {
  return (
    `Memory (${m.label}, ${m.guestMiB} MiB guests): RSS ${m.points.map((p) => `${p.rssMiB} MiB with ${p.running}`).join(", ")} running; ${m.perExtraInstanceMiB} MiB per extra running instance. ` +
    `Idle CPU (each instance at its shell): ${m.points.map((p) => `${p.idleCpuPercent}% with ${p.running}`).join(", ")}; ${m.idleCpuPerInstancePercent}% of a core per idle instance.`
  );
}

/**
 * The terminal report: one row per case (n, median, the median's interval and
 * its level, min…max, each milestone's median, boots per minute for
 * concurrency cases), the comparisons as sentences, then the machine.
 */
export function terminalTable(results: BenchResults): string {
  const facts = caseFacts(results);
  const milestones = allMilestones(results);
  const withThroughput = facts.some((f) => f.throughput);
  const head = ["case", "n", "median", "CI of median", "min…max", ...milestones.map(milestoneTitle)];
  if (withThroughput) head.push("boots/min");
  const rows = facts.map(({ c, summary: s, throughput: t }) => {
    const row = [
      terminalText(c.label),
      String(s.n),
      s.n ? `${seconds(s.medianMs)} s` : "-",
      intervalSeconds(s.n, s.ci),
      s.n ? `${seconds(s.minMs)}…${seconds(s.maxMs)} s` : "-",
      ...milestones.map((m) => seconds(s.milestonesMedianMs[m] ?? Number.NaN)),
    ];
    if (withThroughput) row.push(t ? `${perMinute(t.perMinute)} (×${t.boots})` : "");
    return row;
  });
  const right = head.map((_, i) => i > 0);
  const out = [textTable(head, rows, { right, rule: true })];
  const notes = ["CI: distribution-free interval of the median (order statistics), with the coverage it reaches."];
  if (milestones.length) notes.push(`${milestones.map(milestoneTitle).join(", ")}: median seconds since the VM started.`);
  if (withThroughput) notes.push("boots/min: median throughput of the concurrent batch (×boots per batch).");
  out.push(notes.join("\n"));
  if (results.memory) out.push(terminalText(memoryLine(results.memory)));
  const failed = results.cases.filter((c) => c.error);
  if (failed.length) out.push(["Failed (left out after the failure):", ...failed.map((c) => `  ${terminalText(c.label)}: ${terminalText(c.error!)}`)].join("\n"));
  const comparisons = comparisonFacts(results);
  if (comparisons.length) out.push(["Comparisons (ratios of times per pair of runs; above 1x the other case is slower):", ...comparisons.map((f) => `  ${terminalText(comparisonSentence(f))}`)].join("\n"));
  out.push(machineLines(results).map(terminalText).join("\n"));
  return `${out.join("\n\n")}\n`;
}

