import { Piscina } from "piscina";
import type { PvKernel, PvKernelTask } from "../boot/pv-kernel.js";
import { Ec2Error, type Ec2ErrorShape } from "../errors.js";
import { workerFile } from "./worker-file.js";

/**
 * The planner: the PV part of a boot plan (PV-GRUB reading an untrusted root
 * disk, the kernel and initrd unpacking) runs in one worker thread
 * (workers/plan.worker.ts), so a server's thread keeps answering requests
 * meanwhile. The thread starts on the first PV plan and ends when idle; an
 * idle thread is unref'd, so it never keeps a process alive.
 *
 * Bounded: plans run one at a time, each within TIME_LIMIT_MS (a disk built
 * to make the readers spin ends the thread: `InvalidDiskImage.Timeout`), and
 * the thread's heap is capped (the readers' byte counts are bounded
 * themselves; guestfs/).
 */
const TIME_LIMIT_MS = 60_000;
const HEAP_MB = 256;

/** What the worker answers: the kernel (its buffers transferred, not copied) or the error, code and message intact. */
export type PvAnswer = { pv: PvKernel } | { error: Ec2ErrorShape };

let piscina: Piscina<PvKernelTask, PvAnswer> | undefined;
/** The plan before this one: each waits for it, so its time limit counts only its own run. */
let tail: Promise<unknown> = Promise.resolve();

export function planPvKernel(task: PvKernelTask, options: { timeLimitMs?: number } = {}): Promise<PvKernel> {
  const run = tail.then(() => runOne(task, options.timeLimitMs ?? TIME_LIMIT_MS));
  tail = run.catch(() => {});
  return run;
}

async function runOne(task: PvKernelTask, timeLimitMs: number): Promise<PvKernel> {
  const op = "pool.planPv";
  piscina ??= new Piscina({
    filename: workerFile("plan.worker", op),
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 10_000,
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 16 },
  });
  const limit = new AbortController();
  const timer = setTimeout(() => limit.abort(), timeLimitMs);
  let answer: PvAnswer;
  try {
    // An abort ends the worker thread itself (piscina terminates it): nothing of the plan runs on.
    answer = await piscina.run(task, { signal: limit.signal });
  } catch (err) {
    if (limit.signal.aborted) {
      throw new Ec2Error(
        "InvalidDiskImage.Timeout",
        `PV-GRUB's reading of '${task.name}' (menu.lst, kernel, initrd) took more than ${timeLimitMs / 1000} s; the disk is damaged or built to hang its reader`,
        op,
      );
    }
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ERR_WORKER_OUT_OF_MEMORY" ? `it needed more than ${HEAP_MB} MiB of heap` : e.message;
    throw new Ec2Error("WorkerCrashed", `the worker running PV-GRUB on '${task.name}' crashed: ${why}`, op);
  } finally {
    clearTimeout(timer);
  }
  if ("error" in answer) throw Ec2Error.from(answer.error);
  return answer.pv;
}
