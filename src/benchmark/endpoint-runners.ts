import { DescribeImagesCommand, DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import type { InstanceGoal } from "../cloud/instance-events.js";
import { GUEST_SHUTDOWN } from "../cloud/instance-lifecycle.js";
import { WARM_TAG } from "../cloud/instances.js";
import { waitForInstances } from "../client/instance-wait.js";
import { Ec2Error } from "../errors.js";
import type { BenchCase, BenchSample } from "./results.js";
import { launchLabels, type Runner } from "./runner.js";
import type { SuiteOptions } from "./suite-options.js";

const OP = "benchmark.bench";
/** DescribeInstanceStatus every 20 ms: the poll's period bounds a sample's error. */
const POLL_MS = 20;

/**
 * An AMI launched through an EC2 endpoint, as any client launches it: time
 * from RunInstances to the instance status check passing (the endpoint's
 * marker), or without a marker to the instance's instance-initiated
 * shutdown. The API shows no milestones, so these cases have none. Cold,
 * warm (with --warm) and each concurrency level.
 */
export async function amiRunners(o: SuiteOptions, ami: string): Promise<Runner[]> {
  const client = o.amis.client!;
  const image = (await client.send(new DescribeImagesCommand({ ImageIds: [ami] }))).Images?.[0];
  if (!image) throw new Ec2Error("InvalidAMIID.NotFound", `The image id '[${ami}]' does not exist`, OP);
  const mode = image.VirtualizationType === "paravirtual" ? "pv" : "hvm";
  const root = image.RootDeviceType ?? "ebs";
  const variants = [{ warm: false, concurrency: 1 }, ...(o.warm ? [{ warm: true, concurrency: 1 }] : []), ...o.concurrency.filter((c) => c > 1).map((concurrency) => ({ warm: false, concurrency }))];
  return variants.map(({ warm, concurrency }) => {
    const c: BenchCase = {
      id: `${ami}/${mode}/${root}/${warm ? "warm" : "cold"}/c${concurrency}`,
      label: `${ami} (${image.Name ?? "?"}): ${launchLabels(mode, root, warm, concurrency)}, via the endpoint`,
      engine: "amiboot",
      params: { image: ami, mode, root, warm, concurrency, endpoint: true },
      samples: [],
    };
    return { case: c, measure: () => launchThroughEndpoint(client, o, c, { ami, root, warm, concurrency }) };
  });
}

async function launchThroughEndpoint(client: EC2Client, o: SuiteOptions, c: BenchCase, l: { ami: string; root: string; warm: boolean; concurrency: number }): Promise<BenchSample> {
  const t0 = performance.now();
  const tags = l.warm ? { TagSpecifications: [{ ResourceType: "instance" as const, Tags: [{ Key: WARM_TAG, Value: "true" }] }] } : {};
  const r = await client.send(new RunInstancesCommand({ ImageId: l.ami, InstanceType: o.instanceType as never, MinCount: l.concurrency, MaxCount: l.concurrency, ...tags }));
  const ids = (r.Instances ?? []).map((i) => i.InstanceId!);
  try {
    // Without a marker the boot ends when the guest powers off: stopped (EBS) or terminated (instance store).
    const goal: InstanceGoal = o.marker ? "status-ok" : l.root === "ebs" ? "stopped" : "terminated";
    let reached;
    try {
      reached = await waitForInstances(client, ids, goal, { since: t0, timeoutMs: o.timeoutSeconds * 1000, intervalMs: POLL_MS });
    } catch (err) {
      if (!(err instanceof Ec2Error)) throw err;
      const what = o.marker ? "ended before its marker" : "ended before the guest powered off";
      throw new Ec2Error(err.code, err.code === "InstanceFailed" ? `${c.label}: ${what}: ${err.message}` : `${c.label}: ${err.message}`, OP);
    }
    if (!o.marker) await checkGuestShutdown(client, c, ids);
    return { totalMs: Math.round(Math.max(...reached.map((w) => w.reachedAt! - t0))), milestones: {}, boots: ids.length };
  } finally {
    if (ids.length > 0) {
      await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
      await waitForInstances(client, ids, "terminated", { timeoutMs: 60_000, intervalMs: POLL_MS });
    }
  }
}

/** A stopped instance may have failed rather than powered off: its StateReason says which. */
async function checkGuestShutdown(client: EC2Client, c: BenchCase, ids: string[]): Promise<void> {
  const instances = (await client.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations?.flatMap((x) => x.Instances ?? []) ?? [];
  const failed = instances.find((i) => i.StateReason?.Code !== GUEST_SHUTDOWN.code);
  if (failed) throw new Ec2Error("InstanceFailed", `${c.label}: ended before the guest powered off: ${failed.InstanceId} is ${failed.State?.Name}: ${failed.StateReason?.Message ?? "no reason given"}`, OP);
}
