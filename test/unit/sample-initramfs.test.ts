import fs from "node:fs";
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { image } from "../helpers.js";

/** The files of a gzip'd newc cpio archive (the sample initrd.img), by path. */
function readInitramfs(file: string): Map<string, { mode: number; data: Buffer }> {
  const cpio = zlib.gunzipSync(fs.readFileSync(file));
  const files = new Map<string, { mode: number; data: Buffer }>();
  const hex = (at: number) => parseInt(cpio.toString("latin1", at, at + 8), 16);
  const align4 = (n: number) => (n + 3) & ~3;
  let at = 0;
  while (at + 110 <= cpio.length) {
    expect(cpio.toString("latin1", at, at + 6)).toBe("070701");
    const mode = hex(at + 14);
    const size = hex(at + 54);
    const nameSize = hex(at + 94);
    const name = cpio.toString("latin1", at + 110, at + 110 + nameSize - 1);
    if (name === "TRAILER!!!") break;
    const dataAt = align4(at + 110 + nameSize);
    files.set(name.replace(/^\.\//, ""), { mode, data: cpio.subarray(dataAt, dataAt + size) });
    at = align4(dataAt + size);
  }
  return files;
}

/** A kernel module's `depends=` from its .modinfo strings (empty list when it has none). */
function moduleDepends(ko: Buffer): string[] {
  const m = /\0depends=([^\0]*)\0/.exec(ko.toString("latin1"));
  expect(m, "a .modinfo depends= entry").not.toBeNull();
  return m![1] ? m![1].split(",") : [];
}

const files = readInitramfs(image("initrd.img"));
const text = (p: string) => {
  const f = files.get(p);
  expect(f, p).toBeDefined();
  return f!.data.toString("utf8");
};

describe("the sample initramfs carries the NIC drivers and a DHCP client script", () => {
  it.each([
    ["ne2k", ["8390", "ne2k-pci"]],
    ["virtio", ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "failover", "net_failover", "virtio_net"]],
  ])("%s: every module is there, each after the modules it depends on", (nic, expected) => {
    const order = text(`lib/modules/net/${nic}.order`).trim().split("\n");
    expect(order).toEqual(expected);
    order.forEach((name, i) => {
      const ko = files.get(`lib/modules/net/${name}.ko`);
      expect(ko, `${name}.ko`).toBeDefined();
      // Module names use '_' where file names may use '-'.
      const loaded = new Set(order.slice(0, i).map((n) => n.replace(/-/g, "_")));
      for (const dep of moduleDepends(ko!.data)) expect(loaded, `${name} needs ${dep} first`).toContain(dep.replace(/-/g, "_"));
    });
  });

  it("has udhcpc's default script, executable, setting the address, the route and resolv.conf", () => {
    const script = files.get("usr/share/udhcpc/default.script");
    expect(script).toBeDefined();
    expect(script!.mode & 0o111).toBe(0o111);
    const body = script!.data.toString("utf8");
    expect(body).toMatch(/ip -4 addr add "\$ip\/\$\{mask:-24\}"/);
    expect(body).toMatch(/route replace default via/);
    expect(body).toMatch(/nameserver \$d" >> \/etc\/resolv\.conf/);
  });

  it("/init brings the network up in the background, after AMIBOOT-DISKS-READY", () => {
    const init = text("init");
    const disks = init.indexOf('echo "AMIBOOT-DISKS-READY');
    const net = init.indexOf("net_up &");
    expect(disks).toBeGreaterThan(0);
    expect(net).toBeGreaterThan(disks);
    expect(init).toContain('echo "AMIBOOT-NET-READY ip=');
    expect(init.indexOf("setsid cttyhack sh -l")).toBeGreaterThan(net);
  });
});
