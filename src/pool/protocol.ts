import type { MessagePort } from "node:worker_threads";
import type { BootPlan, StandbyPlan } from "../boot/plan.js";
import type { Milestone } from "../boot/timer.js";
import type { Ec2ErrorShape } from "../errors.js";
import type { NetworkUpdate, PortForwardStatus } from "../net/network-plan.js";

/**
 * What the pool hands a worker: the plan and the port the console flows
 * over; or a standby to prepare, whose plan comes later as a "launch".
 */
export type BootTask = { plan: BootPlan; port: MessagePort } | { standby: StandbyPlan; port: MessagePort };

/** How a boot ended. The first four are successes. */
export type BootOutcome = "until" | "poweroff" | "halted" | "stopped" | "timeout" | "aborted" | "error";

export const SUCCESSFUL_OUTCOMES: readonly BootOutcome[] = ["until", "poweroff", "halted", "stopped"];

/** The worker's account of a boot, sent as its last message. */
export interface WorkerReport {
  outcome: BootOutcome;
  milestones: Milestone[];
  /** From the VM's start to its end. */
  elapsedMs: number;
  /** The guest's text screen at the end (BIOS and loader messages). */
  screen: string[];
  error?: Ec2ErrorShape;
}

/** Worker -> host, in order on the task's port. */
export type WorkerMessage =
  /** A standby's machine is restored and waits for its launch. */
  | { type: "standby-ready" }
  | { type: "started" }
  | { type: "console"; bytes: Uint8Array }
  | { type: "milestone"; milestone: Milestone }
  /** The machine's state was saved for warm launches. */
  | { type: "state-saved"; path: string; bytes: number; ms: number }
  /** The host listeners of the instance's port forwards, whenever one opens, fails or closes. */
  | { type: "forwards"; forwards: PortForwardStatus[] }
  | { type: "end"; report: WorkerReport };

/** Host -> worker. */
export type HostMessage =
  /** A standby's launch: the plan it runs as (its standby key matches). */
  | { type: "launch"; plan: BootPlan }
  | { type: "input"; bytes: Uint8Array }
  | { type: "stop" }
  | { type: "reboot" }
  | { type: "network"; update: NetworkUpdate };
