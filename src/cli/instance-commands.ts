import {
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  RebootInstancesCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
  type InstanceStateChange,
} from "@aws-sdk/client-ec2";
import { Option, type Command } from "commander";
import fs from "node:fs";
import { WARM_TAG } from "../cloud/instances.js";
import { waitForInstances, type InstanceGoal } from "../client/instance-wait.js";
import { callAction, clientOptions, ec2, type ClientFlags } from "./endpoint.js";
import { parseNumber } from "./parse.js";
import { runCommand, table } from "./run.js";

interface RunResult {
  instanceId: string;
  state: string;
  /** From RunInstances to the instance's status check passing (the marker seen). */
  secondsToUserSpace?: number;
}

interface RunFlags extends ClientFlags {
  type?: string;
  count: number;
  userData?: string;
  userDataFile?: string;
  warm?: boolean;
  keyName?: string;
  securityGroupId: string[];
  subnetId?: string;
  metadataTokens?: "optional" | "required";
  wait: boolean;
  timeout: number;
}

/** `amiboot run` and `amiboot instance …`, `amiboot console`: clients of the EC2 endpoint. */
export function addInstanceCommands(program: Command): void {
  clientOptions(
    program
      .command("run")
      .description("launch instances of an AMI and wait until each shows the user-space marker")
      .argument("<image-id>")
      .option("-t, --type <type>", "instance type (guest memory; see README)", "m1.small")
      .option("-c, --count <n>", "how many instances", parseNumber, 1)
      .option("--user-data <text>", "UserData, served to the guest by the metadata service (cloud-init reads it)")
      .option("--user-data-file <file>", "UserData from a file")
      .option("-k, --key-name <name>", "a key pair: its public key reaches the guest through the metadata service ('amiboot key create')")
      .option("-g, --security-group-id <sg-id>", "a security group (repeatable; default: the VPC's 'default' group)", (v: string, all: string[]) => [...all, v], [] as string[])
      .option("--subnet-id <subnet-id>", "the subnet (default: the default subnet of the region's first zone)")
      .addOption(new Option("--metadata-tokens <mode>", "IMDSv2 tokens: required refuses token-less requests").choices(["optional", "required"]))
      .option("--warm", "warm launch: restore the state saved when this image first reached its marker (the first --warm launch saves it)")
      .option("--no-wait", "return as soon as the instances are pending")
      .option("--timeout <seconds>", "how long to wait for the marker", parseNumber, 300),
  ).action((imageId: string, o: RunFlags) =>
    runCommand(
      o.json,
      async () => {
        const client = ec2(o);
        const userData = o.userDataFile !== undefined ? fs.readFileSync(o.userDataFile) : o.userData !== undefined ? Buffer.from(o.userData) : undefined;
        const t0 = performance.now();
        const r = await client.send(
          new RunInstancesCommand({
            ImageId: imageId,
            InstanceType: o.type as never,
            MinCount: o.count,
            MaxCount: o.count,
            ...(userData ? { UserData: userData.toString("base64") } : {}),
            ...(o.keyName ? { KeyName: o.keyName } : {}),
            ...(o.securityGroupId.length > 0 ? { SecurityGroupIds: o.securityGroupId } : {}),
            ...(o.subnetId ? { SubnetId: o.subnetId } : {}),
            ...(o.metadataTokens ? { MetadataOptions: { HttpTokens: o.metadataTokens } } : {}),
            ...(o.warm ? { TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: WARM_TAG, Value: "true" }] }] } : {}),
          }),
        );
        const ids = (r.Instances ?? []).map((i) => i.InstanceId!);
        const ready = o.wait ? await waitForMarker(client, ids, t0, o.timeout, !o.json) : undefined;
        return { reservationId: r.ReservationId, instances: ids.map((id): RunResult => (ready ? { instanceId: id, state: "running", secondsToUserSpace: ready.get(id)! } : { instanceId: id, state: "pending" })) };
      },
      (r) => r.instances.map((i) => `${i.instanceId}  ${i.state}${i.secondsToUserSpace !== undefined ? `  user space after ${i.secondsToUserSpace.toFixed(1)} s` : ""}\n`).join(""),
    ),
  );

  const instance = program.command("instance").description("instances, through the EC2 endpoint started by 'amiboot serve'");
  clientOptions(instance.command("list").description("your instances in --region")).action((o: ClientFlags) =>
    runCommand(
      o.json,
      async () => (await ec2(o).send(new DescribeInstancesCommand({}))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [],
      (list) =>
        table(
          ["INSTANCE", "IMAGE", "STATE", "TYPE", "ROOT", "VIRT", "LAUNCHED", "NAME"],
          list.map((i) => [i.InstanceId ?? "", i.ImageId ?? "", i.State?.Name ?? "", i.InstanceType ?? "", i.RootDeviceType ?? "", i.VirtualizationType ?? "", i.LaunchTime?.toISOString() ?? "", nameTag(i)]),
        ),
    ),
  );
  clientOptions(instance.command("show").description("one instance in full").argument("<instance-id>")).action((id: string, o: ClientFlags) =>
    runCommand(o.json, async () => (await ec2(o).send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!, showInstance),
  );
  const change = (name: string, what: string, send: (client: EC2Client, ids: string[]) => Promise<InstanceStateChange[] | undefined>) =>
    clientOptions(instance.command(name).description(what).argument("<instance-id...>")).action((ids: string[], o: ClientFlags) =>
      runCommand(
        o.json,
        async (): Promise<InstanceStateChange[]> => (await send(ec2(o), ids)) ?? ids.map((id) => ({ InstanceId: id })),
        (list) => list.map((c) => `${c.InstanceId}  ${c.PreviousState?.Name ?? ""}${c.CurrentState ? ` -> ${c.CurrentState.Name}` : "rebooting"}\n`).join(""),
      ),
    );
  change("stop", "stop EBS-backed instances (volumes kept; the guest is powered off, so sync first)", async (c, ids) => (await c.send(new StopInstancesCommand({ InstanceIds: ids }))).StoppingInstances);
  change("start", "start stopped instances from their kept volumes", async (c, ids) => (await c.send(new StartInstancesCommand({ InstanceIds: ids }))).StartingInstances);
  change("terminate", "terminate instances (DeleteOnTermination volumes and instance-store data go)", async (c, ids) => (await c.send(new TerminateInstancesCommand({ InstanceIds: ids }))).TerminatingInstances);
  change("reboot", "reset the machines (instance-store data kept)", async (c, ids) => {
    await c.send(new RebootInstancesCommand({ InstanceIds: ids }));
    return undefined;
  });
  clientOptions(
    instance
      .command("wait")
      .description("wait until the instances are running, have their status ok (the marker seen), are stopped or terminated")
      .argument("<instance-id...>")
      .addOption(new Option("--until <goal>", "what to wait for").choices(["running", "status-ok", "stopped", "terminated"]).default("status-ok"))
      .option("--timeout <seconds>", "how long to wait", parseNumber, 300),
  ).action((ids: string[], o: ClientFlags & { until: InstanceGoal; timeout: number }) =>
    runCommand(
      o.json,
      async () => (await waitForInstances(ec2(o), ids, o.until, { timeoutMs: o.timeout * 1000 })).map((w) => ({ instanceId: w.instanceId, state: w.state })),
      (list) => list.map((w) => `${w.instanceId}  ${w.state}${o.until === "status-ok" ? " (status ok)" : ""}\n`).join(""),
    ),
  );

  clientOptions(
    program
      .command("console")
      .description("an instance's serial console output (the last 64 KiB)")
      .argument("<instance-id>")
      .option("-f, --follow", "keep printing what the guest writes until it stops or Ctrl-C")
      .option("-a, --attach", "follow, and send what you type to the guest's serial console (Ctrl-] detaches)"),
  ).action(async (id: string, o: ClientFlags & { follow?: boolean; attach?: boolean }) => {
    if (o.attach && !o.json) return runCommand(false, () => attach(o, id), () => "");
    if (!o.follow || o.json) {
      return runCommand(
        o.json,
        async () => {
          const r = await ec2(o).send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true }));
          return { instanceId: id, timestamp: r.Timestamp, output: Buffer.from(r.Output ?? "", "base64").toString("latin1") };
        },
        (r) => r.output,
      );
    }
    return runCommand(false, () => follow(ec2(o), id), () => "");
  });
}

/** Waits until each instance is running with its status check passed (the marker seen); progress on stderr. */
async function waitForMarker(client: EC2Client, ids: string[], t0: number, timeoutSeconds: number, progress: boolean): Promise<Map<string, number>> {
  const tty = progress && process.stderr.isTTY;
  const ready = await waitForInstances(client, ids, "status-ok", {
    timeoutMs: timeoutSeconds * 1000,
    since: t0,
    onChange: (list) => {
      const line = list.map((w) => `${w.instanceId} ${w.state}${w.reachedAt !== undefined ? " (user space)" : ""}`).join(", ");
      if (tty) process.stderr.write(`\r\x1b[K${((performance.now() - t0) / 1000).toFixed(0)} s: ${line}`);
    },
  }).finally(() => tty && process.stderr.write("\r\x1b[K"));
  return new Map(ready.map((w) => [w.instanceId, Math.round((w.reachedAt! - t0) / 100) / 10]));
}

/**
 * A live console: the output as `follow` prints it, and stdin (raw, when it
 * is a terminal) sent to the guest through amiboot's AmibootSendConsoleInput
 * action. Ctrl-] detaches; the instance runs on.
 */
async function attach(o: ClientFlags, id: string): Promise<void> {
  const DETACH = 0x1d;
  const detached = new AbortController();
  let sending = Promise.resolve();
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  const onData = (chunk: Buffer) => {
    const at = chunk.indexOf(DETACH);
    const bytes = at < 0 ? chunk : chunk.subarray(0, at);
    if (bytes.length > 0) sending = sending.then(() => callAction(o, "AmibootSendConsoleInput", { InstanceId: id, Input: bytes.toString("base64") }).then(() => {}));
    if (at >= 0) detached.abort();
  };
  stdin.on("data", onData);
  stdin.once("end", () => void sending.then(() => setTimeout(() => detached.abort(), 1000)));
  if (!stdin.isTTY) process.stderr.write(`amiboot: attached to ${id} (input from a pipe)\n`);
  else process.stderr.write(`amiboot: attached to ${id}; Ctrl-] detaches\r\n`);
  try {
    await follow(ec2(o), id, detached.signal);
    await sending;
  } finally {
    stdin.off("data", onData);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
  }
}

/** Prints the console as it grows, until the instance is no longer running (or `signal` aborts). */
async function follow(client: EC2Client, id: string, signal?: AbortSignal): Promise<void> {
  let seen = Buffer.alloc(0);
  while (!signal?.aborted) {
    const out = Buffer.from((await client.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true }))).Output ?? "", "base64");
    process.stdout.write(out.subarray(overlap(seen, out)));
    seen = out;
    const state = (await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.State?.Name;
    if (state !== "running" && state !== "pending") return;
    await new Promise((r) => setTimeout(r, signal ? 250 : 500));
  }
}

/** Where `next` goes beyond `prev`: the console is a sliding 64 KiB window, so find prev's tail in next. */
function overlap(prev: Buffer, next: Buffer): number {
  if (prev.length === 0) return 0;
  if (next.length >= prev.length && next.subarray(0, prev.length).equals(prev)) return prev.length;
  const tail = prev.subarray(Math.max(0, prev.length - 256));
  const at = next.lastIndexOf(tail);
  return at < 0 ? 0 : at + tail.length;
}

function nameTag(i: Instance): string {
  return i.Tags?.find((t) => t.Key === "Name")?.Value ?? "";
}

function showInstance(i: Instance): string {
  return [
    `${i.InstanceId}  ${i.State?.Name}${nameTag(i) ? `  (${nameTag(i)})` : ""}`,
    `  image ${i.ImageId}, ${i.InstanceType}, ${i.Architecture}, ${i.VirtualizationType}, root ${i.RootDeviceType} ${i.RootDeviceName}`,
    `  launched ${i.LaunchTime?.toISOString()}`,
    ...(i.StateReason?.Message ? [`  reason: ${i.StateReason.Message}`] : []),
    ...(i.BlockDeviceMappings ?? []).map((m) => `  ${m.DeviceName}: ${m.Ebs?.VolumeId ?? ""}${m.Ebs?.DeleteOnTermination ? " (deleted on termination)" : ""}`),
    ...((i.Tags ?? []).length ? [`  tags: ${(i.Tags ?? []).map((t) => `${t.Key}=${t.Value}`).join(", ")}`] : []),
  ].join("\n") + "\n";
}
