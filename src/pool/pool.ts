import { EventEmitter } from "node:events";
import os from "node:os";
import v8 from "node:v8";
import { MessageChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { ConsoleLines } from "../boot/console-lines.js";
import { defined } from "../defined.js";
import type { BootPlan } from "../boot/plan.js";
import type { Milestone } from "../boot/timer.js";
import { Ec2Error } from "../errors.js";
import type { NetworkUpdate, PortForwardStatus } from "../net/network-plan.js";
import {
  SUCCESSFUL_OUTCOMES,
  type BootOutcome,
  type BootTask,
  type HostMessage,
  type WorkerMessage,
  type WorkerReport,
} from "./protocol.js";
import { workerFile } from "./worker-file.js";

export interface BootPoolOptions {
  /** Boots that run at once; more wait in the queue. Default: the number of cores. */
  maxThreads: number;
  /** V8 heap limit of each worker in MiB (guest memory is outside it). Default 512. */
  workerHeapMb: number;
  /** How long after a boot's own timeout the pool ends its worker by force. Default 5000. */
  graceMs: number;
  /**
   * V8 young generation of each worker in MiB. Default 4: v86 allocates
   * little on the JS heap, and V8's larger default cost a running instance
   * about 15 MiB more RSS (measured with `amiboot bench --memory 4`) for no
   * boot time gained.
   */
  workerYoungGenerationMb: number;
}

/** The end of one boot, as callers see it. */
export interface BootResult {
  name: string;
  mode: BootPlan["mode"];
  outcome: BootOutcome;
  ok: boolean;
  milestones: Milestone[];
  /** VM running time, from its start to its end. */
  elapsedMs: number;
  /** Time spent waiting for a free worker. */
  queuedMs: number;
  /** The last serial console lines. */
  console: string[];
  /** The guest's text screen, when anything was written there. */
  screen: string[];
  error?: Ec2Error;
}

export interface BootRunEvents {
  started: [];
  console: [bytes: Uint8Array];
  milestone: [milestone: Milestone];
  "state-saved": [saved: { path: string; bytes: number; ms: number }];
  forwards: [forwards: PortForwardStatus[]];
}

export function poolOptions(input: Partial<BootPoolOptions> = {}): BootPoolOptions {
  const o: BootPoolOptions = { maxThreads: os.availableParallelism(), workerHeapMb: 512, graceMs: 5000, workerYoungGenerationMb: 4, ...defined(input) };
  if (!Number.isInteger(o.maxThreads) || o.maxThreads < 1 || o.maxThreads > 64) {
    throw new RangeError(`options.maxThreads must be an integer from 1 to 64, got ${String(input.maxThreads)}`);
  }
  if (!Number.isInteger(o.workerHeapMb) || o.workerHeapMb < 64) {
    throw new RangeError(`options.workerHeapMb must be an integer >= 64, got ${String(input.workerHeapMb)}`);
  }
  if (!Number.isInteger(o.workerYoungGenerationMb) || o.workerYoungGenerationMb < 1 || o.workerYoungGenerationMb > 256) {
    throw new RangeError(`options.workerYoungGenerationMb must be an integer from 1 to 256, got ${String(input.workerYoungGenerationMb)}`);
  }
  if (!Number.isInteger(o.graceMs) || o.graceMs < 0) {
    throw new RangeError(`options.graceMs must be an integer >= 0, got ${String(input.graceMs)}`);
  }
  return o;
}

/**
 * V8 compiles v86's own wasm, and the wasm v86 generates for hot guest code,
 * with its baseline compiler only. By default V8 compiles every module twice
 * (Liftoff, then TurboFan for hot functions) on background threads: a cold
 * HVM boot then kept 1.6 cores busy for the same boot time (user CPU 17.3 s
 * vs 11.8 s for a 10.5 s boot, `amiboot boot`), and two boots at once took
 * 1.64x as long as one instead of 1.33x (`amiboot bench --concurrency 1,2`,
 * before idle guests slept).
 * The flag is process-wide and applies to modules compiled after it is set.
 */
function compileWasmWithBaselineOnly(): void {
  v8.setFlagsFromString("--liftoff-only");
}

/** A piscina pool of boot workers: one VM per task. */
export class BootPool {
  readonly options: BootPoolOptions;
  private readonly piscina: Piscina<BootTask, WorkerReport>;

  constructor(options: Partial<BootPoolOptions> = {}) {
    this.options = poolOptions(options);
    compileWasmWithBaselineOnly();
    this.piscina = new Piscina({
      filename: workerFile("boot.worker", "pool.bootPool"),
      minThreads: 0,
      maxThreads: this.options.maxThreads,
      idleTimeout: 30_000,
      // One VM per worker at a time: v86 runs its own event loop slices.
      concurrentTasksPerWorker: 1,
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapMb, maxYoungGenerationSizeMb: this.options.workerYoungGenerationMb },
    });
  }

  /** Starts a boot; it waits in the queue while every worker is busy. */
  boot(plan: BootPlan, options: { signal?: AbortSignal } = {}): BootRun {
    return new BootRun(this.piscina, plan, this.options.graceMs, options.signal);
  }

  async close(): Promise<void> {
    await this.piscina.close({ force: true });
  }
}

/** One boot in flight: its console and milestones as events, its end as `result`. */
export class BootRun extends EventEmitter<BootRunEvents> {
  readonly result: Promise<BootResult>;
  private readonly port;
  private readonly lines = new ConsoleLines();
  private readonly milestones: Milestone[] = [];
  private readonly submittedAt = performance.now();
  private startedAt: number | undefined;

  constructor(piscina: Piscina<BootTask, WorkerReport>, private readonly plan: BootPlan, graceMs: number, signal?: AbortSignal) {
    super();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    // The pool's own deadline, for a worker too busy to end its VM itself.
    const hard = new AbortController();
    const deadline = plan.timeoutMs > 0 ? plan.timeoutMs + graceMs : 0;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const signals = signal ? AbortSignal.any([signal, hard.signal]) : hard.signal;

    const ended = new Promise<WorkerReport>((resolve) => {
      port1.on("message", (m: WorkerMessage) => {
        switch (m.type) {
          case "started":
            this.startedAt = performance.now();
            if (deadline) deadlineTimer = setTimeout(() => hard.abort(), deadline);
            this.emit("started");
            break;
          case "console":
            this.lines.push(m.bytes);
            this.emit("console", m.bytes);
            break;
          case "milestone":
            this.milestones.push(m.milestone);
            this.emit("milestone", m.milestone);
            break;
          case "state-saved":
            this.emit("state-saved", { path: m.path, bytes: m.bytes, ms: m.ms });
            break;
          case "forwards":
            this.emit("forwards", m.forwards);
            break;
          case "end":
            resolve(m.report);
            break;
        }
      });
    });
    const task = piscina.run({ plan, port: port2 }, { transferList: [port2] as never, signal: signals });

    this.result = Promise.race([ended, task.then(() => ended)])
      .then(
        (report) => this.finish(report),
        (err: Error) => {
          const aborted = err.name === "AbortError";
          const outcome: BootOutcome = !aborted ? "error" : hard.signal.aborted ? "timeout" : "aborted";
          return this.finish({ outcome, milestones: this.milestones, elapsedMs: this.runningMs(), screen: [] }, aborted ? undefined : err);
        },
      )
      .finally(() => {
        clearTimeout(deadlineTimer);
        port1.close();
      });
    // An unhandled rejection here would crash the host; `result` carries the error.
    task.catch(() => {});
  }

  /** Bytes or text for the guest's serial port. */
  send(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    this.port.postMessage({ type: "input", bytes } satisfies HostMessage);
  }

  /** Resets the machine: the guest boots again with the same disks (instance-store data kept). */
  reboot(): void {
    this.port.postMessage({ type: "reboot" } satisfies HostMessage);
  }

  /** Changes a running VM's network: its port forwards, its metadata options. */
  network(update: NetworkUpdate): void {
    this.port.postMessage({ type: "network", update } satisfies HostMessage);
  }

  /** Ends the VM cleanly; the boot ends with outcome "stopped". */
  stop(): void {
    this.port.postMessage({ type: "stop" } satisfies HostMessage);
  }

  private runningMs(): number {
    return this.startedAt === undefined ? 0 : Math.round(performance.now() - this.startedAt);
  }

  private finish(report: WorkerReport, crash?: Error): BootResult {
    const console = this.lines.tail();
    const queuedMs = Math.round((this.startedAt ?? performance.now()) - this.submittedAt);
    const result: BootResult = {
      name: this.plan.name,
      mode: this.plan.mode,
      outcome: report.outcome,
      ok: SUCCESSFUL_OUTCOMES.includes(report.outcome),
      milestones: report.milestones,
      elapsedMs: report.elapsedMs,
      queuedMs,
      console,
      screen: report.screen,
    };
    const error = report.error ? Ec2Error.from(report.error) : this.failure(report, crash);
    if (error) result.error = withConsole(error, report.error ? [] : console.length ? console : report.screen);
    return result;
  }

  private failure(report: WorkerReport, crash?: Error): Ec2Error | undefined {
    const secs = (this.plan.timeoutMs / 1000).toString();
    switch (report.outcome) {
      case "timeout":
        return new Ec2Error(
          "BootTimeout",
          this.plan.until
            ? `'${this.plan.name}' did not show '${this.plan.until}' within ${secs} s`
            : `'${this.plan.name}' neither powered off nor halted within ${secs} s`,
          "pool.boot",
        );
      case "aborted":
        return new Ec2Error("BootAborted", `the boot of '${this.plan.name}' was stopped after ${(this.runningMs() / 1000).toFixed(1)} s`, "pool.boot");
      case "error":
        return new Ec2Error("WorkerCrashed", `the worker booting '${this.plan.name}' crashed: ${crash?.message ?? "unknown error"}`, "pool.boot");
      default:
        return undefined;
    }
  }
}

/** Appends the last console lines to a failure's message: they usually say why. */
function withConsole(error: Ec2Error, lines: string[]): Ec2Error {
  const last = lines.filter((l) => l.trim()).slice(-3);
  if (last.length === 0) return error;
  return new Ec2Error(error.code, `${error.message}; last console lines: ${last.map((l) => JSON.stringify(l)).join(" / ")}`, error.op);
}
