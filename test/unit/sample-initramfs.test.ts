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
    const net = init.indexOf("{ net_up && cloud_setup; } &");
    expect(disks).toBeGreaterThan(0);
    expect(net).toBeGreaterThan(disks);
    expect(init).toContain('echo "AMIBOOT-NET-READY ip=');
    expect(init.indexOf("setsid cttyhack sh -l")).toBeGreaterThan(net);
  });
});

/** An i386 ELF file's program interpreter and DT_NEEDED libraries, read from its program headers. */
function elfDeps(elf: Buffer): { interp?: string; needed: string[] } {
  expect(elf.subarray(0, 5)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1])); // ELF, 32-bit
  const phoff = elf.readUInt32LE(0x1c);
  const phentsize = elf.readUInt16LE(0x2a);
  const segments = Array.from({ length: elf.readUInt16LE(0x2c) }, (_, i) => {
    const at = phoff + i * phentsize;
    return { type: elf.readUInt32LE(at), offset: elf.readUInt32LE(at + 4), vaddr: elf.readUInt32LE(at + 8), filesz: elf.readUInt32LE(at + 16) };
  });
  const cString = (at: number) => elf.toString("latin1", at, elf.indexOf(0, at));
  const interpSeg = segments.find((s) => s.type === 3);
  const dynamic = segments.find((s) => s.type === 2);
  if (!dynamic) return { needed: [], ...(interpSeg ? { interp: cString(interpSeg.offset) } : {}) };
  const entries: [number, number][] = [];
  for (let at = dynamic.offset; at < dynamic.offset + dynamic.filesz; at += 8) {
    const tag = elf.readUInt32LE(at);
    if (tag === 0) break;
    entries.push([tag, elf.readUInt32LE(at + 4)]);
  }
  // DT_STRTAB is an address: the PT_LOAD segment holding it gives its file offset.
  const strtab = entries.find(([t]) => t === 5)![1];
  const load = segments.find((s) => s.type === 1 && strtab >= s.vaddr && strtab < s.vaddr + s.filesz)!;
  const needed = entries.filter(([t]) => t === 1).map(([, v]) => cString(strtab - load.vaddr + load.offset + v));
  return { needed, ...(interpSeg ? { interp: cString(interpSeg.offset) } : {}) };
}

describe("the sample initramfs carries dropbear, scp and a stand-in for cloud-init", () => {
  it.each(["usr/sbin/dropbear", "usr/bin/dropbearkey", "usr/bin/scp"])("%s is executable, and every library it reaches is in /lib with the loader", (bin) => {
    const file = files.get(bin);
    expect(file, bin).toBeDefined();
    expect(file!.mode & 0o111).toBe(0o111);
    const { interp, needed } = elfDeps(file!.data);
    expect(interp).toBe("/lib/ld-linux.so.2");
    expect(files.get("lib/ld-linux.so.2")?.data.length ?? 0).toBeGreaterThan(100_000);
    // Breadth-first through the libraries' own NEEDED entries.
    const seen = new Set<string>();
    const todo = [...needed];
    while (todo.length > 0) {
      const lib = todo.shift()!;
      if (seen.has(lib)) continue;
      seen.add(lib);
      const f = files.get(`lib/${lib}`);
      expect(f, `lib/${lib} (needed by ${bin})`).toBeDefined();
      todo.push(...elfDeps(f!.data).needed);
    }
    expect(seen).toContain("libc.so.6");
  });

  it("holds only the libraries dropbear and scp need, not whole packages", () => {
    const libs = [...files.keys()].filter((p) => /^lib\/[^/]+\.so/.test(p)).sort();
    expect(libs).toEqual(["lib/ld-linux.so.2", "lib/libc.so.6", "lib/libcrypt.so.1", "lib/libgmp.so.10", "lib/libtomcrypt.so.1", "lib/libtommath.so.1", "lib/libz.so.1"]);
  });

  it("/init gives root a login dropbear accepts: /etc/passwd with /root and a shell listed in /etc/shells", () => {
    const init = text("init");
    expect(init).toContain("printf 'root:x:0:0:root:/root:/bin/sh\\n' > /etc/passwd");
    expect(init).toContain("printf '/bin/sh\\n' > /etc/shells");
  });

  it("/init reads IMDS like cloud-init, then starts dropbear with keys only, then runs #! UserData", () => {
    const init = text("init");
    const at = (s: string) => {
      const i = init.indexOf(s);
      expect(i, s).toBeGreaterThan(0);
      return i;
    };
    // An IMDSv2 token with a PUT through nc (busybox wget cannot PUT), sent on every request when there is one.
    expect(init).toMatch(/printf 'PUT \/latest\/api\/token HTTP\/1\.0\\r\\n[^']*X-aws-ec2-metadata-token-ttl-seconds: 21600[^']*' \\\n\s*\| nc 169\.254\.169\.254 80/);
    expect(init).toContain('--header "X-aws-ec2-metadata-token: $token"');
    const steps = [
      at("get meta-data/instance-id"),
      at('hostname "${name%%.*}"'),
      at("get meta-data/public-keys/0/openssh-key"),
      at("chmod 600 /root/.ssh/authorized_keys"),
      at("for t in ed25519 ecdsa; do"),
      at("dropbearkey -t $t -f $k"),
      at("-----BEGIN SSH HOST KEY KEYS-----"),
      at("dropbear -s -p 22 $keys"),
      at("':0016 00000000:0000 0A' /proc/net/tcp"),
      at('echo "AMIBOOT-SSH-READY instance=$id keys='),
      at("get user-data"),
      at("[ \"$(head -c 2 /tmp/user-data)\" = '#!' ]"),
      at("tee /var/log/user-data.log"),
      at('echo "AMIBOOT-USER-DATA-DONE rc=$(cat /tmp/user-data.rc)"'),
    ];
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(init).toContain("chmod 700 /root /root/.ssh");
  });
});
