import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import type { Command } from "commander";
import { spawn } from "node:child_process";
import fs from "node:fs";
import { Ec2Error } from "../errors.js";
import { hostPortFor } from "../net/network-plan.js";
import { clientOptions, ec2, type ClientFlags } from "./endpoint.js";
import { reportError } from "./run.js";

interface SshFlags extends ClientFlags {
  identity?: string;
  login: string;
  port: number;
  print?: boolean;
}

/**
 * `amiboot ssh INSTANCE [-- command]`: the system's ssh to the instance's
 * address (PublicIpAddress, a loopback address of its own) on the host port
 * its security groups opened for guest port 22. Host keys are remembered per
 * instance id (HostKeyAlias), since loopback addresses are reused.
 */
export function addSshCommand(program: Command): void {
  clientOptions(
    program
      .command("ssh")
      .description("ssh into an instance whose security group allows TCP 22 (the system's ssh client)")
      .argument("<instance-id>")
      .argument("[command...]", "a command to run instead of a shell (after --)")
      .option("-i, --identity <file>", "the private key (default: KEYNAME.pem in this directory, for the instance's KeyName)")
      .option("-l, --login <user>", "the user to log in as (the sample images: root; Debian's cloud image: debian)", "root")
      .option("--port <guest-port>", "the guest's SSH port", (v) => Number(v), 22)
      .option("--print", "print the ssh command instead of running it"),
  ).action(async (id: string, command: string[], o: SshFlags) => {
    try {
      const args = await sshArgs(id, o);
      if (o.print || o.json) {
        process.stdout.write(o.json ? JSON.stringify({ instanceId: id, command: ["ssh", ...args, ...command] }, null, 2) + "\n" : ["ssh", ...args, ...command].map(quote).join(" ") + "\n");
        return;
      }
      process.exitCode = await run("ssh", [...args, ...command]);
    } catch (err) {
      process.exitCode = reportError(err, o.json);
    }
  });
}

async function sshArgs(id: string, o: SshFlags): Promise<string[]> {
  const op = "cli.ssh";
  const instance = (await ec2(o).send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`, op);
  const state = instance.State?.Name;
  if (state !== "running") throw new Ec2Error("IncorrectInstanceState", `The instance '${id}' is ${state}, not running.`, op);
  if (!instance.PublicIpAddress) throw new Ec2Error("IncorrectInstanceState", `The instance '${id}' has no address (launched before amiboot gave instances a network).`, op);
  const identity = o.identity ?? (instance.KeyName ? `${instance.KeyName}.pem` : undefined);
  if (!identity) throw new Ec2Error("MissingParameter", `The instance '${id}' was launched without a key pair: give -i KEYFILE.`, op);
  if (!fs.existsSync(identity)) throw new Ec2Error("InvalidParameterValue", `no private key at ${identity}: give -i KEYFILE`, op);
  return [
    "-i", identity,
    "-p", String(hostPortFor(o.port)),
    "-o", "IdentitiesOnly=yes",
    "-o", `HostKeyAlias=${id}`,
    "-o", "StrictHostKeyChecking=accept-new",
    "-o", "ConnectTimeout=30",
    `${o.login}@${instance.PublicIpAddress}`,
  ];
}

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "inherit" });
    child.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? new Ec2Error("InvalidParameterValue", "no ssh client on PATH: install openssh-client", "cli.ssh") : err),
    );
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
