import { describe, expect, it } from "vitest";
import { formatDevice, parseMenuLst } from "../../src/boot/menu-lst.js";

describe("parseMenuLst", () => {
  it("reads the global commands and entries, counting entries from 0", () => {
    const m = parseMenuLst(`# comment
default 1
fallback 0
timeout 5
hiddenmenu

title First entry
root (hd0,0)
kernel /boot/vmlinuz-1 root=/dev/xvda1 ro console=hvc0
initrd /boot/initrd-1

title Second (with spaces)
\troot\t(hd0)
\tkernel\t/vmlinuz-2 quiet
`);
    expect(m).toMatchObject({ default: 1, fallback: [0], timeout: 5, hiddenmenu: true, warnings: [] });
    expect(m.entries).toEqual([
      { index: 0, title: "First entry", line: 7, root: { disk: 0, partition: 0 }, kernel: { path: "/boot/vmlinuz-1", args: "root=/dev/xvda1 ro console=hvc0" }, initrd: { path: "/boot/initrd-1" } },
      { index: 1, title: "Second (with spaces)", line: 12, root: { disk: 0 }, kernel: { path: "/vmlinuz-2", args: "quiet" } },
    ]);
  });

  it("accepts '=' between a command and its value", () => {
    const m = parseMenuLst("default=1\ntimeout = 3\nfallback= 0 2\ntitle a\nkernel=/k\ntitle b\nkernel /k2\ntitle c\nkernel /k3\n");
    expect(m).toMatchObject({ default: 1, timeout: 3, fallback: [0, 2] });
    expect(m.entries[0]!.kernel).toEqual({ path: "/k", args: "" });
  });

  it("reads device prefixes in kernel and initrd paths", () => {
    const m = parseMenuLst("title t\nkernel (hd0,1)/boot/vmlinuz ro\ninitrd (hd0)/initrd.img\n");
    expect(m.entries[0]!.kernel).toEqual({ device: { disk: 0, partition: 1 }, path: "/boot/vmlinuz", args: "ro" });
    expect(m.entries[0]!.initrd).toEqual({ device: { disk: 0 }, path: "/initrd.img" });
    expect(formatDevice({ disk: 0, partition: 1 })).toBe("(hd0,1)");
    expect(formatDevice({ disk: 0 })).toBe("(hd0)");
  });

  it("skips kernel options before the path", () => {
    expect(parseMenuLst("title t\nkernel --no-mem-option /vmlinuz a=b\n").entries[0]!.kernel).toEqual({ path: "/vmlinuz", args: "a=b" });
  });

  it("keeps unknown commands and bad values as warnings, not errors", () => {
    const m = parseMenuLst("frobnicate yes\ndefault x\ntimeout soon\ntitle t\nroot (fd0)\nkernel vmlinuz\nchainloader +1\nsavedefault\nboot\n!!!\n");
    expect(m.default).toBe(0);
    expect(m.warnings).toEqual([
      "line 1: unknown or misplaced command 'frobnicate' ignored",
      "line 2: default 'x' is not an entry number; using 0",
      "line 3: timeout 'soon' is not a number",
      "line 5: root '(fd0)' is not a device like (hd0) or (hd0,0)",
      "line 6: kernel needs a path, got 'vmlinuz'",
      "line 7: unknown or misplaced command 'chainloader' ignored",
      "line 10: cannot read '!!!'",
    ]);
  });

  it("falls back to entry 0 when default names no entry", () => {
    const m = parseMenuLst("default 7\ntitle only\nkernel /k\n");
    expect(m.default).toBe(0);
    expect(m.warnings).toEqual(["line 0: default 7 names no entry (there are 1); using 0"]);
  });

  it("handles 'default saved' and CRLF line ends", () => {
    const m = parseMenuLst("default saved\r\ntitle a\r\nkernel /k x\r\n");
    expect(m.entries[0]!.kernel).toEqual({ path: "/k", args: "x" });
    expect(m.warnings[0]).toMatch(/default saved/);
  });

  it("bounds hostile input: size, entry count and warnings", () => {
    const huge = parseMenuLst("title x\nkernel /k\n" + "junk line\n".repeat(20_000));
    expect(huge.warnings.length).toBeLessThanOrEqual(50);
    expect(huge.warnings[0]).toMatch(/only the first 65536 are read/);
    const many = parseMenuLst("title t\nkernel /k\n".repeat(1000));
    expect(many.entries).toHaveLength(256);
    expect(parseMenuLst("\u0000\u00ff\u1234 binary \u0007").entries).toEqual([]);
  });
});
