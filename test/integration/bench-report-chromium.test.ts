import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { htmlReport } from "../../src/benchmark/report-html.js";
import type { BenchCase, BenchResults, BenchSample } from "../../src/benchmark/results.js";
import { rng } from "../fuzz/harness.js";
import { tempDir } from "../helpers.js";

/**
 * The HTML report of a realistic run, rendered by Debian's Chromium
 * (installed by .ci/run) headless into a PNG: the page must load without
 * external assets and draw its tables and charts, not a blank page. Set
 * AMIBOOT_KEEP_SCREENSHOT=FILE.png to keep the screenshot (and the page as
 * FILE.html) and look at them.
 */
const CHROMIUM = "/usr/bin/chromium";
const WIDTH = 1280;
const HEIGHT = 2000;

const dir = tempDir("amiboot-bench-report-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));


/** Samples around the given milestone times (s) with a right-skewed jitter, as boots have. */
function samples(random: () => number, runs: number, at: Record<string, number>, totalS: number, extra: Partial<BenchSample> = {}): BenchSample[] {
  return Array.from({ length: runs }, () => {
    const slow = 1 + 0.015 * (random() - 0.3) + (random() < 0.15 ? 0.06 * random() : 0);
    const milestones = Object.fromEntries(Object.entries(at).map(([k, v]) => [k, Math.round(v * 1000 * slow)]));
    return { totalMs: Math.round(totalS * 1000 * slow), milestones, rssMiB: 95 + Math.round(random() * 15), ...extra };
  });
}

/** A run like `amiboot bench` writes on this machine: HVM/PV, EBS/instance store, cold/warm, QEMU, concurrency. */
function fixture(): BenchResults {
  const random = rng(7);
  const runs = 10;
  const hvm = { bios: 0.4, loader: 0.42, kernel: 4.35, init: 6.62, until: 6.8 };
  const pv = { bios: 0.31, loader: 0.33, kernel: 1.95, init: 4.05, until: 4.22 };
  const qemu = { bios: 0.21, loader: 0.24, kernel: 2.05, init: 3.3, until: 3.42 };
  const c = (id: string, label: string, engine: BenchCase["engine"], params: BenchCase["params"], s: BenchSample[]): BenchCase => ({ id, label, engine, params, samples: s });
  const cases: BenchCase[] = [
    c("hvm-linux.img/hvm/ebs/cold/c1", "HVM, EBS, cold", "amiboot", { image: "hvm-linux.img", mode: "hvm", root: "ebs", warm: false, concurrency: 1 }, samples(random, runs, hvm, 7.31, { boots: 1 })),
    c("hvm-linux.img/hvm/ebs/cold/c2", "HVM, EBS, cold, 2 at once", "amiboot", { image: "hvm-linux.img", mode: "hvm", root: "ebs", warm: false, concurrency: 2 }, samples(random, runs, hvm, 8.45, { boots: 2 })),
    c("hvm-linux.img/hvm/ebs/cold/c4", "HVM, EBS, cold, 4 at once", "amiboot", { image: "hvm-linux.img", mode: "hvm", root: "ebs", warm: false, concurrency: 4 }, samples(random, runs, hvm, 15.9, { boots: 4 })),
    c("hvm-linux.img/hvm/store/cold/c1", "HVM, instance store, cold", "amiboot", { image: "hvm-linux.img", mode: "hvm", root: "instance-store", warm: false }, samples(random, runs, hvm, 7.52)),
    c("hvm-linux.img/hvm/ebs/warm/c1", "HVM, EBS, warm (restore)", "amiboot", { image: "hvm-linux.img", mode: "hvm", root: "ebs", warm: true }, samples(random, runs, { until: 0.12 }, 0.14)),
    c("pv-linux.img/pv/ebs/cold/c1", "PV, EBS, cold", "amiboot", { image: "pv-linux.img", mode: "pv", root: "ebs", warm: false }, samples(random, runs, pv, 4.61)),
    c("hvm-linux.img/qemu-tcg", "HVM, QEMU TCG", "qemu", { image: "hvm-linux.img", mode: "hvm" }, samples(random, runs, qemu, 3.71)),
    c("upload/<b>x</b>.img/hvm", "my <b>odd</b> & \"quoted\" image.img", "amiboot", { image: "<b>x</b>.img", mode: "hvm" }, samples(random, 4, hvm, 7.4)),
  ];
  return {
    version: 1,
    startedAt: "2026-11-25T10:00:00.000Z",
    finishedAt: "2026-11-25T10:41:12.000Z",
    machine: {
      cpuModel: "AMD EPYC 7B13",
      cores: 2,
      totalMemoryMiB: 24_032,
      node: "v20.20.2",
      v86: "0.5.462",
      amiboot: "0.1.0",
      os: "Linux 6.1.0-40-cloud-amd64 x64",
      loadBefore: [0.12, 0.3, 0.41],
      loadAfter: [1.93, 1.75, 1.12],
    },
    options: { runs, warmup: 1, images: ["hvm-linux.img", "pv-linux.img"], qemu: true },
    cases,
    comparisons: [
      { title: "amiboot against QEMU TCG (HVM, cold)", baseline: "hvm-linux.img/qemu-tcg", other: "hvm-linux.img/hvm/ebs/cold/c1" },
      { title: "PV against HVM (EBS, cold)", baseline: "hvm-linux.img/hvm/ebs/cold/c1", other: "pv-linux.img/pv/ebs/cold/c1" },
      { title: "Instance store against EBS (HVM, cold)", baseline: "hvm-linux.img/hvm/ebs/cold/c1", other: "hvm-linux.img/hvm/store/cold/c1" },
    ],
  };
}

interface Png {
  width: number;
  height: number;
  /** Row-major, `channels` bytes per pixel. */
  pixels: Buffer;
  channels: number;
}

/** Decodes a non-interlaced 8-bit grey, RGB or RGBA PNG (what Chromium writes): enough to look at the pixels. */
function decodePng(file: Buffer): Png {
  expect(file.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < file.length; ) {
    const length = file.readUInt32BE(at);
    const type = file.toString("latin1", at + 4, at + 8);
    const data = file.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colourType, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      expect({ depth, interlace }).toEqual({ depth: 8, interlace: 0 });
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colourType!] ?? 0;
      expect(channels, `PNG colour type ${colourType}`).toBeGreaterThan(0);
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[out + x - channels]! : 0;
      const b = y > 0 ? pixels[out - stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[out - stride + x - channels]! : 0;
      let v = line[x]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[out + x] = v & 0xff;
    }
  }
  return { width, height, pixels, channels };
}

/** Distinct colours and the share of pixels that are not white. */
function looks(png: Png): { colours: number; inked: number } {
  const colours = new Set<number>();
  let inked = 0;
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const [r, g, b] = png.channels >= 3 ? [png.pixels[i]!, png.pixels[i + 1]!, png.pixels[i + 2]!] : [png.pixels[i]!, png.pixels[i]!, png.pixels[i]!];
    colours.add((r << 16) | (g << 8) | b);
    if (r < 245 || g < 245 || b < 245) inked++;
  }
  return { colours: colours.size, inked: inked / (png.width * png.height) };
}

/** Chromium headless: a screenshot of the page, with a fresh profile and no background traffic. */
async function screenshot(html: string, name: string): Promise<Png> {
  const page = path.join(dir, `${name}.html`);
  const png = path.join(dir, `${name}.png`);
  fs.writeFileSync(page, html);
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    `--user-data-dir=${path.join(dir, `profile-${name}`)}`,
    `--screenshot=${png}`,
    `--window-size=${WIDTH},${HEIGHT}`,
    pathToFileURL(page).href,
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(CHROMIUM, args, { timeout: 90_000 }, (err, _stdout, stderr) => (err && !fs.existsSync(png) ? reject(new Error(`chromium failed: ${err.message}\n${stderr}`)) : resolve()));
  });
  expect(fs.existsSync(png), `no screenshot from ${CHROMIUM}`).toBe(true);
  return decodePng(fs.readFileSync(png));
}

describe("the HTML report in Chromium", () => {
  it("is installed (apt-get install chromium; .ci/run does)", () => {
    expect(fs.existsSync(CHROMIUM)).toBe(true);
  });

  it("renders the tables and charts of a realistic run, not a blank page", async () => {
    const blank = looks(await screenshot("<!DOCTYPE html><html><body></body></html>", "blank"));
    expect(blank.colours).toBe(1);

    const shot = await screenshot(htmlReport(fixture()), "report");
    expect({ width: shot.width, height: shot.height }).toEqual({ width: WIDTH, height: HEIGHT });
    const report = looks(shot);
    // Text, the segment colours, anti-aliasing: hundreds of colours; charts and text cover a good part of the page.
    expect(report.colours).toBeGreaterThan(200);
    expect(report.inked).toBeGreaterThan(0.05);
    const keep = process.env.AMIBOOT_KEEP_SCREENSHOT;
    if (keep) {
      fs.copyFileSync(path.join(dir, "report.png"), keep);
      fs.copyFileSync(path.join(dir, "report.html"), keep.replace(/(\.png)?$/, ".html"));
    }
  });
});
