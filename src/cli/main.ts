import { readFileSync } from "node:fs";
import { Command } from "commander";
import { EXIT } from "./exit-codes.js";
import { reportError } from "./run.js";

type AddCommands = (program: Command) => void;

/**
 * Each module of commands, by the top-level names it adds, in help order. A
 * command line loads only the module its command is in: the client commands'
 * AWS SDK takes about half a second to load, which `amiboot boot` (timed from
 * spawn against QEMU) and `amiboot serve` have no use for. Help, and anything
 * that is not a command name, loads them all.
 */
const MODULES: [names: string[], load: () => Promise<AddCommands>][] = [
  [["boot"], async () => (await import("./boot-command.js")).addBootCommand],
  [["inspect"], async () => (await import("./inspect-command.js")).addInspectCommand],
  [["snapshot", "volume"], async () => (await import("./volume-commands.js")).addVolumeCommands],
  [["bundle"], async () => (await import("./bundle-command.js")).addBundleCommand],
  [["serve"], async () => (await import("./serve-command.js")).addServeCommand],
  [["account", "image"], async () => (await import("./image-commands.js")).addImageCommands],
  [["run", "instance", "console"], async () => (await import("./instance-commands.js")).addInstanceCommands],
  [["ssh"], async () => (await import("./ssh-command.js")).addSshCommand],
  [["key", "sg"], async () => (await import("./network-commands.js")).addNetworkCommands],
  [["bench"], async () => (await import("./bench-command.js")).addBenchCommand],
];

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

export async function buildProgram(argv: string[]): Promise<Command> {
  const program = new Command("amiboot")
    .description("Emulates the AMI lifecycle of EC2 on one machine and really boots the images (v86, no KVM, no root)")
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride((err) => {
      // Usage errors exit 2 (like most CLIs); help and version exit 0.
      process.exit(err.exitCode === 0 ? 0 : EXIT.invalid);
    });
  const own = MODULES.filter(([names]) => names.includes(argv[2] ?? ""));
  for (const [, load] of own.length > 0 ? own : MODULES) (await load())(program);
  return program;
}

try {
  await (await buildProgram(process.argv)).parseAsync(process.argv);
} catch (err) {
  // The net under every command: whatever escaped is one error line (InternalError when it is not ours), never a stack trace.
  process.exitCode = reportError(err, process.argv.includes("--json"));
}
