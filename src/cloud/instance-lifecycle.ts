import { Ec2Error } from "../errors.js";
import type { Instance, InstanceRecords, InstanceState, StateReason } from "./instance-records.js";

/**
 * EC2's instance state machine as one table, state x event, and the one
 * place that changes an instance's state. A user's event that a state does
 * not allow is EC2's `IncorrectInstanceState` (or `UnsupportedOperation`
 * for stopping and starting instance store); an event of the VM's that a
 * state does not expect (a VM starting under a stop) changes nothing.
 */

/** The launch event: RunInstances stores a new instance in this state (its VM waits for a boot slot). */
export const LAUNCH_STATE: InstanceState = "pending";

/** Why a VM ended: decides the state its instance ends in. */
export type VmEnd = "user-stop" | "terminate" | "pause" | "guest-power-off" | "failure" | "server-stop";

export type LifecycleEvent =
  /** The VM began to run (RunInstances and StartInstances begin pending). */
  | { type: "vm-started" }
  | { type: "stop" }
  | { type: "start" }
  /** `vm`: the instance has a VM to end first (shutting-down), else it is terminated at once. */
  | { type: "terminate"; vm: boolean }
  | { type: "reboot" }
  | { type: "console-input" }
  | { type: "create-image" }
  /** CreateImage stops the guest for a consistent state, and starts it again after. */
  | { type: "pause" }
  | { type: "vm-ended"; why: VmEnd; error?: StateReason }
  /** The server starts after one that stopped without ending its VMs. */
  | { type: "recover" };

type EventType = LifecycleEvent["type"];
type EventOf<T extends EventType> = Extract<LifecycleEvent, { type: T }>;

export interface Next {
  state: InstanceState;
  reason?: StateReason;
}

/** Where an event leads from a state: a state, or one worked out from the instance and the event. */
type Rule<T extends EventType> = InstanceState | ((i: Instance, e: EventOf<T>) => Next);

interface Row<T extends EventType> {
  from: Partial<Record<InstanceState, Rule<T>>>;
  /** In any other state: EC2's error, or (for the VM's own events) nothing happens. */
  otherwise: "ignore" | ((i: Instance, op: string) => Ec2Error);
  /** Only EBS-backed instances take the event (EC2's UnsupportedOperation, whatever the state). */
  ebsOnly?: (i: Instance, op: string) => Ec2Error;
}

export const USER_SHUTDOWN: StateReason = { code: "Client.UserInitiatedShutdown", message: "Client.UserInitiatedShutdown: User initiated shutdown" };
export const GUEST_SHUTDOWN: StateReason = { code: "Client.InstanceInitiatedShutdown", message: "Client.InstanceInitiatedShutdown: Instance initiated shutdown" };
export const SERVER_STOPPED: StateReason = { code: "Server.InternalError", message: "Server.InternalError: the amiboot server stopped while the instance was running" };

const incorrect = (what: string) => (i: Instance, op: string) => new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' ${what}`, op);
const notRunning = (i: Instance, op: string) => new Ec2Error("IncorrectInstanceState", `The instance '${i.instanceId}' is not in the 'running' state (it is ${i.state}).`, op);
const notEbs = (what: string) => (i: Instance, op: string) => new Ec2Error("UnsupportedOperation", `The instance '${i.instanceId}' does not have an 'ebs' root device type${what}`, op);

/**
 * A VM that ended: a user's stop or CreateImage's pause -> stopped; a
 * terminate -> terminated; the guest powering off, a failure or a server
 * stop -> stopped for EBS, terminated for instance store (which cannot stop);
 * the guest powering off an EBS instance whose shutdown behavior is
 * `terminate` -> terminated.
 */
function ended(i: Instance, why: VmEnd, error?: StateReason): Next {
  if (why === "user-stop" || why === "pause") return { state: "stopped", reason: USER_SHUTDOWN };
  if (why === "terminate") return { state: "terminated", reason: USER_SHUTDOWN };
  const reason = why === "server-stop" ? SERVER_STOPPED : why === "failure" ? (error ?? SERVER_STOPPED) : GUEST_SHUTDOWN;
  // The guest's own power-off follows instanceInitiatedShutdownBehavior.
  const stops = i.rootDeviceType === "ebs" && !(why === "guest-power-off" && i.attributes.shutdownBehavior === "terminate");
  return { state: stops ? "stopped" : "terminated", reason };
}

const terminate: Rule<"terminate"> = (_i, e) => (e.vm ? { state: "shutting-down" } : { state: "terminated", reason: USER_SHUTDOWN });
const vmEnded: Rule<"vm-ended"> = (i, e) => ended(i, e.why, e.error);

/** The table. Staying in the same state is allowed and changes nothing (EC2 answers with the state as it is). */
export const TRANSITIONS: { [T in EventType]: Row<T> } = {
  "vm-started": { from: { pending: "running" }, otherwise: "ignore" },
  stop: {
    from: { pending: "stopping", running: "stopping", stopping: "stopping", stopped: "stopped" },
    otherwise: incorrect("is not in a state from which it can be stopped."),
    ebsOnly: notEbs(" and cannot be stopped."),
  },
  start: {
    from: { stopped: "pending", pending: "pending", running: "running" },
    otherwise: incorrect("is not in a state from which it can be started."),
    ebsOnly: notEbs(" and cannot be started."),
  },
  terminate: {
    from: { pending: terminate, running: terminate, stopping: terminate, stopped: terminate, "shutting-down": "shutting-down", terminated: "terminated" },
    otherwise: "ignore",
  },
  reboot: { from: { running: "running" }, otherwise: notRunning },
  "console-input": { from: { running: "running" }, otherwise: notRunning },
  "create-image": {
    from: { running: "running", stopped: "stopped" },
    otherwise: (i, op) => incorrect(`is not in a state from which an image can be created (it is ${i.state}).`)(i, op),
    ebsOnly: notEbs("; bundle an instance-store instance instead."),
  },
  pause: { from: { running: "stopping" }, otherwise: "ignore" },
  "vm-ended": { from: { pending: vmEnded, running: vmEnded, stopping: vmEnded, "shutting-down": vmEnded, stopped: vmEnded }, otherwise: "ignore" },
  recover: {
    from: {
      pending: (i) => ended(i, "server-stop"),
      running: (i) => ended(i, "server-stop"),
      stopping: (i) => ended(i, "server-stop"),
      "shutting-down": (i) => ended(i, "terminate"),
    },
    otherwise: "ignore",
  },
};

/**
 * Where `event` takes `i`: the next state (with its reason), undefined when
 * the event changes nothing in this state, or EC2's error when it is refused.
 */
export function transition(i: Instance, event: LifecycleEvent, op: string): Next | undefined {
  const row = TRANSITIONS[event.type] as Row<EventType>;
  if (row.ebsOnly && i.rootDeviceType !== "ebs") throw row.ebsOnly(i, op);
  const rule = row.from[i.state];
  if (rule === undefined) {
    if (row.otherwise === "ignore") return undefined;
    throw row.otherwise(i, op);
  }
  return typeof rule === "string" ? { state: rule } : rule(i, event);
}

/** A state change as the Stop/Start/TerminateInstances answers list it. */
export interface StateChange {
  instanceId: string;
  previous: InstanceState;
  current: InstanceState;
}

/** A state change as the listeners hear it (instance-events.ts' `state`). */
export interface StateEvent {
  instanceId: string;
  previous: InstanceState;
  current: InstanceState;
  reason?: StateReason;
}

/** Applies the table to stored instances and tells the listeners. */
export class InstanceLifecycle {
  constructor(
    private readonly records: InstanceRecords,
    private readonly changed: (e: StateEvent) => void,
  ) {}

  /** Throws EC2's error if `event` is refused in `i`'s state; changes nothing. */
  check(i: Instance, event: LifecycleEvent, op: string): void {
    transition(i, event, op);
  }

  /** Moves `i` (as stored now) by `event`; a refused event throws, an ignored one returns no change. */
  apply(instanceId: string, event: LifecycleEvent, op: string): StateChange {
    const i = this.records.byId(instanceId);
    if (!i) throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${instanceId}' does not exist`, op);
    const next = transition(i, event, op);
    if (!next || (next.state === i.state && next.reason === undefined)) return { instanceId, previous: i.state, current: i.state };
    this.records.setState(instanceId, next.state, next.reason);
    this.changed({ instanceId, previous: i.state, current: next.state, ...(next.reason ? { reason: next.reason } : {}) });
    return { instanceId, previous: i.state, current: next.state };
  }
}

/** DescribeInstanceStatus' answer for an instance: its checks and their summary. */
export interface InstanceStatus {
  system: "ok" | "not-applicable";
  instance: "ok" | "initializing" | "not-applicable";
  /** The reachability check of each. */
  systemReachability: "passed" | "not-applicable";
  instanceReachability: "passed" | "initializing" | "not-applicable";
}

/** The instance status check passes once the running guest has shown the user-space marker (the `until` milestone). */
export function instanceStatus(i: Pick<Instance, "state" | "milestones">): InstanceStatus {
  if (i.state !== "running") return { system: "not-applicable", instance: "not-applicable", systemReachability: "not-applicable", instanceReachability: "not-applicable" };
  const reached = i.milestones.some((m) => m.name === "until");
  return { system: "ok", instance: reached ? "ok" : "initializing", systemReachability: "passed", instanceReachability: reached ? "passed" : "initializing" };
}
