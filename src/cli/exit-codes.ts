import { codeInfo } from "../error-codes.js";

/** Exit codes of the amiboot command (documented in the README); each error code's class is in `src/error-codes.ts`. */
export const EXIT = {
  ok: 0,
  /** It ran, or the state of things refused it, and it failed: crash, guest refusal, worker error. */
  failed: 1,
  /** Bad arguments, a bad request or a bad image, found before anything ran. */
  invalid: 2,
  /** The timeout ended the boot (as timeout(1) does). */
  timeout: 124,
  /** Interrupted by the user (Ctrl-C). */
  interrupted: 130,
} as const;

/** The exit code for a command that ended with `error`, or 0 without one. */
export function exitCodeFor(error: { code: string } | undefined): number {
  return error ? EXIT[codeInfo(error.code).exit] : EXIT.ok;
}
