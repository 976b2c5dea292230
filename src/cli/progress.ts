import cliProgress from "cli-progress";
import type { Progress } from "../volumes/store.js";

/** A progress bar on stderr for long work (only on a terminal, never with --json). */
export function progressBar(label: string, enabled: boolean): { update: Progress; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {value}/{total} MiB {duration_formatted} (eta {eta_formatted})`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      const mib = (n: number) => Math.round(n / 1048576);
      if (!started) {
        bar.start(mib(total), 0);
        started = true;
      }
      bar.update(mib(done));
    },
    stop: () => started && bar.stop(),
  };
}
