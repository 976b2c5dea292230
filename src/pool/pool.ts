import { EventEmitter } from "node:events";
import os from "node:os";
import v8 from "node:v8";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { Piscina } from "piscina";
import { ConsoleLines } from "../boot/console-lines.js";
import { defined } from "../defined.js";
import { standbyKey, standbyPlan, type BootPlan, type StandbyPlan } from "../boot/plan.js";
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
  /**
   * Warm launches: how many machines to keep restored from their saved
   * states, not running, so that the next launch of each state only gives
   * one its disks and runs it (one per state; the least recently prepared
   * goes first). Each holds a worker thread and its guest's restored memory
   * while it waits, and yields its thread to any boot that needs one.
   * Default 0: none.
   */
  standbyMachines: number;
  /** A standby that no launch took for this long is dropped. Default 300000 (5 minutes). */
  standbyIdleMs: number;
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
  const o: BootPoolOptions = { maxThreads: os.availableParallelism(), workerHeapMb: 512, graceMs: 5000, workerYoungGenerationMb: 4, standbyMachines: 0, standbyIdleMs: 300_000, ...defined(input) };
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
  if (!Number.isInteger(o.standbyMachines) || o.standbyMachines < 0 || o.standbyMachines > 64) {
    throw new RangeError(`options.standbyMachines must be an integer from 0 to 64, got ${String(input.standbyMachines)}`);
  }
  if (!Number.isInteger(o.standbyIdleMs) || o.standbyIdleMs < 1 || o.standbyIdleMs > 2 ** 31 - 1) {
    throw new RangeError(`options.standbyIdleMs must be an integer from 1 to 2147483647, got ${String(input.standbyIdleMs)}`);
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

/**
 * Workers get V8's `gc()`: a machine that waits for its launch allocates
 * nothing, so V8 would keep its restore's garbage (the saved state, v86's
 * copies of its parts: about 100 MiB) for as long as it waits; the VM
 * collects once the state is in (src/boot/vm.ts). Process-wide; it counts
 * for isolates made after it is set.
 */
function exposeGcToWorkers(): void {
  v8.setFlagsFromString("--expose-gc");
}

/** A piscina pool of boot workers: one VM per task. */
export class BootPool {
  readonly options: BootPoolOptions;
  private readonly piscina: Piscina<BootTask, WorkerReport>;
  /** Prepared machines by standby key, the least recently prepared first. */
  private readonly standbys = new Map<string, Standby>();
  private running = 0;
  private closed = false;

  constructor(options: Partial<BootPoolOptions> = {}) {
    this.options = poolOptions(options);
    compileWasmWithBaselineOnly();
    exposeGcToWorkers();
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

  /**
   * Starts a boot; it waits in the queue while every worker is busy. A warm
   * launch runs on a machine prepared for its state when there is one, and
   * leaves one prepared for the next launch of its state once it has
   * reached its marker (or, booting cold, saved the state).
   */
  boot(plan: BootPlan, options: { signal?: AbortSignal } = {}): BootRun {
    const spec = this.options.standbyMachines > 0 ? standbyPlan(plan) : undefined;
    const key = spec && standbyKey(spec);
    const standby = key ? this.standbys.get(key) : undefined;
    if (standby) this.standbys.delete(key!);
    else this.yieldThread();
    const run = new BootRun(this.piscina, plan, this.options.graceMs, options.signal, standby?.take());
    this.running++;
    void run.result.finally(() => this.running--);
    if (spec) {
      const onMilestone = (m: Milestone) => {
        if (m.name !== "until") return;
        run.off("milestone", onMilestone);
        this.prepare(spec);
      };
      run.on("milestone", onMilestone);
    } else if (plan.captureState && this.options.standbyMachines > 0) {
      run.once("state-saved", (saved) => this.prepare(standbyPlan({ ...plan, restoreState: saved.path })!));
    }
    return run;
  }

  /** Resolves once every machine being prepared is ready (or gone): nothing of theirs still runs. */
  async standbysReady(): Promise<void> {
    await Promise.all([...this.standbys.values()].map((s) => s.ready));
  }

  /** The states that have a machine prepared, the least recently prepared first. */
  standbyStates(): string[] {
    return [...this.standbys.values()].map((s) => s.spec.restoreState);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.standbys.values()) s.stop();
    this.standbys.clear();
    await this.piscina.close({ force: true });
  }

  /** Prepares a machine for `spec`'s state, on a thread no boot needs, unless one is there. */
  private prepare(spec: StandbyPlan): void {
    const key = standbyKey(spec);
    // Only on a thread that no boot needs.
    if (this.closed || this.standbys.has(key) || this.running >= this.options.maxThreads) return;
    while (this.standbys.size >= this.options.standbyMachines || this.running + this.standbys.size >= this.options.maxThreads) this.dropOldest();
    const standby = new Standby(this.piscina, spec, this.options.graceMs, this.options.standbyIdleMs, () => {
      if (this.standbys.get(key) === standby) this.standbys.delete(key);
    });
    this.standbys.set(key, standby);
  }

  /** A boot that needs a thread held by a standby gets it: the least recently prepared ends. */
  private yieldThread(): void {
    if (this.standbys.size > 0 && this.running + this.standbys.size >= this.options.maxThreads) this.dropOldest();
  }

  private dropOldest(): void {
    const [key, oldest] = this.standbys.entries().next().value!;
    this.standbys.delete(key);
    oldest.stop();
  }
}

/**
 * A worker holding a machine restored from a saved state, not running,
 * until a launch takes it (`take`) or the pool drops it (`stop`). Its task
 * ends when it is dropped, or fails (a state that does not restore): either
 * way `gone` is called.
 */
class Standby {
  /** Resolves when its machine is restored and waits, or its task has ended. */
  readonly ready: Promise<void>;
  private readonly port: MessagePort;
  private readonly task: Promise<WorkerReport>;
  private readonly abort = new AbortController();
  private readonly idle: NodeJS.Timeout;

  constructor(piscina: Piscina<BootTask, WorkerReport>, readonly spec: StandbyPlan, private readonly graceMs: number, idleMs: number, gone: () => void) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.task = piscina.run({ standby: spec, port: port2 }, { transferList: [port2] as never, signal: this.abort.signal });
    this.task.then(gone, gone);
    this.ready = new Promise<void>((resolve) => {
      port1.on("message", (m: WorkerMessage) => m.type === "standby-ready" && resolve());
      this.task.then(() => resolve(), () => resolve());
    });
    this.idle = setTimeout(() => this.stop(), idleMs).unref();
  }

  /** Hands the machine to a launch: the task and port become its BootRun's. */
  take(): TakenStandby {
    clearTimeout(this.idle);
    this.port.removeAllListeners("message");
    return { port: this.port, task: this.task, abort: () => this.abort.abort() };
  }

  /** Ends the machine; a worker that does not end within the grace time is ended by force. */
  stop(): void {
    clearTimeout(this.idle);
    this.port.postMessage({ type: "stop" } satisfies HostMessage);
    setTimeout(() => this.abort.abort(), this.graceMs).unref();
    void this.task.catch(() => {}).finally(() => this.port.close());
  }
}

/** A standby's task as a launch takes it over. */
interface TakenStandby {
  port: MessagePort;
  task: Promise<WorkerReport>;
  abort(): void;
}

/** One boot in flight: its console and milestones as events, its end as `result`. */
export class BootRun extends EventEmitter<BootRunEvents> {
  readonly result: Promise<BootResult>;
  private readonly port;
  private readonly lines = new ConsoleLines();
  private readonly milestones: Milestone[] = [];
  private readonly submittedAt = performance.now();
  private startedAt: number | undefined;

  constructor(piscina: Piscina<BootTask, WorkerReport>, private readonly plan: BootPlan, graceMs: number, signal?: AbortSignal, standby?: TakenStandby) {
    super();
    const { port1, port2 } = standby ? { port1: standby.port, port2: undefined } : new MessageChannel();
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
    let task: Promise<WorkerReport>;
    if (standby) {
      // The standby's task was submitted with its own signal: this run's aborts reach it through that.
      signals.addEventListener("abort", () => standby.abort(), { once: true });
      if (signals.aborted) standby.abort();
      task = standby.task;
      port1.postMessage({ type: "launch", plan } satisfies HostMessage);
    } else task = piscina.run({ plan, port: port2! }, { transferList: [port2] as never, signal: signals });

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
