/**
 * The HTML report of a boot-time benchmark run: one standalone page (inline
 * CSS and SVG, no external assets) with the tables and charts.
 */
import type { BenchResults } from "./results.js";

import { bootsOf, isConcurrencyCase, throughput } from "./stats.js";
import { allMilestones, caseFacts, comparisonFacts, comparisonSentence, memoryLine, milestoneTitle, optionsText, perMinute, percent, seconds, times } from "./report-text.js";
import { comparisonChart, concurrencyChart, concurrencyGroups, e, milestonesChart } from "./report-svg.js";

/** A table; `groupStarts` marks the rows that begin a group (a case's first sample) with a rule above. */
function htmlTable(head: string[], rows: string[][], right: boolean[], className = "", groupStarts?: Set<number>): string {
  const cls = (i: number) => (right[i] ? ' class="num"' : "");
  const rowOpen = (k: number) => (groupStarts?.has(k) && k > 0 ? '<tr class="group">' : "<tr>");
  return [
    `<div class="scroll"><table${className ? ` class="${className}"` : ""}><thead><tr>`,
    head.map((h, i) => `<th${cls(i)}>${e(h)}</th>`).join(""),
    "</tr></thead><tbody>",
    rows.map((r, k) => `${rowOpen(k)}${r.map((cell, i) => `<td${cls(i)}>${e(cell)}</td>`).join("")}</tr>`).join(""),
    "</tbody></table></div>",
  ].join("");
}

const CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
div.scroll { overflow-x: auto; }
span.case { font-weight: 600; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 4px; }
p.sub, p.note { color: #555; margin: 4px 0 12px; font-size: 13px; }
p.ratio { font-size: 15px; margin: 4px 0 8px; }
p.ratio strong { font-size: 17px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 12px 0; font-size: 14px; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e6e6e6; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.samples td, table.samples th { padding: 2px 8px; font-size: 12px; }
tr.group td { border-top: 2px solid #bbb; }
svg { display: block; margin: 8px 0 4px; max-width: 100%; height: auto; }
`;

/**
 * The HTML report: the machine and options; the case table; per comparison
 * a chart and its ratio; the median milestones of every case as stacked
 * bars; a scaling chart when cases differ only by concurrency; every sample.
 */
export function htmlReport(results: BenchResults, options: { title?: string } = {}): string {
  const title = options.title ?? "amiboot boot-time benchmark";
  const facts = caseFacts(results);
  const comparisons = comparisonFacts(results);
  const milestones = allMilestones(results);
  const m = results.machine;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  const body: string[] = [];
  body.push(`<h1>${e(title)}</h1>`);
  body.push(`<p class="sub">${e(`${results.startedAt} to ${results.finishedAt}`)}</p>`);
  const machine: [string, string][] = [
    ["CPU", `${m.cpuModel} (${m.cores} cores)`],
    ["memory", `${(m.totalMemoryMiB / 1024).toFixed(1)} GiB`],
    ["OS", m.os],
    ["software", `Node ${m.node}, v86 ${m.v86}, amiboot ${m.amiboot}${m.qemu ? `, ${m.qemu}` : ""}`],
    ["load average", `${load(m.loadBefore)} before, ${load(m.loadAfter)} after (1, 5, 15 min)`],
    ["options", optionsText(results.options)],
  ];
  body.push(`<dl class="facts">${machine.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join("")}</dl>`);

  // Cases.
  body.push("<h2>Cases</h2>");
  const withThroughput = facts.some((f) => f.throughput);
  const head = ["case", "engine", "n", "median (s)", "CI of median (s)", "level", "min … max (s)", ...milestones.map(milestoneTitle)];
  if (withThroughput) head.push("boots/min");
  const rows = facts.map(({ c, summary: s, throughput: t }) => {
    const row = [
      c.label,
      c.engine,
      String(s.n),
      seconds(s.medianMs),
      s.n >= 2 ? `${seconds(s.ci.lo)} – ${seconds(s.ci.hi)}` : "-",
      s.n >= 2 ? percent(s.ci.level) : "-",
      s.n ? `${seconds(s.minMs)} … ${seconds(s.maxMs)}` : "-",
      ...milestones.map((name) => seconds(s.milestonesMedianMs[name] ?? Number.NaN)),
    ];
    if (withThroughput) row.push(t ? `${perMinute(t.perMinute)} (×${t.boots})` : "");
    return row;
  });
  body.push(htmlTable(head, rows, head.map((_, i) => i >= 2)));
  body.push(
    `<p class="note">Medians with a distribution-free interval of the median (order statistics of the binomial distribution; the level is the coverage it reaches: 95% or more from 6 runs on). Milestone columns: median seconds since the VM started.</p>`,
  );
  if (results.memory) body.push(`<h2>Memory</h2><p>${e(memoryLine(results.memory))}</p>`);
  const failed = results.cases.filter((c) => c.error);
  if (failed.length) body.push(`<p class="note"><b>Failed</b> (left out after the failure): ${failed.map((c) => `${e(c.label)}: ${e(c.error!)}`).join("; ")}</p>`);

  // Comparisons.
  if (comparisons.length) {
    body.push("<h2>Comparisons</h2>");
    body.push(`<p class="note">Ratios of times, computed per pair of runs (run i of each case; runs are interleaved so that drift hits both alike), then their median and its interval; above 1x the other case is slower.</p>`);
    for (const f of comparisons) {
      body.push(`<h3>${e(f.title)}</h3>`);
      if (f.baseline && f.other && f.ratio && f.ratio.n > 0) {
        const r = f.ratio;
        const ci = r.n >= 2 ? ` [${r.ci.lo.toFixed(2)}–${r.ci.hi.toFixed(2)}] (${percent(r.ci.level)}, ${r.n} pairs)` : ` (${r.n} pair)`;
        body.push(`<p class="ratio"><span class="case">${e(f.other.label)}</span> is <strong>${e(times(r.median))}</strong> <span class="case">${e(f.baseline.label)}</span>${e(ci)}</p>`);
        body.push(comparisonChart(f));
      } else {
        body.push(`<p class="ratio">${e(comparisonSentence(f))}</p>`);
      }
    }
  }

  // Milestones.
  body.push("<h2>Where the boot time goes</h2>");
  body.push(`<p class="note">Median of each milestone per case, from the VM's start; the grey rest runs to the median total time (process start, waiting for the batch).</p>`);
  body.push(milestonesChart(facts));

  // Concurrency.
  const groups = concurrencyGroups(results.cases);
  if (groups.length) {
    body.push("<h2>Concurrency</h2>");
    body.push(`<p class="note">Boots per minute: boots in a batch divided by the batch's wall time until every boot reached user space.</p>`);
    body.push(concurrencyChart(groups));
  }

  // Samples.
  body.push("<h2>Every sample</h2>");
  const anyBoots = results.cases.some(isConcurrencyCase);
  const anyRss = results.cases.some((c) => c.samples.some((s) => s.rssMiB !== undefined));
  const sHead = ["case", "run", "total (s)", ...milestones.map(milestoneTitle)];
  if (anyBoots) sHead.push("boots", "boots/min");
  if (anyRss) sHead.push("RSS (MiB)");
  const sRows = results.cases.flatMap((c) =>
    c.samples.map((s, i) => {
      const row = [c.label, String(i + 1), seconds(s.totalMs), ...milestones.map((name) => seconds(s.milestones[name] ?? Number.NaN))];
      if (anyBoots) {
        const boots = bootsOf(s, c);
        row.push(isConcurrencyCase(c) ? String(boots) : "", isConcurrencyCase(c) ? perMinute((boots / s.totalMs) * 60_000) : "");
      }
      if (anyRss) row.push(s.rssMiB === undefined ? "" : s.rssMiB.toFixed(0));
      return row;
    }),
  );
  const starts = new Set<number>();
  results.cases.reduce((at, c) => (starts.add(at), at + c.samples.length), 0);
  body.push(htmlTable(sHead, sRows, sHead.map((_, i) => i >= 1), "samples", starts));

  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(title)}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<main>",
    ...body,
    "</main>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

