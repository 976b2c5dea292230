/**
 * Columns padded to their widest cell, two spaces apart: the one table
 * layout of the CLI's lists, the boot's milestone table and the benchmark's
 * reports. `right` columns are right-aligned (numbers); `rule` draws dashes
 * under the head.
 */
export function textTable(head: string[], rows: string[][], options: { right?: boolean[]; rule?: boolean } = {}): string {
  const right = options.right ?? [];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => head.map((_, i) => (right[i] ? (r[i] ?? "").padStart(widths[i]!) : (r[i] ?? "").padEnd(widths[i]!))).join("  ").trimEnd();
  return [fmt(head), ...(options.rule ? [fmt(widths.map((w) => "-".repeat(w)))] : []), ...rows.map(fmt)].join("\n");
}
