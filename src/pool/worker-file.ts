import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ec2Error } from "../errors.js";

/**
 * The compiled worker script `workers/NAME.js`. Under vitest this module
 * runs from source (.ts) while workers must be JavaScript, so the build's
 * copy is used (npm test builds first).
 */
export function workerFile(name: string, op: string): string {
  const here = import.meta.url;
  const rel = here.endsWith(".ts") ? `../../dist/workers/${name}.js` : `../../workers/${name}.js`;
  const file = fileURLToPath(new URL(rel, here));
  if (!existsSync(file)) throw new Ec2Error("MissingBuild", `worker script ${file} is missing: run 'npm run build'`, op);
  return file;
}
