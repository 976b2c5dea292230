import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const IMAGES = process.env.AMIBOOT_IMAGES ?? path.join(ROOT, "images", "build");
export const image = (name: string) => path.join(IMAGES, name);
export const CLI = path.join(ROOT, "bin", "amiboot.js");
export const MARKER = "AMIBOOT-USERSPACE-READY";

/** A fresh temporary directory, removed by the caller's afterAll. */
export function tempDir(prefix = "amiboot-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
