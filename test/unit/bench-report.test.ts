import { describe, expect, it } from "vitest";
import { htmlReport } from "../../src/benchmark/report-html.js";
import { concurrencyGroups, escapeHtml, milestoneSegments, niceTicks } from "../../src/benchmark/report-svg.js";
import { percent, seconds, terminalTable, terminalText } from "../../src/benchmark/report-text.js";
import type { BenchCase, BenchResults, BenchSample } from "../../src/benchmark/results.js";
import { summarize } from "../../src/benchmark/stats.js";

const EVIL = "<script>alert(1)</script> & \"it's\".img";

/** n samples of `totalMs` spread by +-(i*step) around it, with milestones at fixed fractions of the total. */
function samples(n: number, totalMs: number, step = 10, extra: Partial<BenchSample> = {}): BenchSample[] {
  return Array.from({ length: n }, (_, i) => {
    const t = totalMs + (i % 2 ? 1 : -1) * i * step;
    return { totalMs: t, milestones: { bios: 400, loader: 420, kernel: Math.round(t * 0.6), init: Math.round(t * 0.9), until: Math.round(t * 0.93) }, ...extra };
  });
}

const kase = (id: string, label: string, params: BenchCase["params"], s: BenchSample[], engine: BenchCase["engine"] = "amiboot"): BenchCase => ({ id, label, engine, params, samples: s });

function results(overrides: Partial<BenchResults> = {}): BenchResults {
  return {
    version: 1,
    startedAt: "2026-11-25T10:00:00.000Z",
    finishedAt: "2026-11-25T10:20:00.000Z",
    machine: {
      cpuModel: "Test CPU 3000",
      cores: 2,
      totalMemoryMiB: 24_576,
      node: "v20.20.2",
      v86: "0.5.462",
      amiboot: "0.1.0",
      os: "Linux 6.1 x64",
      loadBefore: [0.1, 0.2, 0.3],
      loadAfter: [1.5, 1.2, 0.9],
    },
    options: { runs: 10, warmup: 1, filter: "<all>" },
    cases: [
      kase("hvm/ebs/cold/c1", "HVM, EBS, cold", { mode: "hvm", root: "ebs", concurrency: 1 }, samples(10, 7352)),
      kase("hvm/ebs/cold/c2", "HVM, EBS, cold, 2 at once", { mode: "hvm", root: "ebs", concurrency: 2 }, samples(10, 8500, 10, { boots: 2 })),
      kase("qemu", "HVM, QEMU TCG", { mode: "hvm" }, samples(10, 3675), "qemu"),
      kase("evil", EVIL, { mode: "hvm", image: EVIL }, samples(3, 7000)),
    ],
    comparisons: [{ title: "amiboot against QEMU", baseline: "qemu", other: "hvm/ebs/cold/c1" }],
    ...overrides,
  };
}

/** Checks that every element opened is closed in order (void elements and self-closed SVG aside). */
function checkBalanced(html: string): void {
  const body = html.replace(/<style>[\s\S]*?<\/style>/g, "").replace(/<!DOCTYPE html>/i, "");
  const voids = new Set(["meta", "br", "hr", "img", "input", "link"]);
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    const tag = name!.toLowerCase();
    if (voids.has(tag) || selfClosing) continue;
    if (closing) expect(stack.pop(), `</${tag}> closes the wrong element`).toBe(tag);
    else stack.push(tag);
  }
  expect(stack).toEqual([]);
}

describe("number formats", () => {
  it("prints seconds with 3 decimals below 1 s and 2 below 100 s", () => {
    expect([seconds(140), seconds(7350), seconds(123_456), seconds(Number.NaN)]).toEqual(["0.140", "7.35", "123.5", "-"]);
    expect([percent(0.95), percent(0.978515625), percent(0.5)]).toEqual(["95%", "97.9%", "50%"]);
  });

  it("draws axes at round values that reach the maximum", () => {
    expect(niceTicks(7700)).toEqual([0, 2000, 4000, 6000, 8000]);
    expect(niceTicks(16_550)).toEqual([0, 5000, 10_000, 15_000, 20_000]);
    expect(niceTicks(0.9, 4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });
});

describe("terminalTable", () => {
  const text = terminalTable(results());

  it("has a row per case with n, median, its interval and level, min…max and the milestone medians", () => {
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^case +n +median +CI of median +min…max +bios +loader +kernel +init +user space +boots\/min$/);
    const row = lines.find((l) => l.startsWith("HVM, EBS, cold "))!;
    // Sorted totals 7272 7292 … 7352 7362 … 7422 7442: median 7357, interval x(2)..x(9) = 7292..7422.
    expect(row).toMatch(/ 10 +7\.36 s +7\.29–7\.42 s \(97\.9%\) +7\.27…7\.44 s +0\.400 +0\.420 +4\.41 +6\.62 +6\.84 +8\.16 \(×1\)$/);
    expect(lines.find((l) => l.startsWith("HVM, QEMU TCG"))).toMatch(/ 10 +3\.68 s /);
    expect(lines.find((l) => l.startsWith("HVM, EBS, cold, 2 at once"))).toMatch(/14\.1 \(×2\)$/);
  });

  it("says the ratio of each comparison with its interval", () => {
    expect(text).toContain("amiboot against QEMU: HVM, EBS, cold is 2.00x HVM, QEMU TCG [");
    expect(text).toMatch(/is 2\.00x HVM, QEMU TCG \[1\.9\d–2\.0\d\] \(97\.9%\), 10 pairs/);
  });

  it("ends with the machine facts", () => {
    expect(text).toContain("machine: Test CPU 3000, 2 cores, 24.0 GiB, Linux 6.1 x64");
    expect(text).toContain("software: Node v20.20.2, v86 0.5.462, amiboot 0.1.0");
    expect(text).toContain("load average (1, 5, 15 min): 0.10 0.20 0.30 before, 1.50 1.20 0.90 after");
    expect(text).toContain("runs 10, warmup 1, filter <all>");
  });

  it("names a comparison whose case is missing, and a case with few samples has its lower level", () => {
    const r = results({ comparisons: [{ title: "gone", baseline: "qemu", other: "nope" }] });
    const t = terminalTable(r);
    expect(t).toContain("gone: no ratio, the other case is missing from the results");
    expect(t).toMatch(/alert\(1\).* 3 +7\.00 s +6\.98–7\.01 s \(75%\)/);
  });

  it("keeps control characters in labels off the terminal", () => {
    expect(terminalText("a\u001b[2Jb\nc")).toBe("a\ufffd[2Jb\ufffdc");
    const r = results();
    r.cases[0]!.label = "bad\u001b[31m";
    expect(terminalTable(r)).not.toContain("\u001b");
  });

  it("leaves out the throughput column when no case is about concurrency", () => {
    const r = results({ cases: [kase("a", "A", { mode: "hvm" }, samples(6, 7000)), kase("b", "B", { mode: "pv" }, samples(1, 4000))], comparisons: [] });
    const t = terminalTable(r);
    expect(t).not.toContain("boots/min");
    expect(t).not.toContain("Comparisons");
    expect(t.split("\n").find((l) => l.startsWith("B "))).toMatch(/ 1 +4\.00 s +- +4\.00…4\.00 s/);
  });
});

describe("htmlReport", () => {
  const html = htmlReport(results());

  it("is one standalone page: no scripts, no external assets", () => {
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).not.toMatch(/url\((?!#)/);
    expect(html).not.toContain("NaN");
    checkBalanced(html);
    expect(() => checkBalanced("<div><span></div>")).toThrow();
  });

  it("escapes labels, parameters and options", () => {
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;it&#39;s&quot;.img");
    expect(html).not.toContain(EVIL);
    expect(html).toContain("filter &lt;all&gt;");
    expect(escapeHtml("a\u0000b<")).toBe("a\ufffdb&lt;");
  });

  it("has the machine, the cases, a chart per comparison, the milestones, the scaling chart and every sample", () => {
    expect(html).toContain("Test CPU 3000 (2 cores)");
    expect(html).toContain("<h2>Cases</h2>");
    expect(html).toContain("<h3>amiboot against QEMU</h3>");
    expect(html).toMatch(/<span class="case">HVM, EBS, cold<\/span> is <strong>2\.00x<\/strong> <span class="case">HVM, QEMU TCG<\/span>/);
    expect(html).toContain('aria-label="Where the boot time goes: median milestones per case"');
    for (const legend of ["start → bios", "bios → loader", "loader → kernel", "kernel → init", "init → user space"]) expect(html).toContain(legend);
    expect(html).toContain('aria-label="Throughput against concurrency"');
    expect(html).toContain("amiboot · mode=hvm · root=ebs");
    expect(html.match(/<svg /g)).toHaveLength(3);
    // Every sample: 10 + 10 + 10 + 3 rows.
    const samplesTable = html.slice(html.indexOf('<table class="samples">'));
    expect(samplesTable.match(/<tr[ >]/g)).toHaveLength(1 + 33);
  });

  it("draws no scaling chart when no cases differ only by concurrency, and survives empty and single-sample cases", () => {
    const r = results({
      cases: [kase("a", "A", { mode: "hvm", concurrency: 1 }, samples(1, 7000)), kase("b", "B", { mode: "pv", concurrency: 2 }, []), kase("c", "C", { mode: "hvm" }, [{ totalMs: 140, milestones: {} }])],
      comparisons: [
        { title: "B to A", baseline: "a", other: "b" },
        { title: "missing", baseline: "x", other: "a" },
      ],
    });
    const page = htmlReport(r, { title: "Nightly <run>" });
    expect(page).toContain("<title>Nightly &lt;run&gt;</title>");
    expect(page).not.toContain("Throughput against concurrency");
    expect(page).not.toContain("NaN");
    expect(page).toContain("B to A: no ratio, no pair of runs in both cases");
    expect(page).toContain("missing: no ratio, the baseline case is missing from the results");
    checkBalanced(page);
  });
});

describe("chart helpers", () => {
  it("groups cases that differ only by concurrency, ordered by it", () => {
    const cases = [
      kase("c4", "4", { mode: "hvm", concurrency: 4 }, []),
      kase("c1", "1", { mode: "hvm", concurrency: 1 }, []),
      kase("pv1", "pv", { mode: "pv", concurrency: 1 }, []),
      kase("q2", "q", { mode: "hvm", concurrency: 2 }, [], "qemu"),
    ];
    expect(concurrencyGroups(cases)).toEqual([{ name: "amiboot · mode=hvm", cases: [cases[1], cases[0]] }]);
  });

  it("makes milestone segments that never run backwards and end at the median total", () => {
    const s = summarize([{ totalMs: 8000, milestones: { bios: 400, loader: 300, kernel: 4000, until: 6800 } }]);
    expect(milestoneSegments(s)).toEqual([
      { name: "bios", fromMs: 0, toMs: 400 },
      { name: "loader", fromMs: 400, toMs: 400 },
      { name: "kernel", fromMs: 400, toMs: 4000 },
      { name: "until", fromMs: 4000, toMs: 6800 },
      { name: "rest", fromMs: 6800, toMs: 8000 },
    ]);
  });
});
