/**
 * npm run fuzz -- [--cases N] [--seed S]: the long fuzz run (default 100,000
 * cases per reader); prints a table and writes bench/results/fuzz-*.json.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { image, IMAGES, ROOT } from "../helpers.js";
import { fuzzMenuLst, fuzzTarget, targets, type FuzzReport } from "./harness.js";

const { values } = parseArgs({ options: { cases: { type: "string", default: "100000" }, seed: { type: "string", default: "1" } } });
const cases = Number(values.cases);
const seed = Number(values.seed);
const reports: FuzzReport[] = [];
for (const t of targets(IMAGES)) {
  process.stderr.write(`fuzz: ${t.name}: ${cases} cases\n`);
  reports.push(fuzzTarget(t, cases, seed, (n) => n % 10000 === 0 && process.stderr.write(`fuzz:   ${n}\n`)));
}
const menu = fs.readFileSync(image("pv-linux.img")).includes("title") ? "default 0\nfallback 1\ntimeout 0\nhiddenmenu\ntitle a\nroot (hd0,0)\nkernel /boot/vmlinuz ro\ninitrd /boot/initrd\ntitle b\nkernel (hd0,1)/k\n" : "";
reports.push(fuzzMenuLst(menu, cases, seed));

console.log(`\n${"target".padEnd(36)}${"cases".padStart(9)}${"ok".padStart(9)}${"typed err".padStart(11)}${"crashes".padStart(9)}${">1s".padStart(6)}${"max ms".padStart(9)}${"secs".padStart(8)}`);
for (const r of reports) {
  const typed = Object.values(r.typedErrors).reduce((a, b) => a + b, 0);
  console.log(`${r.target.padEnd(36)}${String(r.cases).padStart(9)}${String(r.passed).padStart(9)}${String(typed).padStart(11)}${String(r.crashes.length).padStart(9)}${String(r.slow.length).padStart(6)}${r.maxMs.toFixed(1).padStart(9)}${String(r.seconds).padStart(8)}`);
  for (const c of r.crashes.slice(0, 5)) console.log(`  crash seed ${c.seed}: ${c.error}`);
}
const out = path.join(ROOT, "bench/results");
fs.mkdirSync(out, { recursive: true });
const file = path.join(out, `fuzz-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
fs.writeFileSync(file, JSON.stringify(reports, null, 2));
console.log(`\nreport: ${path.relative(process.cwd(), file)}`);
process.exitCode = reports.some((r) => r.crashes.length || r.slow.length) ? 1 : 0;
