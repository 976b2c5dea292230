import { EXIT } from "./exit-codes.js";
import { errorLine } from "./output.js";

/**
 * Runs a command's work: prints its result (a table for people, JSON for
 * scripts) or its error as one line, and sets the exit code.
 */
export async function runCommand<T>(json: boolean | undefined, work: () => T | Promise<T>, text: (result: T) => string): Promise<void> {
  try {
    const result = await work();
    process.stdout.write(json ? JSON.stringify(result, null, 2) + "\n" : text(result));
    process.exitCode = EXIT.ok;
  } catch (err) {
    const e = errorShape(err);
    if (!e) throw err;
    if (json) process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message } }, null, 2) + "\n");
    process.stderr.write(errorLine({ code: e.code, message: e.message }) + "\n");
    // EC2's request errors (Invalid…, Missing…) are the caller's: exit 2, as for bad arguments.
    process.exitCode = /^(Invalid|Missing)/.test(e.code) ? EXIT.invalid : EXIT.failed;
  }
}

/** Our Ec2Error, an EC2 error the AWS SDK raised (its name is the code), or an unreachable endpoint. */
function errorShape(err: unknown): { code: string; message: string } | undefined {
  const e = err as { code?: string; name?: string; message: string; $fault?: string };
  if (e.code === "ECONNREFUSED") return { code: "EndpointUnreachable", message: `cannot reach the EC2 endpoint (${e.message}): is 'amiboot serve' running?` };
  if (e.$fault && e.name) return { code: e.name, message: e.message };
  return e.code ? { code: e.code, message: e.message } : undefined;
}

/** Columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [fmt(head), ...rows.map(fmt)].join("\n") + "\n";
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
