import type { Command } from "commander";
import { checkDiskFile } from "../boot/disk-file.js";
import { inspectDisk, type DiskReport } from "../boot/inspect.js";
import { mib, runCommand } from "./run.js";

export function addInspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("show a disk's partitions and filesystems, its menu.lst and the kernels it names (what PV-GRUB would boot)")
    .argument("<image>", "raw disk image (only read)")
    .option("--json", "print the report as JSON")
    .action((image: string, flags: { json?: boolean }) =>
      runCommand(
        flags.json,
        () => {
          checkDiskFile(image, { bootSignature: false });
          return inspectDisk(image);
        },
        text,
      ),
    );
}

function text(r: DiskReport): string {
  const out: string[] = [`${r.image}: ${mib(r.size)}, partition table: ${r.partitionTable}`];
  for (const d of r.devices) {
    const fs = d.filesystem ? `${d.filesystem.type} label '${d.filesystem.label}'` : `no filesystem read (${d.error})`;
    out.push(`  ${d.device.padEnd(9)} ${mib(d.size).padStart(10)} at ${d.start}${d.type ? ` type ${d.type}` : ""}${d.name ? ` '${d.name}'` : ""}: ${fs}`);
  }
  if (r.menu) {
    const m = r.menu;
    out.push(`menu.lst: ${m.path} (default ${m.default}${m.fallback.length ? `, fallback ${m.fallback.join(" ")}` : ""}${m.timeout !== undefined ? `, timeout ${m.timeout}` : ""}${m.hiddenmenu ? ", hiddenmenu" : ""})`);
    for (const e of m.entries) {
      out.push(`  ${e.index}: ${e.title}`);
      if (e.kernel) out.push(`     kernel ${e.kernel} ${e.args ?? ""}`.trimEnd());
      if (e.kernelHeader) {
        const h = e.kernelHeader;
        out.push(`            ${h.bits}-bit ${h.bzImage ? "bzImage" : "zImage"}, boot protocol ${h.protocol}${h.version ? `, ${h.version.split(" ")[0]}` : ""}`);
      }
      if (e.kernelError) out.push(`            ${e.kernelError}`);
      if (e.initrd) out.push(`     initrd ${e.initrd}`);
    }
    for (const w of m.warnings) out.push(`  warning: ${w}`);
  }
  if (r.pvBoot) {
    if ("error" in r.pvBoot) out.push(`PV boot: impossible: ${r.pvBoot.error.code}: ${r.pvBoot.error.message}`);
    else {
      out.push(`PV boot: entry ${r.pvBoot.entry} '${r.pvBoot.title}'`);
      for (const n of r.pvBoot.notes) out.push(`  ${n}`);
    }
  }
  for (const e of r.errors) out.push(`error: ${e}`);
  return out.join("\n") + "\n";
}
