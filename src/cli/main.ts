import { readFileSync } from "node:fs";
import { Command } from "commander";
import { addBenchCommand } from "./bench-command.js";
import { addBootCommand } from "./boot-command.js";
import { EXIT } from "./exit-codes.js";
import { addBundleCommand } from "./bundle-command.js";
import { addImageCommands } from "./image-commands.js";
import { addInspectCommand } from "./inspect-command.js";
import { addInstanceCommands } from "./instance-commands.js";
import { addNetworkCommands } from "./network-commands.js";
import { addServeCommand } from "./serve-command.js";
import { addSshCommand } from "./ssh-command.js";
import { reportError } from "./run.js";
import { addVolumeCommands } from "./volume-commands.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

export function buildProgram(): Command {
  const program = new Command("amiboot")
    .description("Emulates the AMI lifecycle of EC2 on one machine and really boots the images (v86, no KVM, no root)")
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride((err) => {
      // Usage errors exit 2 (like most CLIs); help and version exit 0.
      process.exit(err.exitCode === 0 ? 0 : EXIT.invalid);
    });
  addBootCommand(program);
  addInspectCommand(program);
  addVolumeCommands(program);
  addBundleCommand(program);
  addServeCommand(program);
  addImageCommands(program);
  addInstanceCommands(program);
  addSshCommand(program);
  addNetworkCommands(program);
  addBenchCommand(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // The net under every command: whatever escaped is one error line (InternalError when it is not ours), never a stack trace.
  process.exitCode = reportError(err, process.argv.includes("--json"));
}
