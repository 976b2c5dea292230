import { describe, expect, it } from "vitest";
import { measureProcess } from "../../src/benchmark/process-runners.js";
import { endMilestone, launchLabels } from "../../src/benchmark/runner.js";
import { checkOptions, DEFAULT_SUITE_OPTIONS } from "../../src/benchmark/suite-options.js";

/** A stand-in for an emulator: a Node process that writes console lines on stdout, with pauses, then exits with `status` or stays. */
const guest = (lines: [number, string][], end: "exit0" | "exit1" | "stay") =>
  [
    "-e",
    `const lines = ${JSON.stringify(lines)}; let t = 0;
     for (const [ms, text] of lines) { t += ms; setTimeout(() => process.stdout.write(text), t); }
     setTimeout(() => { if (${JSON.stringify(end)} === "exit1") process.exit(1); if (${JSON.stringify(end)} === "exit0") process.exit(0); setInterval(() => {}, 1000); }, t + 50);`,
  ];

describe("measureProcess", () => {
  it("times from spawn to the marker, even before its newline, with the milestones seen on the way", async () => {
    const s = await measureProcess(process.execPath, guest([[0, "Linux version 6.1.0\n"], [300, "Run /init as init process\n"], [300, "READY"]], "stay"), "READY", 20_000);
    expect(s.boots).toBe(1);
    expect(Object.keys(s.milestones)).toEqual(["kernel", "init", "until"]);
    expect(s.milestones.init! - s.milestones.kernel!).toBeGreaterThanOrEqual(250);
    expect(s.milestones.until! - s.milestones.init!).toBeGreaterThanOrEqual(250);
    expect(s.totalMs).toBe(s.milestones.until);
  });

  it("without a marker, times to the process ending with status 0 (the guest powered off)", async () => {
    const s = await measureProcess(process.execPath, guest([[0, "Linux version 6.1.0\n"], [300, "reboot: Power down\n"]], "exit0"), "", 20_000);
    expect(Object.keys(s.milestones)).toEqual(["kernel", "poweroff"]);
    expect(s.totalMs).toBeGreaterThanOrEqual(s.milestones.poweroff!);
    expect(s.milestones.until).toBeUndefined();
  });

  it("fails with BootFailed when the process ends before the marker, or without a marker ends with an error status", async () => {
    await expect(measureProcess(process.execPath, guest([[0, "Linux version 6.1.0\n"]], "exit0"), "READY", 20_000)).rejects.toMatchObject({ code: "BootFailed", message: expect.stringContaining("without the marker 'READY'; last lines: Linux version 6.1.0") });
    await expect(measureProcess(process.execPath, guest([[0, "panic\n"]], "exit1"), "", 20_000)).rejects.toMatchObject({ code: "BootFailed", message: expect.stringContaining("(status 1) without a power-off") });
  });

  it("fails with BootTimeout when the marker does not come in time, and kills the process", async () => {
    const t0 = performance.now();
    await expect(measureProcess(process.execPath, guest([[0, "Linux version 6.1.0\n"]], "stay"), "READY", 1500)).rejects.toMatchObject({ code: "BootTimeout", message: expect.stringContaining("'READY' not seen within 1.5 s") });
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe("the suite's cases", () => {
  it("names launch cases and picks the milestone a boot without a marker ends at", () => {
    expect(launchLabels("pv", "instance-store", true, 2)).toBe("PV, instance store, warm, 2 at once");
    expect(launchLabels("hvm", "ebs", false, 1)).toBe("HVM, EBS, cold");
    expect(endMilestone([{ name: "bios", atMs: 1 }, { name: "halted", atMs: 9 }, { name: "kernel", atMs: 5 }])).toEqual({ name: "halted", atMs: 9 });
    expect(endMilestone([{ name: "bios", atMs: 1 }, { name: "kernel", atMs: 5 }])).toEqual({ name: "kernel", atMs: 5 });
    expect(endMilestone([])).toBeUndefined();
  });

  it("refuses --warm and --memory without a marker: both need the guest to reach one", () => {
    const o = { ...DEFAULT_SUITE_OPTIONS, images: [], amis: { ids: ["ami-0123456789abcdef0"], client: {} as never }, marker: "" };
    expect(() => checkOptions(o)).not.toThrow();
    expect(() => checkOptions({ ...o, warm: true })).toThrow("--warm needs a marker");
    expect(() => checkOptions({ ...o, memory: 2 })).toThrow("--memory needs a marker");
  });

  it("refuses a standby machine count that is not an integer from 0 to 64", () => {
    const o = { ...DEFAULT_SUITE_OPTIONS, images: [], amis: { ids: ["ami-0123456789abcdef0"], client: {} as never } };
    expect(() => checkOptions({ ...o, standbyMachines: 0 })).not.toThrow();
    expect(() => checkOptions({ ...o, standbyMachines: -1 })).toThrow("standby machines must be an integer from 0 to 64, got -1");
  });
});
