import type { Command } from "commander";
import { createBundle, readManifest, unbundle } from "../volumes/bundle.js";
import { progressBar } from "./progress.js";
import { mib, runCommand } from "./run.js";

/** `amiboot bundle …`: instance-store bundles (parts + image.manifest.xml, ec2-ami-tools layout). */
export function addBundleCommand(program: Command): void {
  const bundle = program.command("bundle").description("instance-store bundles: an image split into 10 MB parts with an image.manifest.xml");
  bundle
    .command("create")
    .description("split a raw image into parts and write BUCKET/PREFIX.manifest.xml (boot it with 'amiboot boot BUCKET/PREFIX.manifest.xml')")
    .argument("<file>", "raw disk image")
    .requiredOption("-b, --bucket <dir>", "directory that plays the S3 bucket")
    .requiredOption("-p, --prefix <name>", "name of the bundle: PREFIX.manifest.xml, PREFIX.part.N")
    .option("--arch <arch>", "architecture recorded in the manifest (i386, x86_64, arm64)", "i386")
    .option("--json", "print JSON")
    .action((file: string, o: { bucket: string; prefix: string; arch: "i386" | "x86_64" | "arm64"; json?: boolean }) => {
      const bar = progressBar("bundling", !o.json);
      return runCommand(
        o.json,
        () => {
          try {
            return createBundle(file, { bucket: o.bucket, prefix: o.prefix, architecture: o.arch, onProgress: bar.update });
          } finally {
            bar.stop();
          }
        },
        (r) => `${r.manifestPath}: ${r.manifest.parts.length} parts, ${mib(r.manifest.size)}, sha256 ${r.manifest.digest}\n`,
      );
    });
  bundle
    .command("verify")
    .description("check a bundle: the manifest, every part's SHA-256 and the whole image's")
    .argument("<manifest>", "BUCKET/PREFIX.manifest.xml")
    .option("--json", "print JSON")
    .action((manifest: string, o: { json?: boolean }) => {
      const bar = progressBar("verifying", !o.json);
      return runCommand(
        o.json,
        () => {
          try {
            const m = readManifest(manifest);
            unbundle(manifest, bar.update);
            return { manifest, ok: true, name: m.name, architecture: m.architecture, size: m.size, parts: m.parts.length, digest: m.digest };
          } finally {
            bar.stop();
          }
        },
        (r) => `${r.manifest}: ok, ${r.parts} parts, ${mib(r.size)}, ${r.architecture}\n`,
      );
    });
}
