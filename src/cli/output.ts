import { MILESTONE_LABELS } from "../boot/timer.js";
import type { BootResult } from "../pool/pool.js";

/** The milestone table printed after a boot. */
export function milestoneTable(result: BootResult): string {
  const rows = result.milestones.map((m) => [m.name, (m.atMs / 1000).toFixed(2), MILESTONE_LABELS[m.name]]);
  rows.push(["end", (result.elapsedMs / 1000).toFixed(2), `outcome: ${result.outcome}`]);
  const head = ["milestone", "time (s)", "what"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [fmt(head), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt)].join("\n");
}

/** The one-object JSON form of a boot, for scripts. */
export function resultJson(result: BootResult, extra: Record<string, unknown> = {}): string {
  const { error, ...rest } = result;
  return JSON.stringify({ ...extra, ...rest, ...(error ? { error: error.toJSON() } : {}) }, null, 2);
}

/** A failure as one line on stderr. */
export function errorLine(error: { code: string; message: string }): string {
  return `amiboot: error ${error.code}: ${error.message}`;
}
