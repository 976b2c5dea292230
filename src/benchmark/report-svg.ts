/**
 * The charts of the HTML report, as inline SVG: where boot time goes per
 * case, comparisons with their intervals, concurrency scaling. Every text
 * from the results is escaped.
 */
import type { BenchCase } from "./results.js";
import { summarize, throughput, type Summary, type Throughput } from "./stats.js";
import { type CaseFacts, type ComparisonFacts, perMinute, percent, seconds, times } from "./report-text.js";

// ---------------------------------------------------------------- HTML

/** Text for HTML and SVG: & < > " ' escaped, control characters replaced by U+FFFD. */
export function escapeHtml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, "\ufffd")
    .replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}
export const e = escapeHtml;

/** A number for an SVG attribute: finite, 1 decimal. */
const n1 = (x: number) => (Number.isFinite(x) ? (Math.round(x * 10) / 10).toString() : "0");

/** Round tick positions from 0 to at least `maxValue`, about `count` of them. */
export function niceTicks(maxValue: number, count = 6): number[] {
  if (!(maxValue > 0) || !Number.isFinite(maxValue)) return [0, 1];
  const raw = maxValue / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let i = 0; i * step < maxValue + step * 0.999; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

/** Okabe-Ito colours: distinguishable with the common colour-vision deficiencies. */
const SEGMENT_COLOURS: Record<string, string> = {
  bios: "#CC79A7",
  loader: "#E69F00",
  kernel: "#56B4E9",
  init: "#009E73",
  until: "#0072B2",
};
const SERIES_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const REST_COLOUR = "#C8C8C8";

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"';
const CHART_WIDTH = 1000;

/** A label cut to `chars` characters with an ellipsis; the full text goes into a <title>. */
function svgLabel(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`;
}

/** Width of the label column for these labels (12 px text). */
function labelColumn(labels: string[]): { width: number; chars: number } {
  const longest = Math.max(8, ...labels.map((l) => l.length));
  const width = Math.min(360, Math.max(120, Math.ceil(longest * CHAR_WIDTH) + 16));
  return { width, chars: Math.floor((width - 16) / CHAR_WIDTH) };
}

/** A generous average width of a 12 px sans-serif character (DejaVu Sans, Chromium's fallback on Debian, is wide). */
const CHAR_WIDTH = 7.4;

/** A horizontal seconds axis at y with grid lines up to `top`. */
function secondsAxis(x0: number, x1: number, top: number, y: number, ticks: number[], scale: (ms: number) => number, title = "seconds"): string {
  const parts: string[] = [];
  for (const t of ticks) {
    const x = scale(t);
    parts.push(`<line x1="${n1(x)}" y1="${n1(top)}" x2="${n1(x)}" y2="${n1(y)}" stroke="#e3e3e3"/>`);
    parts.push(`<line x1="${n1(x)}" y1="${n1(y)}" x2="${n1(x)}" y2="${n1(y + 4)}" stroke="#555"/>`);
    parts.push(`<text x="${n1(x)}" y="${n1(y + 16)}" text-anchor="middle" font-size="11" fill="#333">${e(axisNumber(t / 1000))}</text>`);
  }
  parts.push(`<line x1="${n1(x0)}" y1="${n1(y)}" x2="${n1(x1)}" y2="${n1(y)}" stroke="#555"/>`);
  parts.push(`<text x="${n1((x0 + x1) / 2)}" y="${n1(y + 32)}" text-anchor="middle" font-size="11" fill="#555">${e(title)}</text>`);
  return parts.join("");
}

function axisNumber(x: number): string {
  return Number(x.toPrecision(6)).toString();
}

/** The segments of one case's bar: from the VM's start through each milestone's median, then the rest of the median total. */
export function milestoneSegments(summary: Summary): { name: string; fromMs: number; toMs: number }[] {
  const segments: { name: string; fromMs: number; toMs: number }[] = [];
  let at = 0;
  for (const [name, ms] of Object.entries(summary.milestonesMedianMs)) {
    if (!(name in SEGMENT_COLOURS)) continue;
    const to = Math.max(at, ms);
    segments.push({ name, fromMs: at, toMs: to });
    at = to;
  }
  if (summary.n && summary.medianMs > at) segments.push({ name: "rest", fromMs: at, toMs: summary.medianMs });
  return segments;
}

const SEGMENT_LEGEND: [string, string][] = [
  ["bios", "start → bios"],
  ["loader", "bios → loader"],
  ["kernel", "loader → kernel"],
  ["init", "kernel → init"],
  ["until", "init → user space"],
  ["rest", "rest of the total time"],
];

export function legend(items: { colour: string; text: string; dashed?: boolean }[], x: number, y: number, maxWidth: number): { svg: string; height: number } {
  const parts: string[] = [];
  let cx = x;
  let cy = y;
  for (const item of items) {
    const w = 22 + item.text.length * 6.8 + 18;
    if (cx + w > x + maxWidth && cx > x) {
      cx = x;
      cy += 20;
    }
    parts.push(
      item.dashed
        ? `<line x1="${n1(cx)}" y1="${n1(cy + 6)}" x2="${n1(cx + 16)}" y2="${n1(cy + 6)}" stroke="${item.colour}" stroke-width="2" stroke-dasharray="4 3"/>`
        : `<rect x="${n1(cx)}" y="${n1(cy)}" width="14" height="12" rx="2" fill="${item.colour}"/>`,
    );
    parts.push(`<text x="${n1(cx + 20)}" y="${n1(cy + 10)}" font-size="12" fill="#222">${e(item.text)}</text>`);
    cx += w;
  }
  return { svg: parts.join(""), height: cy - y + 20 };
}

function svgOpen(height: number, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${CHART_WIDTH} ${n1(height)}" width="100%" role="img" aria-label="${e(title)}" ${FONT}><title>${e(title)}</title>`;
}

/** One horizontal stacked bar per case: where its boot time goes, milestone by milestone. */
export function milestonesChart(facts: CaseFacts[]): string {
  const shown = facts.filter((f) => f.summary.n > 0);
  if (!shown.length) return "<p>No samples.</p>";
  const labels = labelColumn(shown.map((f) => f.c.label));
  const x0 = labels.width;
  const x1 = CHART_WIDTH - 70;
  const used = new Set(shown.flatMap((f) => milestoneSegments(f.summary).map((s) => s.name)));
  const lg = legend(
    SEGMENT_LEGEND.filter(([name]) => used.has(name)).map(([name, text]) => ({ colour: SEGMENT_COLOURS[name] ?? REST_COLOUR, text })),
    x0,
    10,
    x1 - x0,
  );
  const top = 10 + lg.height + 8;
  const barH = 20;
  const gap = 10;
  const bottom = top + shown.length * (barH + gap);
  const maxMs = Math.max(...shown.map((f) => Math.max(f.summary.medianMs, ...Object.values(f.summary.milestonesMedianMs))));
  const ticks = niceTicks(maxMs);
  const scale = (ms: number) => x0 + (ms / ticks[ticks.length - 1]!) * (x1 - x0);
  const parts = [svgOpen(bottom + 44, "Where the boot time goes: median milestones per case"), lg.svg];
  parts.push(secondsAxis(x0, x1, top - 4, bottom, ticks, scale, "seconds since the VM started (medians)"));
  shown.forEach((f, i) => {
    const y = top + i * (barH + gap) + gap / 2;
    parts.push(
      `<text x="${n1(x0 - 8)}" y="${n1(y + barH / 2 + 4)}" text-anchor="end" font-size="12" fill="#222"><title>${e(f.c.label)}</title>${e(svgLabel(f.c.label, labels.chars))}</text>`,
    );
    for (const s of milestoneSegments(f.summary)) {
      const w = scale(s.toMs) - scale(s.fromMs);
      if (w <= 0) continue;
      const title = `${f.c.label}: ${SEGMENT_LEGEND.find(([n]) => n === s.name)?.[1] ?? s.name}, ${seconds(s.fromMs)}–${seconds(s.toMs)} s`;
      parts.push(
        `<rect x="${n1(scale(s.fromMs))}" y="${n1(y)}" width="${n1(w)}" height="${barH}" fill="${SEGMENT_COLOURS[s.name] ?? REST_COLOUR}" stroke="#fff" stroke-width="0.5"><title>${e(title)}</title></rect>`,
      );
    }
    parts.push(`<text x="${n1(scale(f.summary.medianMs) + 6)}" y="${n1(y + barH / 2 + 4)}" font-size="11" fill="#333">${e(seconds(f.summary.medianMs))} s</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

/** A comparison: both cases' medians as bars with their intervals and every run as a dot, then the per-pair ratios. */
export function comparisonChart(f: ComparisonFacts): string {
  if (!f.baseline || !f.other || !f.ratio || f.ratio.n === 0) return "";
  const rows = [
    { c: f.baseline, colour: "#0072B2", role: "baseline" },
    { c: f.other, colour: "#D55E00", role: "other" },
  ];
  const labels = labelColumn([...rows.map((r) => r.c.label), "ratio per pair of runs"]);
  const x0 = labels.width;
  const x1 = CHART_WIDTH - 70;
  const top = 12;
  const barH = 22;
  const gap = 14;
  const summaries = rows.map((r) => summarize(r.c.samples));
  const maxMs = Math.max(...summaries.map((s) => s.maxMs));
  const ticks = niceTicks(maxMs);
  const scale = (ms: number) => x0 + (ms / ticks[ticks.length - 1]!) * (x1 - x0);
  const timeBottom = top + rows.length * (barH + gap);
  // The ratio strip below the times.
  const rTop = timeBottom + 66;
  const rH = 26;
  const rAxis = rTop + rH + 6;
  const ratios = f.ratio.ratios;
  const rLo = Math.min(1, ...ratios);
  const rHi = Math.max(1, ...ratios);
  const pad = (rHi - rLo) * 0.08 || 0.05;
  const rMin = Math.max(0, rLo - pad);
  const rMax = rHi + pad;
  const rScale = (r: number) => x0 + ((r - rMin) / (rMax - rMin)) * (x1 - x0);
  const height = rAxis + 40;
  const parts = [svgOpen(height, f.title)];
  parts.push(secondsAxis(x0, x1, top - 4, timeBottom, ticks, scale, "seconds to user space (bar: median, whisker: its interval, dots: runs)"));
  rows.forEach((r, i) => {
    const s = summaries[i]!;
    const y = top + i * (barH + gap) + gap / 2;
    parts.push(
      `<text x="${n1(x0 - 8)}" y="${n1(y + barH / 2 + 4)}" text-anchor="end" font-size="12" fill="#222"><title>${e(`${r.role}: ${r.c.label}`)}</title>${e(svgLabel(r.c.label, labels.chars))}</text>`,
    );
    parts.push(`<rect x="${n1(x0)}" y="${n1(y)}" width="${n1(scale(s.medianMs) - x0)}" height="${barH}" fill="${r.colour}" fill-opacity="0.35"><title>${e(`median ${seconds(s.medianMs)} s`)}</title></rect>`);
    if (s.n >= 2) {
      const cy = y + barH / 2;
      parts.push(`<line x1="${n1(scale(s.ci.lo))}" y1="${n1(cy)}" x2="${n1(scale(s.ci.hi))}" y2="${n1(cy)}" stroke="#222" stroke-width="1.5"/>`);
      for (const v of [s.ci.lo, s.ci.hi]) parts.push(`<line x1="${n1(scale(v))}" y1="${n1(cy - 6)}" x2="${n1(scale(v))}" y2="${n1(cy + 6)}" stroke="#222" stroke-width="1.5"/>`);
    }
    r.c.samples.forEach((sample, k) => {
      const jitter = ((k % 5) - 2) * 2.5;
      parts.push(`<circle cx="${n1(scale(sample.totalMs))}" cy="${n1(y + barH / 2 + jitter)}" r="3" fill="${r.colour}" fill-opacity="0.85"><title>${e(`run ${k + 1}: ${seconds(sample.totalMs)} s`)}</title></circle>`);
    });
    parts.push(`<text x="${n1(Math.max(scale(s.maxMs), scale(s.medianMs)) + 8)}" y="${n1(y + barH / 2 + 4)}" font-size="11" fill="#333">${e(seconds(s.medianMs))} s</text>`);
  });
  // Ratios.
  parts.push(`<text x="${n1(x0 - 8)}" y="${n1(rTop + rH / 2 + 4)}" text-anchor="end" font-size="12" fill="#222">ratio per pair of runs</text>`);
  parts.push(`<rect x="${n1(x0)}" y="${n1(rTop)}" width="${n1(x1 - x0)}" height="${rH}" fill="#f6f6f6"/>`);
  if (f.ratio.n >= 2) {
    parts.push(`<rect x="${n1(rScale(f.ratio.ci.lo))}" y="${n1(rTop)}" width="${n1(Math.max(1, rScale(f.ratio.ci.hi) - rScale(f.ratio.ci.lo)))}" height="${rH}" fill="#D55E00" fill-opacity="0.18"><title>${e(`interval of the median ratio ${f.ratio.ci.lo.toFixed(3)}–${f.ratio.ci.hi.toFixed(3)} (${percent(f.ratio.ci.level)})`)}</title></rect>`);
  }
  parts.push(`<line x1="${n1(rScale(1))}" y1="${n1(rTop - 4)}" x2="${n1(rScale(1))}" y2="${n1(rTop + rH + 4)}" stroke="#555" stroke-dasharray="3 3"/>`);
  parts.push(`<line x1="${n1(rScale(f.ratio.median))}" y1="${n1(rTop)}" x2="${n1(rScale(f.ratio.median))}" y2="${n1(rTop + rH)}" stroke="#D55E00" stroke-width="2.5"/>`);
  ratios.forEach((r, k) => {
    parts.push(`<circle cx="${n1(rScale(r))}" cy="${n1(rTop + rH / 2 + ((k % 5) - 2) * 2)}" r="2.5" fill="#333"><title>${e(`run ${k + 1}: ${r.toFixed(3)}`)}</title></circle>`);
  });
  const rTicks = ratioTicks(rMin, rMax);
  for (const t of rTicks) {
    parts.push(`<line x1="${n1(rScale(t))}" y1="${n1(rAxis)}" x2="${n1(rScale(t))}" y2="${n1(rAxis + 4)}" stroke="#555"/>`);
    parts.push(`<text x="${n1(rScale(t))}" y="${n1(rAxis + 16)}" text-anchor="middle" font-size="11" fill="#333">${e(axisNumber(t))}x</text>`);
  }
  parts.push(`<line x1="${n1(x0)}" y1="${n1(rAxis)}" x2="${n1(x1)}" y2="${n1(rAxis)}" stroke="#555"/>`);
  parts.push(`<text x="${n1(x1)}" y="${n1(rTop - 8)}" text-anchor="end" font-size="11" fill="#555">${e(`${f.other.label} / ${f.baseline.label}; dashed: 1x, line: median, band: its interval`)}</text>`);
  parts.push("</svg>");
  return parts.join("");
}

function ratioTicks(lo: number, hi: number): number[] {
  const span = hi - lo;
  const raw = span / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((x) => x * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(Number(t.toPrecision(10)));
  return out;
}

/** Cases that differ only by params.concurrency, grouped; only groups with two concurrencies or more. */
export function concurrencyGroups(cases: BenchCase[]): { name: string; cases: BenchCase[] }[] {
  const groups = new Map<string, { name: string; cases: BenchCase[] }>();
  for (const c of cases) {
    if (typeof c.params.concurrency !== "number") continue;
    const rest = Object.entries(c.params)
      .filter(([k]) => k !== "concurrency")
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([c.engine, rest]);
    const name = [c.engine, ...rest.map(([k, v]) => `${k}=${v}`)].join(" · ");
    const g = groups.get(key) ?? { name, cases: [] };
    g.cases.push(c);
    groups.set(key, g);
  }
  return [...groups.values()]
    .map((g) => ({ name: g.name, cases: [...g.cases].sort((a, b) => Number(a.params.concurrency) - Number(b.params.concurrency)) }))
    .filter((g) => new Set(g.cases.map((c) => c.params.concurrency)).size >= 2);
}

/** Boots per minute against concurrency, one line per group, with the ideal linear scaling from its smallest concurrency dashed. */
export function concurrencyChart(groups: { name: string; cases: BenchCase[] }[]): string {
  const series = groups.map((g, i) => ({
    name: g.name,
    colour: SERIES_COLOURS[i % SERIES_COLOURS.length]!,
    points: g.cases
      .map((c) => ({ c, concurrency: Number(c.params.concurrency), t: throughput(c)! }))
      .filter((p) => p.t && p.t.n > 0),
  }));
  const points = series.flatMap((s) => s.points);
  if (!points.length) return "";
  const x0 = 80;
  const x1 = CHART_WIDTH - 40;
  const lg = legend(
    [...series.map((s) => ({ colour: s.colour, text: s.name })), { colour: "#777", text: "linear scaling from the smallest concurrency", dashed: true }],
    x0,
    10,
    x1 - x0,
  );
  const top = 10 + lg.height + 14;
  const bottom = top + 300;
  const maxC = Math.max(...points.map((p) => p.concurrency));
  const maxY = Math.max(...points.map((p) => (p.t.n >= 2 ? p.t.ci.hi : p.t.perMinute)));
  const linear = (s: (typeof series)[number], c: number) => (s.points[0] ? (s.points[0].t.perMinute / s.points[0].concurrency) * c : 0);
  const yTicks = niceTicks(maxY * 1.1, 5);
  const yMax = yTicks[yTicks.length - 1]!;
  const xs = (c: number) => x0 + (c / maxC) * (x1 - x0 - 20);
  const ys = (v: number) => bottom - (Math.min(v, yMax) / yMax) * (bottom - top);
  const parts = [svgOpen(bottom + 50, "Throughput against concurrency"), lg.svg];
  for (const t of yTicks) {
    parts.push(`<line x1="${n1(x0)}" y1="${n1(ys(t))}" x2="${n1(x1)}" y2="${n1(ys(t))}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${n1(x0 - 8)}" y="${n1(ys(t) + 4)}" text-anchor="end" font-size="11" fill="#333">${e(axisNumber(t))}</text>`);
  }
  parts.push(`<text x="${n1(x0 - 52)}" y="${n1((top + bottom) / 2)}" text-anchor="middle" font-size="11" fill="#555" transform="rotate(-90 ${n1(x0 - 52)} ${n1((top + bottom) / 2)})">boots per minute (median, whisker: interval)</text>`);
  const cs = [...new Set(points.map((p) => p.concurrency))].sort((a, b) => a - b);
  for (const c of [0, ...cs]) {
    parts.push(`<line x1="${n1(xs(c))}" y1="${n1(bottom)}" x2="${n1(xs(c))}" y2="${n1(bottom + 4)}" stroke="#555"/>`);
    parts.push(`<text x="${n1(xs(c))}" y="${n1(bottom + 16)}" text-anchor="middle" font-size="11" fill="#333">${c}</text>`);
  }
  parts.push(`<line x1="${n1(x0)}" y1="${n1(bottom)}" x2="${n1(x1)}" y2="${n1(bottom)}" stroke="#555"/>`);
  parts.push(`<line x1="${n1(x0)}" y1="${n1(top)}" x2="${n1(x0)}" y2="${n1(bottom)}" stroke="#555"/>`);
  parts.push(`<text x="${n1((x0 + x1) / 2)}" y="${n1(bottom + 34)}" text-anchor="middle" font-size="11" fill="#555">concurrent boots</text>`);
  // Clip lines that rise above the chart (the linear reference can).
  parts.push(`<clipPath id="plot"><rect x="${x0}" y="${n1(top)}" width="${n1(x1 - x0)}" height="${n1(bottom - top)}"/></clipPath>`);
  for (const s of series) {
    if (!s.points.length) continue;
    const first = s.points[0]!;
    parts.push(`<line x1="${n1(xs(first.concurrency))}" y1="${n1(ys(first.t.perMinute))}" x2="${n1(xs(maxC))}" y2="${n1(bottom - (linear(s, maxC) / yMax) * (bottom - top))}" stroke="${s.colour}" stroke-width="1.5" stroke-dasharray="5 4" stroke-opacity="0.6" clip-path="url(#plot)"/>`);
    parts.push(`<polyline points="${s.points.map((p) => `${n1(xs(p.concurrency))},${n1(ys(p.t.perMinute))}`).join(" ")}" fill="none" stroke="${s.colour}" stroke-width="2.5"/>`);
    for (const p of s.points) {
      const x = xs(p.concurrency);
      if (p.t.n >= 2) {
        parts.push(`<line x1="${n1(x)}" y1="${n1(ys(p.t.ci.lo))}" x2="${n1(x)}" y2="${n1(ys(p.t.ci.hi))}" stroke="${s.colour}" stroke-width="1.5"/>`);
        for (const v of [p.t.ci.lo, p.t.ci.hi]) parts.push(`<line x1="${n1(x - 5)}" y1="${n1(ys(v))}" x2="${n1(x + 5)}" y2="${n1(ys(v))}" stroke="${s.colour}" stroke-width="1.5"/>`);
      }
      parts.push(`<circle cx="${n1(x)}" cy="${n1(ys(p.t.perMinute))}" r="4.5" fill="${s.colour}"><title>${e(`${p.c.label}: ${perMinute(p.t.perMinute)} boots/min at ${p.concurrency}`)}</title></circle>`);
      parts.push(`<text x="${n1(x + 8)}" y="${n1(ys(p.t.perMinute) - 8)}" font-size="11" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">${e(perMinute(p.t.perMinute))}</text>`);
    }
  }
  parts.push("</svg>");
  return parts.join("");
}

