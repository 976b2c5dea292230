import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sshBanner } from "../../src/benchmark/workflow-runners.js";
import { openFilesystem, partitionDevice } from "../../src/guestfs/open.js";
import { readPartitionTable } from "../../src/guestfs/partitions.js";
import { RawFileDevice } from "../../src/volumes/raw-file.js";
import { awsClientEnv, image, ROOT, runCli, runProgram, serveWithKeys, stopProcess, tempDir } from "../helpers.js";

// The Debian 12 cloud image is built by `npm test` as root (`npm run images:debian`; without root
// it is skipped, and so are these tests): these tests run when it is built. The user's workflow
// (boto3, cloud-init, ssh) takes about 4 minutes; a boot by `amiboot boot` to the login prompt,
// which that workflow covers, runs only with AMIBOOT_TEST_DEBIAN_BOOT=1.
const HVM = image("debian-12-i386.img");
const PV = image("debian-12-i386-pv.img");
const built = fs.existsSync(HVM) && fs.existsSync(PV);
const bootToo = built && process.env.AMIBOOT_TEST_DEBIAN_BOOT === "1";

const opened: RawFileDevice[] = [];
afterAll(() => opened.forEach((d) => d.close()));

/** The root filesystem (partition 1) of a disk image, read with amiboot's own ext4 reader. */
function rootOf(disk: string) {
  const dev = new RawFileDevice(disk);
  opened.push(dev);
  const table = readPartitionTable(dev);
  expect(table.scheme).toBe("mbr");
  expect(table.partitions).toHaveLength(1);
  expect(table.partitions[0]).toMatchObject({ start: 1048576, type: "0x83" });
  const fs = openFilesystem(partitionDevice(dev, table.partitions[0]!));
  return { dev, fs, text: (p: string) => Buffer.from(fs.readFile(p)).toString("utf8") };
}

const fstabUuid = (fstab: string) => /^UUID=([0-9a-f-]{36})\s+\/\s+ext4\s/m.exec(fstab)?.[1];

describe.skipIf(!built)("the Debian 12 i386 cloud image (images/debian/build.sh)", () => {
  it("HVM: GRUB 2 in the MBR, an ext4 root found by UUID, a serial console", () => {
    const { dev, fs: root, text } = rootOf(HVM);
    expect(dev.size).toBe(2 * 1024 ** 3);
    expect(Buffer.from(dev.read(0, 512)).includes("GRUB ")).toBe(true);
    expect(root).toMatchObject({ type: "ext4", label: "debian-root" });
    const uuid = fstabUuid(text("/etc/fstab"));
    expect(uuid).toBeDefined();
    const grub = text("/boot/grub/grub.cfg");
    expect(grub).toContain(`root=UUID=${uuid} ro console=ttyS0 `);
    expect(grub).toMatch(/^serial --unit=0 --speed=115200$/m);
    expect(root.list("/etc/systemd/system/getty.target.wants")).toContain("serial-getty@ttyS0.service");
  });

  it("HVM: cloud-init asks EC2's metadata service, and nothing per-instance is baked in", () => {
    const { fs: root, text } = rootOf(HVM);
    const cfg = text("/etc/cloud/cloud.cfg.d/99_amiboot.cfg");
    expect(cfg).toMatch(/^datasource_list: \[ Ec2, None \]$/m);
    expect(cfg).toMatch(/strict_id: false/);
    expect(cfg).toMatch(/metadata_urls: \[ "http:\/\/169\.254\.169\.254" \]/);
    expect(root.list("/etc/ssh").filter((f) => f.startsWith("ssh_host_"))).toEqual([]);
    expect(text("/etc/machine-id")).toBe("");
    expect(root.list("/etc/systemd/system")).toEqual(expect.arrayContaining(["apt-daily.timer", "man-db.timer", "e2scrub_all.timer"]));
  });

  it("HVM: the 686 kernel, its initrd and the NIC drivers v86 emulates", () => {
    const { fs: root } = rootOf(HVM);
    const version = root.list("/boot").find((f) => /^vmlinuz-.*-686$/.test(f))!.slice("vmlinuz-".length);
    expect(root.isFile(`/boot/initrd.img-${version}`)).toBe(true);
    const kernel = `/lib/modules/${version}/kernel/drivers/net`;
    expect(root.isFile(`${kernel}/ethernet/8390/ne2k-pci.ko`)).toBe(true);
    expect(root.isFile(`${kernel}/virtio_net.ko`)).toBe(true);
  });

  it("PV: menu.lst names the same kernel and initrd, the root by its own UUID; amiboot inspect picks it", async () => {
    const { text } = rootOf(PV);
    const uuid = fstabUuid(text("/etc/fstab"));
    const r = await runCli(["inspect", PV, "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.menu.path).toBe("(hd0,0)/boot/grub/menu.lst");
    expect(report.pvBoot.entry).toBe(0);
    const entry = report.menu.entries[0];
    expect(entry.kernel).toMatch(/^\(hd0,0\)\/boot\/vmlinuz-6\.1\.0-\d+-686$/);
    expect(entry.initrd).toBe(entry.kernel.replace("vmlinuz-", "initrd.img-"));
    expect(entry.args).toMatch(new RegExp(`^root=UUID=${uuid} ro console=ttyS0 `));
    expect(entry.kernelHeader).toMatchObject({ bits: 32, bzImage: true });
  });

  it.skipIf(!bootToo)("boots to a login prompt on ttyS0 (HVM, through GRUB)", async () => {
    const r = await runCli(["boot", HVM, "--memory", "512", "--timeout", "900", "--until", "login:", "--json"], { timeoutMs: 960_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, outcome: "until" });
    expect(out.milestones.map((m: { name: string }) => m.name)).toEqual(expect.arrayContaining(["bios", "kernel", "until"]));
  }, 1_000_000);

  it("launched with boto3, a key pair and a cloud-config user data: cloud-init applies it, ssh gets in and reads IMDSv2", async () => {
    const dir = tempDir();
    const env = { ...process.env, AMIBOOT_HOME: path.join(dir, "home") };
    const { server, endpoint, keys } = await serveWithKeys(env);
    try {
      const imported = await runCli(["image", "import", HVM, "--name", "debian-12", "--json", "--endpoint", endpoint], { env, nodeFlags: [], timeoutMs: 600_000 });
      expect(imported.code, imported.stderr).toBe(0);
      const keyFile = path.join(dir, "debian.pem");
      const userData = [
        "#cloud-config",
        "write_files:",
        "  - path: /etc/amiboot-user-data.txt",
        "    content: |",
        "      written by cloud-init from user data",
        "runcmd:",
        '  - [ sh, -c, "echo AMIBOOT-DEBIAN-USER-DATA host=$(hostname)" ]',
        "",
      ].join("\n");
      const client = { endpoint, ...keys, imageId: JSON.parse(imported.stdout).imageId, instanceType: "t2.medium", userData, keyFile };
      const launched = await runProgram("/usr/bin/python3", ["-I", path.join(ROOT, "test", "clients", "boto3_launch.py")], awsClientEnv(path.join(dir, "py"), { AMIBOOT_CLIENT: JSON.stringify(client) }), 300_000);
      expect(launched.code, launched.stderr).toBe(0);
      const { sentMs, instance } = JSON.parse(launched.stdout) as { sentMs: number; instance: { InstanceId: string; PublicIpAddress: string; PrivateDnsName: string } };
      const address = instance.PublicIpAddress;

      // SSH-ready: the guest's sshd banner on the instance's forwarded port (GRUB, systemd, cloud-init's host keys first).
      while (!(await sshBanner(address, 10022))) {
        expect(Date.now() - sentMs).toBeLessThan(1_500_000);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const sshReadyS = (Date.now() - sentMs) / 1000;
      const ssh = (...command: string[]) =>
        runProgram("/usr/bin/ssh", ["-i", keyFile, "-p", "10022", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30", `debian@${address}`, ...command], { PATH: "/usr/bin:/bin" }, 900_000);
      const status = await ssh("cloud-init", "status", "--wait", "--long");
      const cloudInitS = (Date.now() - sentMs) / 1000;
      const errors = status.stdout.includes("status: done") ? "" : (await ssh("sudo grep -E 'WARNING|ERROR|Traceback' /var/log/cloud-init.log | tail -n 40")).stdout;
      expect(status.stdout, `${status.stderr}\n${errors}`).toContain("status: done");
      expect((await ssh("cat", "/etc/amiboot-user-data.txt")).stdout).toBe("written by cloud-init from user data\n");
      expect((await ssh("hostname")).stdout.trim()).toBe(instance.PrivateDnsName.split(".")[0]);
      // runcmd's output reaches the serial console, as EC2's GetConsoleOutput shows it.
      const consoleText = await runCli(["console", instance.InstanceId, "--endpoint", endpoint], { env, nodeFlags: [] });
      const output = (await ssh("sudo tail -n 5 /var/log/cloud-init-output.log")).stdout;
      expect(consoleText.stdout, `${consoleText.stderr}\n…${consoleText.stdout.slice(-1500)}\ncloud-init-output.log: ${output}`).toContain(`AMIBOOT-DEBIAN-USER-DATA host=${instance.PrivateDnsName.split(".")[0]}`);
      const imdsV2 = `python3 -c 'import urllib.request as u; t=u.urlopen(u.Request("http://169.254.169.254/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})).read().decode(); print(u.urlopen(u.Request("http://169.254.169.254/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": t})).read().decode())'`;
      expect((await ssh(imdsV2)).stdout.trim()).toBe(instance.InstanceId);
      console.log(`Debian 12 cloud image (t2.medium): RunInstances to SSH-ready ${sshReadyS.toFixed(0)} s, to cloud-init done ${cloudInitS.toFixed(0)} s`);
    } finally {
      await stopProcess(server);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000);
});
