import { Ec2Error } from "../errors.js";
import { textTable } from "../text-table.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { errorLine } from "./output.js";

/**
 * Runs a command's work: prints its result (a table for people, JSON for
 * scripts) or its error as one line, and sets the exit code from the error
 * table (`src/error-codes.ts`).
 */
export async function runCommand<T>(json: boolean | undefined, work: () => T | Promise<T>, text: (result: T) => string): Promise<void> {
  try {
    const result = await work();
    process.stdout.write(json ? JSON.stringify(result, null, 2) + "\n" : text(result));
    process.exitCode = EXIT.ok;
  } catch (err) {
    process.exitCode = reportError(err, json);
  }
}

/** Prints a failure (one line on stderr, and `{ error }` on stdout with --json); returns the exit code. */
export function reportError(err: unknown, json: boolean | undefined): number {
  const e = errorShape(err);
  if (json) process.stdout.write(JSON.stringify({ error: e }, null, 2) + "\n");
  process.stderr.write(errorLine(e) + "\n");
  return exitCodeFor(e);
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN"]);

/**
 * Our Ec2Error, an EC2 error the AWS SDK raised (its name is the code), or an
 * unreachable endpoint (fetch puts the socket's error in `cause`). Anything
 * else is a bug: InternalError with its message.
 */
export function errorShape(err: unknown): { code: string; message: string } {
  if (err instanceof Ec2Error) return { code: err.code, message: err.message };
  const e = (typeof err === "object" && err !== null ? err : { message: String(err) }) as { code?: unknown; name?: string; message?: string; $fault?: string; cause?: { code?: unknown } };
  const message = e.message ?? String(err);
  const sys = typeof e.code === "string" ? e.code : typeof e.cause?.code === "string" ? e.cause.code : undefined;
  if (sys && UNREACHABLE.has(sys)) return { code: "EndpointUnreachable", message: `cannot reach the EC2 endpoint (${sys}): is 'amiboot serve' running?` };
  if (e.$fault && e.name) return { code: e.name, message };
  return { code: "InternalError", message };
}

/** Columns padded to their widest cell (the CLI's lists). */
export function table(head: string[], rows: string[][]): string {
  return textTable(head, rows) + "\n";
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
