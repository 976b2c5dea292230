import { MILESTONE_LABELS } from "../boot/timer.js";
import type { BootResult } from "../pool/pool.js";
import { textTable } from "../text-table.js";

/** The milestone table printed after a boot. */
export function milestoneTable(result: BootResult): string {
  const rows = result.milestones.map((m) => [m.name, (m.atMs / 1000).toFixed(2), MILESTONE_LABELS[m.name]]);
  rows.push(["end", (result.elapsedMs / 1000).toFixed(2), `outcome: ${result.outcome}`]);
  const head = ["milestone", "time (s)", "what"];
  return textTable(head, rows, { right: [false, true], rule: true });
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
