import { DescribeInstancesCommand, DescribeInstanceStatusCommand, type EC2Client, type InstanceStatus } from "@aws-sdk/client-ec2";
import { setTimeout as sleep } from "node:timers/promises";
import { abortError, endedError, progress, waitTimeout, type InstanceGoal } from "../cloud/instance-events.js";
import type { InstanceState } from "../cloud/instance-records.js";

/**
 * Waiting on instances as an EC2 client does, through any endpoint (amiboot
 * serve or EC2 itself): DescribeInstanceStatus polled until every instance
 * is running, has its status ok (the marker seen), is stopped or terminated.
 * The CLI, the bench's endpoint runner and the tests share it. In-process
 * callers wait on the instances' events instead (`Instances.waitFor`).
 */

export type { InstanceGoal } from "../cloud/instance-events.js";

export interface InstanceWaitOptions {
  /** Default 300 s: then BootTimeout (running, status ok) or WaitTimeout (stopped, terminated). */
  timeoutMs?: number;
  /** performance.now() when the clock of `timeoutMs` started (e.g. before RunInstances); default: now. */
  since?: number;
  /** Between two polls; default 250 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
  /** Called with every instance's status on each poll where one of them changed. */
  onChange?: (statuses: WaitStatus[]) => void;
}

/** One instance as the waiter last saw it. */
export interface WaitStatus {
  instanceId: string;
  state: InstanceState | undefined;
  /** performance.now() when the instance was first seen at the goal. */
  reachedAt?: number;
}

const OP = "client.waitForInstances";

/**
 * Resolves when every instance in `ids` has reached `until`, with when each
 * got there; rejects with InstanceFailed (and the instance's StateReason)
 * when one ends on the way (stopped or terminated before running, or
 * terminated before stopped), with a timeout error, or with the signal's
 * reason.
 */
export async function waitForInstances(client: EC2Client, ids: string[], until: InstanceGoal, options: InstanceWaitOptions = {}): Promise<WaitStatus[]> {
  try {
    return await poll(client, ids, until, options);
  } catch (err) {
    if (options.signal?.aborted) throw abortError(options.signal, OP);
    throw err;
  }
}

async function poll(client: EC2Client, ids: string[], until: InstanceGoal, options: InstanceWaitOptions): Promise<WaitStatus[]> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const end = (options.since ?? performance.now()) + timeoutMs;
  const seen = new Map<string, WaitStatus>(ids.map((id) => [id, { instanceId: id, state: undefined }]));
  let last = "";
  for (;;) {
    if (options.signal?.aborted) throw abortError(options.signal, OP);
    const statuses = (await client.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, IncludeAllInstances: true }), { abortSignal: options.signal })).InstanceStatuses ?? [];
    const now = performance.now();
    for (const s of statuses) {
      const w = seen.get(s.InstanceId ?? "");
      if (!w) continue;
      w.state = s.InstanceState?.Name as InstanceState | undefined;
      if (w.reachedAt !== undefined) continue;
      if (await reachedNow(client, s, until)) w.reachedAt = now;
    }
    const list = [...seen.values()];
    const line = list.map((w) => `${w.state}${w.reachedAt !== undefined ? "+" : ""}`).join(",");
    if (line !== last) options.onChange?.(list.map((w) => ({ ...w })));
    last = line;
    if (list.every((w) => w.reachedAt !== undefined)) return list;
    if (performance.now() >= end) throw waitTimeout(list.filter((w) => w.reachedAt === undefined).map((w) => w.instanceId), until, timeoutMs, OP);
    await sleep(Math.min(options.intervalMs ?? 250, Math.max(0, end - performance.now())), undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** The goal test of instance-events.ts on an endpoint's answer; an instance that ended is described for its StateReason. */
async function reachedNow(client: EC2Client, s: InstanceStatus, until: InstanceGoal): Promise<boolean> {
  const state = s.InstanceState?.Name as InstanceState | undefined;
  const p = progress(state, s.InstanceStatus?.Status === "ok", until);
  if (p !== "ended") return p === "reached";
  const i = (await client.send(new DescribeInstancesCommand({ InstanceIds: [s.InstanceId!] }))).Reservations?.[0]?.Instances?.[0];
  throw endedError(s.InstanceId!, state, i?.StateReason?.Message, OP);
}
