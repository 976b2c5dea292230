import { Option, type Command } from "commander";
import { bootPlan, planDirs, type BootMode, type BootPlan } from "../boot/plan.js";
import { refuseWhileServed } from "../store/server-lock.js";
import { amibootHome } from "../home.js";
import { diskName } from "../volumes/open.js";
import { BootPool } from "../pool/pool.js";
import { exitCodeFor } from "./exit-codes.js";
import { errorLine, milestoneTable, resultJson } from "./output.js";
import { parseNumber } from "./parse.js";

/** Ctrl-] leaves an --attach session, as in telnet and virsh console. */
export const DETACH_BYTE = 0x1d;

interface BootFlags {
  mode: BootMode;
  disk: string[];
  guestDecompress?: boolean;
  memory?: number;
  timeout?: number;
  until?: string;
  json?: boolean;
  attach?: boolean;
}

export function addBootCommand(program: Command): void {
  program
    .command("boot")
    .description("boot a raw disk image in v86 and stream its serial console")
    .argument("<image>", "root disk: a raw image file (read-only: the guest's writes stay in memory), an EBS volume vol-… (writes persist) or an instance-store bundle DIR/NAME.manifest.xml")
    .option("--disk <disk>", "a second disk (hdb): a file, vol-…, or ephemeral:MIB (blank, in memory)", (v: string, all: string[]) => [...all, v], [] as string[])
    .addOption(
      new Option("--mode <mode>", "hvm: SeaBIOS runs the disk's MBR; pv: the PV-GRUB shim boots the kernel named by the disk's menu.lst")
        .choices(["hvm", "pv"])
        .default("hvm"),
    )
    .option("--guest-decompress", "pv: let the guest decompress its kernel (as real PV-GRUB) instead of unpacking it on the host")
    .option("-m, --memory <MiB>", "guest memory in MiB (16-2048)", parseNumber, 128)
    .option("-t, --timeout <seconds>", "fail the boot after this many seconds; 0 = never (default 120, none with --attach)", parseNumber)
    .option("-u, --until <text>", "end the boot successfully when the console shows this text")
    .option("--json", "print one JSON object (outcome, milestones, times, last console lines) instead of the console")
    .option("-a, --attach", "connect this terminal to the guest's serial port; Ctrl-] detaches and stops the VM")
    .addHelpText(
      "after",
      `
Without --until the boot runs until the guest powers off or halts, or the timeout.
Exit codes: 0 success, 1 boot failed, 2 bad arguments or image, 124 timeout, 130 interrupted.

Examples:
  amiboot boot images/build/hvm-linux.img --until AMIBOOT-USERSPACE-READY
  amiboot boot images/build/pv-linux.img --mode pv --until AMIBOOT-USERSPACE-READY
  amiboot boot images/build/mbr.img --json
  amiboot boot my-disk.img --attach`,
    )
    .action(async (image: string, flags: BootFlags) => {
      process.exitCode = await runBoot(image, flags);
    });
}

async function runBoot(image: string, flags: BootFlags): Promise<number> {
  let plan;
  try {
    const timeoutSeconds = flags.timeout ?? (flags.attach ? 0 : 120);
    const options = { memoryMiB: flags.memory, timeoutSeconds, until: flags.until, guestDecompress: flags.guestDecompress };
    // An EBS volume's writes persist: while a server owns the store, its instances may be using it.
    if ([image, ...flags.disk].some((d) => d.startsWith("vol-"))) {
      refuseWhileServed(amibootHome(), "'amiboot boot vol-…'", "stop the server first, or launch an instance of an image through it");
    }
    plan = await bootPlan(image, flags.mode, options, flags.disk, planDirs(amibootHome()));
  } catch (err) {
    return reportEarlyError(err, flags.json);
  }

  const pool = new BootPool({ maxThreads: 1 });
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.on("SIGINT", onSigint);
  const run = pool.boot(plan, { signal: interrupt.signal });

  let lastByte = 0x0a;
  if (!flags.json) {
    run.on("console", (bytes) => {
      process.stdout.write(bytes);
      lastByte = bytes[bytes.length - 1] ?? lastByte;
    });
  }
  const stdin = process.stdin;
  const onInput = (chunk: Buffer) => {
    if (chunk.includes(DETACH_BYTE)) {
      const before = chunk.subarray(0, chunk.indexOf(DETACH_BYTE));
      if (before.length) run.send(before);
      run.stop();
      return;
    }
    run.send(chunk);
  };
  if (flags.attach) {
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on("data", onInput);
    // Raw mode turns Ctrl-C into a byte for the guest; say how to leave.
    if (!flags.json) process.stderr.write(`amiboot: attached to ${plan.name}'s serial port; Ctrl-] detaches and stops the VM\r\n`);
  }

  const result = await run.result;

  if (flags.attach) {
    stdin.off("data", onInput);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
  }
  process.off("SIGINT", onSigint);
  await pool.close();

  if (flags.json) {
    process.stdout.write(resultJson(result, { image: diskName(plan.disks[0]!), disks: plan.disks.map(diskName), memoryMiB: plan.memoryMiB, ...pvJson(plan) }) + "\n");
  } else {
    if (lastByte !== 0x0a) process.stdout.write("\n");
    process.stdout.write("\n" + milestoneTable(result) + "\n");
    if (result.error) process.stderr.write(errorLine(result.error) + "\n");
  }
  return exitCodeFor(result.ok ? undefined : (result.error ?? { code: "BootFailed" }));
}

/** What the PV-GRUB shim chose, for --json (without the kernel's bytes). */
function pvJson(plan: BootPlan): Record<string, unknown> {
  if (!plan.pv) return {};
  const { menuPath, entry, notes, cmdline, initrd, unpacked } = plan.pv;
  return { pv: { menuPath, entry, cmdline, initrd: initrd !== undefined, unpacked: unpacked ?? null, notes, fallback: notes.some((n) => n.startsWith("entry ")) } };
}

function reportEarlyError(err: unknown, json?: boolean): number {
  const e = err as { code?: string; message: string };
  const shape = { code: e.code ?? "InternalError", message: e.message };
  if (json) process.stdout.write(JSON.stringify({ ok: false, outcome: "error", error: shape }, null, 2) + "\n");
  else process.stderr.write(errorLine(shape) + "\n");
  return exitCodeFor(shape);
}
