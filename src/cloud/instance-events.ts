import type { Milestone } from "../boot/timer.js";
import { Ec2Error } from "../errors.js";
import { instanceStatus, type StateEvent } from "./instance-lifecycle.js";
import type { Instance, InstanceState } from "./instance-records.js";

/** What the instances tell their listeners, like v86's `add_listener` map: an event name and its payload. */
export interface InstanceEventMap {
  /** The instance changed state (the lifecycle is the only sender). */
  state: StateEvent;
  /** The instance's VM passed a boot milestone; `until` is the user-space marker (status ok). */
  milestone: { instanceId: string; milestone: Milestone };
}

export type InstanceListener<K extends keyof InstanceEventMap> = (event: InstanceEventMap[K]) => void;

/** What a waiter waits for: a state, or running with the status check passed. */
export type InstanceGoal = "running" | "status-ok" | "stopped" | "terminated";

/** A typed emitter of instance events. A listener that throws does not stop the others or the sender. */
export class InstanceEvents {
  private readonly listeners: { [K in keyof InstanceEventMap]: Set<InstanceListener<K>> } = { state: new Set(), milestone: new Set() };

  on<K extends keyof InstanceEventMap>(name: K, listener: InstanceListener<K>): () => void {
    this.listeners[name].add(listener);
    return () => this.off(name, listener);
  }

  off<K extends keyof InstanceEventMap>(name: K, listener: InstanceListener<K>): void {
    this.listeners[name].delete(listener);
  }

  emit<K extends keyof InstanceEventMap>(name: K, event: InstanceEventMap[K]): void {
    for (const listener of [...this.listeners[name]]) {
      try {
        listener(event);
      } catch (err) {
        console.error(`amiboot: an instance ${name} listener failed: ${(err as Error).message}`);
      }
    }
  }
}

/** Where an instance stands on the way to `goal`: there, on its way, or ended (it never will get there). */
export function progress(state: InstanceState | undefined, statusOk: boolean, goal: InstanceGoal): "reached" | "waiting" | "ended" {
  if (goal === "status-ok" ? state === "running" && statusOk : state === goal) return "reached";
  const ended = goal === "running" || goal === "status-ok" ? state === "stopped" || state === "terminated" : goal === "stopped" && state === "terminated";
  return ended ? "ended" : "waiting";
}

/** The error of a wait whose instance ended on the way, with its StateReason. */
export function endedError(instanceId: string, state: InstanceState | undefined, reason: string | undefined, op: string): Ec2Error {
  return new Ec2Error("InstanceFailed", `${instanceId} is ${state}: ${reason ?? "no reason given"}`, op);
}

/** The error of a wait that ran out of time: a boot's timeout for running and status ok. */
export function waitTimeout(ids: string[], goal: InstanceGoal, timeoutMs: number, op: string): Ec2Error {
  const what = goal === "status-ok" ? "the marker" : goal;
  return new Ec2Error(goal === "running" || goal === "status-ok" ? "BootTimeout" : "WaitTimeout", `${ids.join(", ")} did not reach ${what} within ${timeoutMs / 1000} s`, op);
}

/** An aborted wait: the signal's own reason if it is ours, else BootAborted (no other error type reaches a user). */
export function abortError(signal: AbortSignal, op: string): Ec2Error {
  return signal.reason instanceof Ec2Error ? signal.reason : new Ec2Error("BootAborted", "the wait was aborted", op);
}

export interface WaitOptions {
  /** Default 300 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves with the instance once it reaches `goal`, driven by the events
 * (no polling); rejects with InstanceFailed if it ends on the way, or with
 * BootTimeout / WaitTimeout after `timeoutMs`.
 */
export function waitForInstance(events: InstanceEvents, current: () => Instance, goal: InstanceGoal, options: WaitOptions = {}): Promise<Instance> {
  const op = "cloud.waitForInstance";
  const timeoutMs = options.timeoutMs ?? 300_000;
  return new Promise<Instance>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const offs: (() => void)[] = [];
    const done = (err: unknown, i?: Instance) => {
      clearTimeout(timer);
      for (const off of offs) off();
      options.signal?.removeEventListener("abort", aborted);
      if (err) reject(err);
      else resolve(i!);
    };
    const check = () => {
      try {
        const i = current();
        const p = progress(i.state, instanceStatus(i).instance === "ok", goal);
        if (p === "reached") done(undefined, i);
        else if (p === "ended") done(endedError(i.instanceId, i.state, i.stateReason?.message, op));
      } catch (err) {
        done(err);
      }
    };
    const aborted = () => done(abortError(options.signal!, op));
    const id = current().instanceId;
    offs.push(events.on("state", (e) => e.instanceId === id && check()));
    offs.push(events.on("milestone", (e) => e.instanceId === id && check()));
    timer = setTimeout(() => done(waitTimeout([id], goal, timeoutMs, op)), timeoutMs);
    if (options.signal?.aborted) return aborted();
    options.signal?.addEventListener("abort", aborted, { once: true });
    check();
  });
}
