import { describe, expect, it } from "vitest";
import { endedError, InstanceEvents, progress, waitForInstance } from "../../src/cloud/instance-events.js";
import { GUEST_SHUTDOWN, instanceStatus, SERVER_STOPPED, transition, USER_SHUTDOWN, type LifecycleEvent } from "../../src/cloud/instance-lifecycle.js";
import { DEFAULT_ATTRIBUTES } from "../../src/cloud/instance-attributes.js";
import type { Instance, InstanceState } from "../../src/cloud/instance-records.js";
import { Ec2Error } from "../../src/errors.js";

const ID = "i-0123456789abcdef0";
const STATES: InstanceState[] = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"];

function instance(state: InstanceState, rootDeviceType: "ebs" | "instance-store" = "ebs", milestones: Instance["milestones"] = []): Instance {
  return {
    instanceId: ID,
    reservationId: "r-0123456789abcdef0",
    region: "us-east-1",
    ownerId: "123456789012",
    imageId: "ami-0123456789abcdef0",
    instanceType: "t1.micro",
    launchIndex: 0,
    state,
    architecture: "i386",
    virtualizationType: "hvm",
    rootDeviceType,
    rootDeviceName: "/dev/sda1",
    devices: [],
    memoryMiB: 64,
    launchTime: "2026-01-01T00:00:00.000Z",
    milestones,
    tags: [],
    attributes: { ...DEFAULT_ATTRIBUTES },
  };
}

/** The next state of every state for an event, "-" when nothing changes, or the error's code and message. */
function row(event: LifecycleEvent, root: "ebs" | "instance-store" = "ebs"): Record<string, string> {
  return Object.fromEntries(
    STATES.map((s) => {
      try {
        return [s, transition(instance(s, root), event, "Test")?.state ?? "-"];
      } catch (err) {
        return [s, `${(err as Ec2Error).code}: ${(err as Ec2Error).message}`];
      }
    }),
  );
}

const incorrect = (what: string) => `IncorrectInstanceState: The instance '${ID}' ${what}`;

describe("the instance state machine", () => {
  it("StopInstances: pending and running go stopping; stopped stays; shutting-down and terminated are refused", () => {
    const refused = incorrect("is not in a state from which it can be stopped.");
    expect(row({ type: "stop" })).toEqual({ pending: "stopping", running: "stopping", stopping: "stopping", stopped: "stopped", "shutting-down": refused, terminated: refused });
    const unsupported = `UnsupportedOperation: The instance '${ID}' does not have an 'ebs' root device type and cannot be stopped.`;
    expect(new Set(Object.values(row({ type: "stop" }, "instance-store"))) ).toEqual(new Set([unsupported]));
  });

  it("StartInstances: stopped goes pending; stopping, shutting-down and terminated are refused", () => {
    const refused = incorrect("is not in a state from which it can be started.");
    expect(row({ type: "start" })).toEqual({ pending: "pending", running: "running", stopping: refused, stopped: "pending", "shutting-down": refused, terminated: refused });
    expect(row({ type: "start" }, "instance-store").stopped).toBe(`UnsupportedOperation: The instance '${ID}' does not have an 'ebs' root device type and cannot be started.`);
  });

  it("TerminateInstances: with a VM to end, shutting-down; without, terminated; never refused", () => {
    expect(row({ type: "terminate", vm: true })).toEqual({ pending: "shutting-down", running: "shutting-down", stopping: "shutting-down", stopped: "shutting-down", "shutting-down": "shutting-down", terminated: "terminated" });
    expect(row({ type: "terminate", vm: false })).toMatchObject({ stopped: "terminated", pending: "terminated" });
    expect(transition(instance("stopped"), { type: "terminate", vm: false }, "Test")).toEqual({ state: "terminated", reason: USER_SHUTDOWN });
  });

  it("RebootInstances, console input and CreateImage are checks that change nothing", () => {
    const notRunning = (s: InstanceState) => incorrect(`is not in the 'running' state (it is ${s}).`);
    expect(row({ type: "reboot" })).toEqual({ pending: notRunning("pending"), running: "running", stopping: notRunning("stopping"), stopped: notRunning("stopped"), "shutting-down": notRunning("shutting-down"), terminated: notRunning("terminated") });
    expect(row({ type: "console-input" }).running).toBe("running");
    const noImage = (s: InstanceState) => incorrect(`is not in a state from which an image can be created (it is ${s}).`);
    expect(row({ type: "create-image" })).toEqual({ pending: noImage("pending"), running: "running", stopping: noImage("stopping"), stopped: "stopped", "shutting-down": noImage("shutting-down"), terminated: noImage("terminated") });
    expect(row({ type: "create-image" }, "instance-store").running).toBe(`UnsupportedOperation: The instance '${ID}' does not have an 'ebs' root device type; bundle an instance-store instance instead.`);
  });

  it("the VM's own events: started only moves pending; its end settles by why", () => {
    expect(row({ type: "vm-started" })).toEqual({ pending: "running", running: "-", stopping: "-", stopped: "-", "shutting-down": "-", terminated: "-" });
    expect(row({ type: "pause" })).toMatchObject({ running: "stopping", stopped: "-" });
    const end = (why: Extract<LifecycleEvent, { type: "vm-ended" }>["why"], root: "ebs" | "instance-store" = "ebs", state: InstanceState = "running") =>
      transition(instance(state, root), { type: "vm-ended", why, ...(why === "failure" ? { error: { code: "Server.InternalError", message: "boom" } } : {}) }, "Test");
    expect(end("user-stop", "ebs", "stopping")).toEqual({ state: "stopped", reason: USER_SHUTDOWN });
    expect(end("pause", "ebs", "stopping")).toEqual({ state: "stopped", reason: USER_SHUTDOWN });
    expect(end("terminate", "ebs", "shutting-down")).toEqual({ state: "terminated", reason: USER_SHUTDOWN });
    expect(end("guest-power-off")).toEqual({ state: "stopped", reason: GUEST_SHUTDOWN });
    expect(end("guest-power-off", "instance-store")).toEqual({ state: "terminated", reason: GUEST_SHUTDOWN });
    expect(end("server-stop")).toEqual({ state: "stopped", reason: SERVER_STOPPED });
    expect(end("failure", "instance-store")).toEqual({ state: "terminated", reason: { code: "Server.InternalError", message: "boom" } });
    // instanceInitiatedShutdownBehavior terminate: the guest's own power-off terminates; a user's stop still stops.
    const terminating = { ...instance("running"), attributes: { ...DEFAULT_ATTRIBUTES, shutdownBehavior: "terminate" as const } };
    expect(transition(terminating, { type: "vm-ended", why: "guest-power-off" }, "Test")).toEqual({ state: "terminated", reason: GUEST_SHUTDOWN });
    expect(transition({ ...terminating, state: "stopping" }, { type: "vm-ended", why: "user-stop" }, "Test")).toEqual({ state: "stopped", reason: USER_SHUTDOWN });
    // A terminated instance stays terminated, whatever its VM did.
    expect(end("guest-power-off", "ebs", "terminated")).toBeUndefined();
  });

  it("recovery after a restart: VMs that were running ended with the server", () => {
    expect(row({ type: "recover" })).toEqual({ pending: "stopped", running: "stopped", stopping: "stopped", stopped: "-", "shutting-down": "terminated", terminated: "-" });
    expect(row({ type: "recover" }, "instance-store")).toMatchObject({ running: "terminated" });
  });
});

describe("instance status", () => {
  it("is ok once the running guest has shown its marker", () => {
    expect(instanceStatus(instance("pending")).instance).toBe("not-applicable");
    expect(instanceStatus(instance("running"))).toEqual({ system: "ok", instance: "initializing", systemReachability: "passed", instanceReachability: "initializing" });
    expect(instanceStatus(instance("running", "ebs", [{ name: "until", ms: 1200 } as Instance["milestones"][number]])).instance).toBe("ok");
  });

  it("a wait's progress: reached, waiting, or ended for good", () => {
    expect(progress("running", false, "running")).toBe("reached");
    expect(progress("running", false, "status-ok")).toBe("waiting");
    expect(progress("stopped", false, "status-ok")).toBe("ended");
    expect(progress("terminated", false, "stopped")).toBe("ended");
    expect(progress("stopping", false, "terminated")).toBe("waiting");
    expect(endedError(ID, "stopped", undefined, "Test").message).toBe(`${ID} is stopped: no reason given`);
  });
});

describe("waitForInstance", () => {
  it("resolves on the event that reaches the goal, and fails when the instance ends first or time runs out", async () => {
    const events = new InstanceEvents();
    let current = instance("pending");
    const running = waitForInstance(events, () => current, "running", { timeoutMs: 5000 });
    current = instance("running");
    events.emit("state", { instanceId: ID, previous: "pending", current: "running" });
    expect((await running).state).toBe("running");

    const ok = waitForInstance(events, () => current, "status-ok", { timeoutMs: 5000 });
    current = { ...instance("stopped"), stateReason: GUEST_SHUTDOWN };
    events.emit("state", { instanceId: ID, previous: "running", current: "stopped" });
    await expect(ok).rejects.toMatchObject({ code: "InstanceFailed", message: `${ID} is stopped: ${GUEST_SHUTDOWN.message}` });

    await expect(waitForInstance(events, () => current, "terminated", { timeoutMs: 20 })).rejects.toMatchObject({ code: "WaitTimeout", message: `${ID} did not reach terminated within 0.02 s` });
    const controller = new AbortController();
    const aborted = waitForInstance(events, () => current, "terminated", { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(Ec2Error);
  });
});
