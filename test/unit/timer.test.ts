import { describe, expect, it } from "vitest";
import { BootTimer, kernelRefusal } from "../../src/boot/timer.js";

function fakeClock() {
  let now = 1000;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

describe("BootTimer", () => {
  it("records each console milestone once, with the time since the start", () => {
    const c = fakeClock();
    const t = new BootTimer(undefined, c.clock);
    c.advance(300);
    expect(t.line("Booting from Hard Disk...").map((m) => m.name)).toEqual(["bios"]);
    c.advance(100);
    expect(t.line("SYSLINUX 6.04 20210613 Copyright (C) 1994-2015 H. Peter Anvin et al").map((m) => m.name)).toEqual(["loader"]);
    c.advance(4000);
    expect(t.line("[    0.000000] Linux version 6.1.0-50-686 (debian-kernel@lists.debian.org)")[0]).toMatchObject({ name: "kernel", atMs: 4400 });
    expect(t.line("[    0.000000] Linux version 6.1.0-50-686 again")).toEqual([]);
    c.advance(3000);
    expect(t.line("[    4.09] Run /init as init process")[0]).toMatchObject({ name: "init", atMs: 7400 });
    expect(t.line("[   20.1] reboot: System halted")[0]).toMatchObject({ name: "poweroff" });
    expect(t.milestones.map((m) => m.name)).toEqual(["bios", "loader", "kernel", "init", "poweroff"]);
  });

  it("recognises the ACPI power-down line too", () => {
    expect(new BootTimer().line("[ 3.2] reboot: Power down").map((m) => m.name)).toEqual(["poweroff"]);
  });

  it("sees --until text in an unfinished line", () => {
    const t = new BootTimer("login:");
    expect(t.partial("debian log")).toBeUndefined();
    expect(t.partial("debian login:")).toMatchObject({ name: "until", text: "debian login:" });
    expect(t.partial("debian login:")).toBeUndefined();
    expect(t.line("debian login:")).toEqual([]);
  });

  it("sees --until text inside a finished line", () => {
    const t = new BootTimer("READY");
    expect(t.line("AMIBOOT-USERSPACE-READY kernel=6.1").map((m) => m.name)).toEqual(["until"]);
  });

  it("ignores lines that only look alike", () => {
    const t = new BootTimer();
    expect(t.line("echo Linux version")).toEqual([]);
    expect(t.line("Booting from the network")).toEqual([]);
  });
});

describe("kernelRefusal", () => {
  it("spots a 64-bit kernel on a 32-bit CPU", () => {
    expect(kernelRefusal("This kernel requires an x86-64 CPU, but only detected an i686 CPU.")).toBe(true);
    expect(kernelRefusal("This kernel requires the following features not present on the CPU:")).toBe(true);
    expect(kernelRefusal("Linux version 6.1.0")).toBe(false);
  });
});
