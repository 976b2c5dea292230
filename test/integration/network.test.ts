import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { createRequire } from "node:module";
import { V86, type V86Options } from "v86";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFirmware } from "../../src/boot/firmware.js";
import { attachGuestNetwork, type GuestNetwork, v86NetDevice } from "../../src/boot/network.js";
import { MetadataService } from "../../src/net/imds.js";
import { PortForward } from "../../src/net/port-forward.js";
import { IMAGES, image, tempDir } from "../helpers.js";
import { sampleFacts } from "../unit/net-facts.js";

/**
 * The guest network end to end: Debian's i386 kernel booted directly in v86
 * with the sample busybox initramfs plus an overlay (the ne2k driver from
 * the kernel package, a udhcpc script, an /init that brings eth0 up), the
 * network glue of src/boot/network.ts, the metadata service and a port forward.
 */

const KERNEL_DEB = path.join(IMAGES, "cache", "apt-i386", "debs", "linux-image-6.1.0-57-686-unsigned_6.1.192-3_i386.deb");
const CMDLINE = "console=ttyS0 cryptomgr.notests noisapnp mitigations=off nokaslr tsc=reliable edd=off quiet";
const ready = fs.existsSync(image("vmlinuz-i386")) && fs.existsSync(image("initrd.img")) && fs.existsSync(KERNEL_DEB);

const MAC = "02:00:0a:00:00:05";

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo INIT-START
net_up() {
  insmod /net/8390.ko; insmod /net/ne2k-pci.ko
  ip link set lo up
  i=0; while [ $i -lt 50 ] && [ ! -e /sys/class/net/eth0 ]; do sleep 0.1; i=$((i+1)); done
  ip link set eth0 up
  udhcpc -i eth0 -n -q -t 5 -T 1 -s /net/udhcpc.script >/tmp/udhcpc.log 2>&1
  echo "NET-READY ip=$(ip -4 addr show dev eth0 | sed -n 's/.* inet \\([0-9.]*\\).*/\\1/p')"
}
net_up &
exec setsid cttyhack sh
`;
const UDHCPC = `#!/bin/sh
case "$1" in
  bound|renew) ip addr add "$ip/$mask" dev "$interface"; ip link set "$interface" up; ip route add default via "$router" ;;
esac
`;

/** The sample initramfs with a second, uncompressed cpio archive appended (the kernel unpacks both; later files win). */
function buildInitrd(dir: string): Buffer {
  const overlay = path.join(dir, "overlay");
  fs.mkdirSync(path.join(overlay, "net"), { recursive: true });
  const unpacked = path.join(dir, "deb");
  fs.mkdirSync(unpacked);
  execFileSync("sh", ["-c", `dpkg-deb --fsys-tarfile "$0" | tar -x -C "$1" --wildcards './lib/modules/*/kernel/drivers/net/ethernet/8390/*.ko'`, KERNEL_DEB, unpacked]);
  const modules = fs.readdirSync(path.join(unpacked, "lib", "modules"))[0]!;
  for (const m of ["8390.ko", "ne2k-pci.ko"]) {
    fs.copyFileSync(path.join(unpacked, "lib", "modules", modules, "kernel", "drivers", "net", "ethernet", "8390", m), path.join(overlay, "net", m));
  }
  fs.writeFileSync(path.join(overlay, "init"), INIT, { mode: 0o755 });
  fs.writeFileSync(path.join(overlay, "net", "udhcpc.script"), UDHCPC, { mode: 0o755 });
  fs.writeFileSync(path.join(overlay, "net", "reply.sh"), '#!/bin/sh\nread line\necho "guest got: $line"\n', { mode: 0o755 });
  const cpio = execFileSync("sh", ["-c", "cd \"$0\" && find . | cpio -o -H newc --quiet", overlay]);
  // The kernel looks for the next archive's magic at a 4-byte boundary, skipping zeros.
  const sample = fs.readFileSync(image("initrd.img"));
  return Buffer.concat([sample, Buffer.alloc((4 - (sample.length % 4)) % 4), cpio]);
}

/** The serial console: everything the guest printed, and a way to wait for text. */
class Console {
  text = "";
  private waiters: (() => void)[] = [];
  constructor(private readonly emulator: V86) {
    emulator.add_listener("serial0-output-byte", (byte: number) => {
      this.text += String.fromCharCode(byte);
      this.waiters.forEach((w) => w());
    });
  }
  /** Runs a shell command and returns what it printed (between markers that its echoed command line cannot match). */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const id = Math.random().toString(36).slice(2, 8);
    const from = this.text.length;
    this.emulator.serial0_send(`echo B-""${id}; ${command}; echo; echo E-""${id}\n`);
    const m = await this.waitFor(new RegExp(`B-${id}\\r?\\n([\\s\\S]*?)\\r?\\nE-${id}`), timeoutMs, from);
    return m[1]!.replace(/\r/g, "").trimEnd();
  }
  waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.text.slice(from).match(pattern);
        if (m) resolve(m);
        return !!m;
      };
      if (check()) return;
      const timer = setTimeout(() => reject(new Error(`no ${pattern} on the console in ${timeoutMs} ms; it shows:\n${this.text.slice(-2000)}`)), timeoutMs);
      this.waiters.push(() => check() && clearTimeout(timer));
    });
  }
}

describe.skipIf(!ready)("guest network in v86 (ne2k, IMDS, port forward)", () => {
  let emulator: V86;
  let guestConsole: Console;
  let network: GuestNetwork;
  let imds: MetadataService;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("amiboot-net-");
    const firmware = findFirmware();
    const require = createRequire(import.meta.url);
    const initrd = buildInitrd(dir);
    const options: V86Options & Record<string, unknown> = {
      wasm_path: require.resolve("v86/build/v86.wasm"),
      bios: { url: firmware.bios },
      bzimage: { buffer: new Uint8Array(fs.readFileSync(image("vmlinuz-i386"))).buffer },
      initrd: { buffer: new Uint8Array(initrd).buffer },
      cmdline: CMDLINE,
      memory_size: 128 * 1024 * 1024,
      vga_memory_size: 2 * 1024 * 1024,
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      net_device: v86NetDevice({ nic: "ne2k", routerIp: "10.0.0.1", vmIp: "10.0.0.5" }),
      preserve_mac_from_state_image: true,
    };
    emulator = new V86(options as V86Options);
    guestConsole = new Console(emulator);
    imds = new MetadataService(sampleFacts());
    network = await attachGuestNetwork(emulator as never, { metadata: imds, mac: MAC });
    await guestConsole.waitFor(/INIT-START/, 150_000);
    try {
      await guestConsole.waitFor(/NET-READY ip=(\S*)/, 60_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await guestConsole.run("cat /tmp/udhcpc.log; ip addr; ip route; dmesg | tail -n 5", 20_000)}`);
    }
  }, 180_000);

  afterAll(async () => {
    network?.detach();
    imds?.close();
    await emulator?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gets its DHCP lease from the adapter, on the instance's own MAC", async () => {
    expect((await guestConsole.waitFor(/NET-READY ip=(\S*)/, 1000))[1]).toBe("10.0.0.5");
    expect(await guestConsole.run("cat /sys/class/net/eth0/address")).toBe(MAC);
  });

  it("reads the metadata service at 169.254.169.254, IMDSv1 and IMDSv2", async () => {
    expect(await guestConsole.run("wget -q -O - http://169.254.169.254/latest/meta-data/instance-id")).toBe("i-0123456789abcdef0");
    expect(await guestConsole.run("wget -q -O - http://169.254.169.254/latest/meta-data/public-keys/")).toBe("0=my-key");
    const put = "printf 'PUT /latest/api/token HTTP/1.1\\r\\nHost: 169.254.169.254\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' | nc 169.254.169.254 80 | tail -n 1";
    await guestConsole.run(`T=$(${put})`);
    expect(await guestConsole.run(`wget -q -O - --header "X-aws-ec2-metadata-token: $T" http://169.254.169.254/latest/meta-data/placement/region`)).toBe("us-east-1");
    imds.setOptions({ httpTokens: "required" });
    expect(await guestConsole.run("wget -q -O - http://169.254.169.254/latest/meta-data/instance-id 2>&1")).toMatch(/401 Unauthorized/);
    imds.setOptions({ httpTokens: "optional" });
  });

  it("reaches nothing else: other addresses and ports are refused", async () => {
    expect(await guestConsole.run("wget -q -O - http://10.0.0.1/ 2>&1 || echo REFUSED")).toMatch(/REFUSED/);
    expect(await guestConsole.run("wget -q -O - http://93.184.216.34/ 2>&1 || echo REFUSED")).toMatch(/refused[\s\S]*REFUSED/i);
    expect(await guestConsole.run("echo x | nc 169.254.169.254 81 2>&1 || echo REFUSED")).toMatch(/REFUSED/);
  });

  it("forwards a loopback host port to a guest port, waiting for the guest to listen", async () => {
    const forward = await PortForward.open({ guestPort: 2222, hostPort: 0, openGuest: (p) => (attempts++, network.openGuest(p)), retry: { attempts: 40, firstDelayMs: 100, maxDelayMs: 500 }, log: (l) => lines.push(l) });
    const lines: string[] = [];
    let attempts = 0;
    try {
      const answer = new Promise<string>((resolve, reject) => {
        const s = net.connect({ port: forward.address.port, host: "127.0.0.1", allowHalfOpen: true });
        const chunks: Buffer[] = [];
        s.on("data", (c) => chunks.push(c));
        s.on("error", reject);
        s.on("end", () => {
          s.end();
          resolve(Buffer.concat(chunks).toString());
        });
        s.write("ping from host\n");
      });
      // The client is already waiting: the forward retries until the guest's nc listens.
      await new Promise((r) => setTimeout(r, 500));
      guestConsole.run("nc -l -p 2222 -e /net/reply.sh & true").catch(() => undefined);
      expect(await answer.catch((e: Error) => `${e.message} ${lines.join("; ")}`)).toBe("guest got: ping from host\n");
      expect(attempts).toBeGreaterThan(1); // refused while nc was not listening yet, then retried
    } finally {
      await forward.close();
    }
  });

  it("measures IMDS latency seen from the guest (busybox wget)", async () => {
    /** Guest seconds for 20 sequential wget runs against URL (busybox `time`). */
    const loop = async (url: string): Promise<number> => {
      const out = await guestConsole.run(`time sh -c 'i=0; while [ $i -lt 20 ]; do wget -q -O /dev/null ${url} 2>/dev/null; i=$((i+1)); done' 2>&1`, 120_000);
      const m = out.match(/real\s+(\d+)m\s*([\d.]+)s/);
      expect(m, out).not.toBeNull();
      return Number(m![1]) * 60 + Number(m![2]);
    };
    const imds = await loop("http://169.254.169.254/latest/meta-data/instance-id");
    // The same loop against a closed port on the guest's loopback: the cost of starting wget.
    const baseline = await loop("http://127.0.0.1:1/");
    const perRequest = (s: number): string => `${((s / 20) * 1000).toFixed(0)} ms`;
    // Both loops are dominated by starting wget and are noisy on a shared machine; the difference is the IMDS's share.
    console.log(`IMDS from the guest: 20 busybox wget runs in ${imds.toFixed(2)} s (${perRequest(imds)} each); the same wget loop refused at once: ${perRequest(baseline)} each`);
    expect(imds).toBeLessThan(60);
  });
});
