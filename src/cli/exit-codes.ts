import type { BootOutcome } from "../pool/protocol.js";

/** Exit codes of the amiboot command (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The boot ran and failed: crash, guest refusal, worker error. */
  failed: 1,
  /** Bad arguments or a bad image, found before anything ran. */
  invalid: 2,
  /** The timeout ended the boot (as timeout(1) does). */
  timeout: 124,
  /** Interrupted by the user (Ctrl-C). */
  interrupted: 130,
} as const;

export function exitCodeFor(outcome: BootOutcome, ok: boolean): number {
  if (ok) return EXIT.ok;
  if (outcome === "timeout") return EXIT.timeout;
  if (outcome === "aborted") return EXIT.interrupted;
  return EXIT.failed;
}
