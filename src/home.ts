import os from "node:os";
import path from "node:path";

/** amiboot's data directory: `$AMIBOOT_HOME`, default `~/.amiboot`. */
export function amibootHome(): string {
  return path.resolve(process.env.AMIBOOT_HOME || path.join(os.homedir(), ".amiboot"));
}
