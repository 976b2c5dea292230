/**
 * Worker entry point: runs one VM in v86 from a boot plan, streams its
 * serial console over the task's port, and ends it on --until, power-off,
 * a final halt, a kernel that refuses the CPU, a stop request or the timeout.
 */
import { ConsoleLines } from "../src/boot/console-lines.js";
import { TextScreen } from "../src/boot/text-screen.js";
import { BootTimer, kernelRefusal, type Milestone } from "../src/boot/timer.js";
import { precompileWasm, Vm, type VmHooks } from "../src/boot/vm.js";
import { NetworkServices } from "../src/boot/network-services.js";
import { writeFileAtomically } from "../src/durable-file.js";
import fs from "node:fs";
import { Ec2Error } from "../src/errors.js";
import type { BootOutcome, BootTask, HostMessage, WorkerMessage, WorkerReport } from "../src/pool/protocol.js";
import type { BootPlan, PvKernel } from "../src/boot/plan.js";
import type { MessagePort } from "node:worker_threads";

/** How often the worker looks at the CPU, the screen and the clock. */
const POLL_MS = 20;

// A pooled thread compiles v86 once, before its first VM: later VMs start warm.
void precompileWasm();

export default async function boot(task: BootTask): Promise<WorkerReport> {
  if ("plan" in task) return run(task.plan, task.port);
  const { port } = task;
  const { vm, ready } = Vm.prepare(task.standby);
  // Its launch, or a stop (the pool dropped it) while it restored or waited.
  const next = new Promise<HostMessage>((resolve) => {
    const onMessage = (m: HostMessage) => {
      if (m.type !== "launch" && m.type !== "stop") return;
      port.off("message", onMessage);
      resolve(m);
    };
    port.on("message", onMessage);
  });
  void ready.then(() => port.postMessage({ type: "standby-ready" } satisfies WorkerMessage));
  const m = await next;
  if (m.type !== "launch") {
    await vm.destroy();
    return { outcome: "stopped", milestones: [], elapsedMs: 0, screen: [] };
  }
  // At once, so that the launch's listener is on the port before any later message (a stop, input) arrives.
  return run(m.plan, port, { vm, ready });
}

/** One VM from `plan`: a new machine, or a standby's (`prepared`), which runs once it is restored. */
function run(plan: BootPlan, port: MessagePort, prepared?: { vm: Vm; ready: Promise<void> }): Promise<WorkerReport> {
  const post = (m: WorkerMessage) => port.postMessage(m);
  post({ type: "started" });

  const timer = new BootTimer(plan.until);
  const lines = new ConsoleLines();
  const screen = new TextScreen();
  let pending: number[] = [];
  let flushScheduled = false;

  return new Promise<WorkerReport>((resolve) => {
    let vm: Vm | undefined;
    let network: Promise<NetworkServices | undefined> = Promise.resolve(undefined);
    let ended = false;
    let poll: NodeJS.Timeout | undefined;

    const flush = () => {
      flushScheduled = false;
      if (pending.length === 0) return;
      post({ type: "console", bytes: Uint8Array.from(pending) });
      pending = [];
    };

    const end = (outcome: BootOutcome, error?: Ec2Error) => {
      if (ended) return;
      ended = true;
      clearInterval(poll);
      flush();
      port.off("message", onHostMessage);
      const report: WorkerReport = {
        outcome,
        milestones: timer.milestones,
        elapsedMs: Math.round(timer.elapsedMs()),
        screen: screen.lines(),
        ...(error ? { error: error.toJSON() } : {}),
      };
      const done = () => {
        post({ type: "end", report });
        resolve(report);
      };
      // The instance's host ports close with it.
      const closeNetwork = network.then((n) => n?.close()).catch(() => {});
      if (vm) {
        const machine = vm;
        void closeNetwork.then(() => machine.destroy()).then(done, done);
      } else void closeNetwork.then(done);
    };

    const noteMilestones = (found: Milestone[]) => {
      for (const m of found) {
        post({ type: "milestone", milestone: m });
        if (m.name === "until" && plan.captureState) captureState(plan.captureState);
        if (m.name === "until" && !plan.keepRunning) end("until");
        else if (m.name === "poweroff") end("poweroff");
      }
    };

    const noteRefusal = (line: string) => {
      if (!kernelRefusal(line)) return;
      end(
        "error",
        new Ec2Error(
          "UnsupportedOperation",
          `the kernel in '${plan.name}' refused the CPU: "${line.trim()}". v86 emulates a 32-bit i686 CPU without long mode, so x86_64 kernels cannot boot; use an i386 image`,
          "workers.boot",
        ),
      );
    };

    /** Saves the machine at its marker for warm launches; the guest pauses for the copy. */
    const captureState = (file: string) => {
      if (fs.existsSync(file)) return;
      const t0 = performance.now();
      vm?.saveState().then(
        (state) => {
          writeFileAtomically(file, new Uint8Array(state));
          post({ type: "state-saved", path: file, bytes: state.byteLength, ms: Math.round(performance.now() - t0) });
        },
        () => {},
      );
    };

    const onHostMessage = (m: HostMessage) => {
      if (m.type === "input") vm?.send(m.bytes);
      else if (m.type === "stop") end("stopped");
      else if (m.type === "reboot") vm?.reboot();
      else if (m.type === "network") void network.then((n) => n?.update(m.update));
    };
    port.on("message", onHostMessage);

    const serialByte = (byte: number) => {
      if (ended) return;
      pending.push(byte);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
      const line = lines.pushByte(byte);
      if (line !== undefined) {
        noteMilestones(timer.line(line));
        noteRefusal(line);
      } else {
        const m = timer.partial(lines.current);
        if (m) noteMilestones([m]);
      }
    };

    try {
      const hooks: VmHooks = {
        serialByte,
        screenChar: (row, col, chr) => screen.put(row, col, chr),
        screenSize: (w, h) => screen.resize(w, h),
        // A restored guest is already at its marker: user space is reached when the machine runs.
        started: () => {
          if (plan.restoreState) noteMilestones([timer.mark("until", `restored from ${plan.restoreState}${prepared ? " ahead of the launch" : ""}`)].filter((m) => m !== undefined));
        },
      };
      if (prepared) {
        vm = prepared.vm;
        // Restored already, or soon: a launch may come while the standby still restores.
        prepared.ready.then(() => ended || prepared.vm.launch(plan, hooks)).catch((err: unknown) => end("error", startFailure(err)));
      } else vm = Vm.start(plan, hooks);
      if (plan.network) {
        const started = NetworkServices.start(vm, plan.network, (forwards) => post({ type: "forwards", forwards }), (line) => console.error(`amiboot: ${plan.name}: ${line}`));
        network = started.catch((err: unknown) => {
          end("error", err instanceof Ec2Error ? err : new Ec2Error("VmStartFailed", `the instance's network did not start: ${(err as Error).message}`, "workers.boot"));
          return undefined;
        });
      }
      // The shim ran before the VM: its choice is the boot loader's banner.
      if (plan.pv) for (const b of Buffer.from(pvBanner(plan.pv), "latin1")) serialByte(b);
    } catch (err) {
      end("error", startFailure(err));
      return;
    }

    poll = setInterval(() => {
      for (const row of screen.takeChanged()) {
        // A restored screen shows the saved machine's BIOS lines again: not this boot's milestones.
        if (plan.restoreState) continue;
        noteMilestones(timer.line(row));
        noteRefusal(row);
      }
      if (ended) return;
      if (vm!.haltedForGood()) {
        const m = timer.mark("halted", lines.tail(1)[0] ?? "");
        if (m) post({ type: "milestone", milestone: m });
        end("halted");
      } else if (plan.timeoutMs > 0 && timer.elapsedMs() > plan.timeoutMs) {
        end("timeout");
      }
    }, POLL_MS);
  });
}

function startFailure(err: unknown): Ec2Error {
  return err instanceof Ec2Error ? err : new Ec2Error("VmStartFailed", (err as Error).message, "boot.vmStart");
}

/** What PV-GRUB would print: the entry it boots, from where, and why it fell back. */
function pvBanner(pv: PvKernel): string {
  const lines = [`amiboot PV-GRUB shim: booting entry ${pv.entry.index} '${pv.entry.title}' from ${pv.menuPath}`, ...pv.notes.map((n) => `amiboot PV-GRUB shim: ${n}`)];
  return lines.map((l) => `${l}\r\n`).join("");
}
