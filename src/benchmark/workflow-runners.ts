/**
 * The cloud-image workflow, timed as a user lives it (`amiboot bench --ssh`):
 * RunInstances with a key pair and a shell-script user data, then
 *   - SSH-ready: the guest's sshd banner on the instance's forwarded port;
 *   - configured: the console line that ends the user data's run (cloud-init's
 *     final "Cloud-init v. … finished at", or the sample images' own line);
 *   - IMDS latency seen from the guest: over ssh, sequential GETs of
 *     meta-data/instance-id by a client in the guest.
 * One launch per run feeds the three cases of an engine. The ssh session also
 * checks that the workflow worked (the user data's file, `cloud-init status`
 * done, IMDS's instance-id): a sample of a broken workflow is an error.
 *
 * QEMU TCG is the peer: the same disk (copy-on-write), memory and user data;
 * user-mode networking with a host forward to sshd; amiboot's own
 * MetadataService reached through slirp's guestfwd, which starts a relay
 * (bash's /dev/tcp, two cats) for each guest connection.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Cloud } from "../cloud/cloud.js";
import { ConsoleLines } from "../boot/console-lines.js";
import { BootTimer } from "../boot/timer.js";
import { memoryOf } from "../cloud/instance-types.js";
import { Ec2Error } from "../errors.js";
import { MetadataService } from "../net/imds.js";
import type { InstanceFacts } from "../net/metadata.js";
import { hostPortFor } from "../net/network-plan.js";
import { registerBenchImage } from "./cloud-runners.js";
import { qemuFound } from "./process-runners.js";
import type { BenchCase } from "./results.js";
import type { Runner } from "./runner.js";
import type { SuiteOptions } from "./suite-options.js";

const OP = "benchmark.bench";
const REGION = "us-east-1";
const KEY_NAME = "amiboot-bench";
/** The pause between two tries of the SSH port (the forward itself retries the guest port for a few seconds per try). */
const SSH_POLL_MS = 500;
const CONSOLE_POLL_MS = 250;
/** GETs timed from the guest (one more before them, not timed). */
const IMDS_REQUESTS = 20;
/** What the user data leaves behind, read back over ssh. */
const PROOF_FILE = "/etc/amiboot-bench-user-data";
const USER_DATA = `#!/bin/sh\necho "user data ran" > ${PROOF_FILE}\n`;
/** The console line after the user data ran: cloud-init's final message, or the sample images' (images/init.sh). */
const CONFIGURED = /Cloud-init v\. \S+ finished at|AMIBOOT-USER-DATA-DONE rc=/;

/** The three figures of one launch, ms from RunInstances (QEMU: from spawn); imds per request. */
interface WorkflowFigures {
  sshMs: number;
  configuredMs: number;
  imdsMs: number;
  /** The boot's milestones on the way (kernel, init, …), ms from the launch: where the time went. */
  milestones: Record<string, number>;
}

const FIGURES = [
  { key: "sshMs", id: "ssh-ready", label: "launch to SSH-ready" },
  { key: "configuredMs", id: "configured", label: "launch to user data applied" },
  { key: "imdsMs", id: "imds", label: `IMDS GET in the guest (mean of ${IMDS_REQUESTS})` },
] as const;

export type WorkflowFigure = (typeof FIGURES)[number]["id"];

/** The case id of one figure of a workflow (`debian.img/hvm/ssh-ready`, `…/qemu/ssh-ready`). */
export function workflowCaseId(prefix: string, figure: WorkflowFigure): string {
  return `${prefix}/${figure}`;
}

export const WORKFLOW_FIGURES: readonly { id: WorkflowFigure; label: string }[] = FIGURES;

/**
 * Three cases fed by one launch per run: the first figure's runner launches,
 * the other two read that launch's figures (the suite measures them right
 * after it, in the same run); a failed launch fails all three.
 */
function workflowCases(prefix: string, label: string, engine: BenchCase["engine"], params: BenchCase["params"], launch: () => Promise<WorkflowFigures>): Runner[] {
  let last: Promise<WorkflowFigures> | undefined;
  return FIGURES.map((f, i) => ({
    case: { id: workflowCaseId(prefix, f.id), label: `${label}: ${f.label}`, engine, params: { ...params, figure: f.id }, samples: [] },
    measure: async () => {
      if (i === 0) last = launch();
      if (!last) throw new Ec2Error("BenchFailed", "no launch measured these figures", OP);
      const figures = await last;
      return { totalMs: Math.round(figures[f.key] * 10) / 10, milestones: i === 0 ? figures.milestones : {} };
    },
  }));
}

/** The key pair the workflow launches with (made once per control plane, port 22 opened in its default group), and its private key's file. */
export interface WorkflowKey {
  publicKey: string;
  keyFile: string;
}

export function workflowKey(cloud: Cloud): WorkflowKey {
  const owner = cloud.accounts.defaultAccount().accountId;
  const keyFile = path.join(cloud.home, `${KEY_NAME}.pem`);
  if (!fs.existsSync(keyFile)) {
    const key = cloud.keyPairs.create(owner, REGION, KEY_NAME, "ed25519", []);
    fs.writeFileSync(keyFile, key.keyMaterial.trimEnd() + "\n", { mode: 0o600 });
    cloud.securityGroups.authorize(owner, REGION, { groupName: "default" }, [{ protocol: "tcp", fromPort: 22, toPort: 22, source: "0.0.0.0/0" }]);
  }
  return { publicKey: cloud.keyPairs.get(owner, REGION, KEY_NAME, OP).publicKey, keyFile };
}

/** The workflow on amiboot: an EBS image of `file` in this process's control plane. */
export async function amibootWorkflowRunners(cloud: Cloud, o: SuiteOptions, file: string, key: WorkflowKey, prefix: string): Promise<Runner[]> {
  const owner = cloud.accounts.defaultAccount().accountId;
  const imageId = await registerBenchImage(cloud, file, "hvm", "ebs", `bench-workflow-${path.basename(file)}`);
  const params = { image: path.basename(file), mode: "hvm", root: "ebs", workflow: true };
  return workflowCases(prefix, `${path.basename(file)}: amiboot, HVM, EBS, ${o.instanceType}`, "amiboot", params, async () => {
    const t0 = performance.now();
    const deadline = t0 + o.timeoutSeconds * 1000;
    const arrivals = new Map<string, Record<string, number>>();
    const off = cloud.instances.on("milestone", (e) => {
      const seen = arrivals.get(e.instanceId) ?? {};
      arrivals.set(e.instanceId, seen);
      seen[e.milestone.name] ??= Math.round(performance.now() - t0);
    });
    const launched = cloud.instances.run(owner, REGION, {
      imageId,
      instanceType: o.instanceType,
      minCount: 1,
      maxCount: 1,
      blockDeviceMappings: [],
      tags: [],
      userData: Buffer.from(USER_DATA).toString("base64"),
      network: { keyName: KEY_NAME, securityGroupIds: [], securityGroupNames: [] },
    }).instances[0]!;
    const id = launched.instanceId;
    try {
      const address = launched.network?.publicIp;
      if (!address) throw new Ec2Error("BenchFailed", `${id} has no public address`, OP);
      const ended = () => {
        const i = cloud.instances.get(owner, REGION, id, OP);
        return i.state === "stopped" || i.state === "terminated" ? `${id} is ${i.state}: ${i.stateReason?.message ?? "no reason given"}` : undefined;
      };
      const consoleText = () => cloud.instances.consoleOutput(owner, REGION, id).output.toString("latin1");
      o.log(`bench: ${path.basename(file)}: ${id} launched; waiting for SSH on ${address}:${hostPortFor(22)} and for the user data to run (minutes for a cloud image)`);
      const [sshMs, configuredMs] = await progress(o, path.basename(file), [untilSshBanner(address, hostPortFor(22), t0, deadline, ended), untilConsole(consoleText, t0, deadline, ended)]);
      const imdsMs = await checkOverSsh({ host: address, port: hostPortFor(22), user: o.sshUser, instanceId: id, keyFile: key.keyFile });
      return { sshMs, configuredMs, imdsMs, milestones: arrivals.get(id) ?? {} };
    } catch (err) {
      throw new Ec2Error(err instanceof Ec2Error ? err.code : "BenchFailed", `${path.basename(file)} on amiboot: ${(err as Error).message}`, OP);
    } finally {
      off();
      cloud.instances.terminate(owner, REGION, [id]);
      await cloud.instances.waitFor(id, "terminated", { timeoutMs: 60_000 });
    }
  });
}

/** QEMU's addresses on its user-mode network (slirp's DHCP gives the guest the first of dhcpstart). */
const QEMU_GUEST = { ip: "169.254.0.15", mac: "52:54:00:12:34:56" };

/** The workflow on QEMU TCG (undefined when QEMU is not installed). */
export function qemuWorkflowRunners(o: SuiteOptions, file: string, key: WorkflowKey, prefix: string): Runner[] | undefined {
  if (!qemuFound(o)) return undefined;
  const memoryMiB = memoryOf(o.instanceType, OP);
  const params = { image: path.basename(file), mode: "hvm", engine: "qemu-tcg", workflow: true };
  return workflowCases(prefix, `${path.basename(file)}: QEMU TCG, ${memoryMiB} MiB, user networking`, "qemu", params, async () => {
    const instanceId = "i-0123456789abcdef0";
    const metadata = new MetadataService(qemuFacts(o.instanceType, instanceId, key.publicKey));
    const imds = net.createServer({ allowHalfOpen: true }, (s) => metadata.handle(s));
    let qemu: ReturnType<typeof spawn> | undefined;
    try {
      const imdsPort = await listen(imds);
      const sshPort = await freePort();
      // One relay per guest connection (slirp's guestfwd cmd:), so that each request is a connection of its own, as with amiboot's IMDS.
      // (The guest's side is dup'ed to fd 4 first: a non-interactive shell gives background commands /dev/null as their input.)
      const relay = `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${imdsPort} 4<&0; cat <&4 >&3 & cat <&3; kill $! 2>/dev/null'`;
      const netdev = `user,id=n0,net=169.254.0.0/16,host=169.254.0.2,dhcpstart=${QEMU_GUEST.ip},guestfwd=tcp:169.254.169.254:80-cmd:${relay},hostfwd=tcp:127.0.0.1:${sshPort}-:22`;
      const args = ["-accel", "tcg", "-m", String(memoryMiB), "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-drive", `file=${file},format=raw,snapshot=on,if=ide`, "-netdev", netdev, "-device", `ne2k_pci,netdev=n0,mac=${QEMU_GUEST.mac}`];
      const t0 = performance.now();
      const deadline = t0 + o.timeoutSeconds * 1000;
      const child = spawn("qemu-system-i386", args, { stdio: ["ignore", "pipe", "pipe"] });
      qemu = child;
      let consoleText = "";
      let stderr = "";
      const timer = new BootTimer();
      const lines = new ConsoleLines();
      let exited: string | undefined;
      child.stdout!.on("data", (d: Buffer) => {
        consoleText = (consoleText + d.toString("latin1")).slice(-65536);
        for (const b of d) {
          const line = lines.pushByte(b);
          if (line !== undefined) timer.line(line);
        }
      });
      child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      child.on("exit", (code, signal) => (exited = `QEMU ended (${signal ?? `status ${code}`}): ${stderr.trim() || "no message"}`));
      child.on("error", (err) => (exited = `QEMU did not start: ${err.message}`));
      const ended = () => exited;
      o.log(`bench: ${path.basename(file)}: QEMU started; waiting for SSH on 127.0.0.1:${sshPort} and for the user data to run`);
      const [sshMs, configuredMs] = await progress(o, path.basename(file), [untilSshBanner("127.0.0.1", sshPort, t0, deadline, ended), untilConsole(() => consoleText, t0, deadline, ended)]);
      const imdsMs = await checkOverSsh({ keyFile: key.keyFile, host: "127.0.0.1", port: sshPort, user: o.sshUser, instanceId });
      // The timer started with the spawn, as t0 did.
      return { sshMs, configuredMs, imdsMs, milestones: Object.fromEntries(timer.milestones.map((m) => [m.name, Math.round(m.atMs)])) };
    } catch (err) {
      throw new Ec2Error(err instanceof Ec2Error ? err.code : "BenchFailed", `${path.basename(file)} on QEMU: ${(err as Error).message}`, OP);
    } finally {
      qemu?.kill("SIGKILL");
      metadata.close();
      imds.close();
    }
  });
}

/** Both waits, each reported as it ends (a cloud image takes minutes: the user sees where it stands). */
async function progress(o: SuiteOptions, name: string, waits: [Promise<number>, Promise<number>]): Promise<[number, number]> {
  const [ssh, configured] = waits;
  void ssh.then((ms) => o.log(`bench: ${name}: SSH ready after ${(ms / 1000).toFixed(1)} s`), () => undefined);
  void configured.then((ms) => o.log(`bench: ${name}: user data applied after ${(ms / 1000).toFixed(1)} s`), () => undefined);
  return Promise.all(waits);
}

/** What QEMU's guest learns from IMDS: the same shape as an amiboot instance's, with slirp's addresses. */
function qemuFacts(instanceType: string, instanceId: string, publicKey: string): InstanceFacts {
  return {
    accountId: "123456789012",
    region: REGION,
    availabilityZone: `${REGION}a`,
    imageId: "ami-0123456789abcdef0",
    instanceId,
    instanceType,
    architecture: "i386",
    launchIndex: 0,
    pendingTime: new Date().toISOString(),
    reservationId: "r-0123456789abcdef0",
    hostname: `ip-${QEMU_GUEST.ip.replaceAll(".", "-")}.ec2.internal`,
    privateIp: QEMU_GUEST.ip,
    mac: QEMU_GUEST.mac,
    interfaceId: "eni-0123456789abcdef0",
    subnetId: "subnet-0123456789abcdef0",
    subnetCidr: "169.254.0.0/16",
    vpcId: "vpc-0123456789abcdef0",
    vpcCidr: "169.254.0.0/16",
    securityGroups: [{ id: "sg-0123456789abcdef0", name: "default" }],
    publicKey: { name: KEY_NAME, openssh: publicKey },
    blockDevices: { ami: "sda1", root: "/dev/sda1" },
    virtualization: "hvm",
    userData: new TextEncoder().encode(USER_DATA),
  };
}

/**
 * Ms from t0 until host:port greets with an SSH banner, one try at a time
 * (each waits up to 5 s) and SSH_POLL_MS between them, as Packer's
 * communicator tries. Never several at once: each connection costs a real
 * sshd a forked pre-auth process, and more than its MaxStartups (10) get
 * "Exceeded MaxStartups" instead of a banner.
 */
async function untilSshBanner(host: string, port: number, t0: number, deadline: number, ended: () => string | undefined): Promise<number> {
  for (;;) {
    const why = ended();
    if (why) throw new Ec2Error("InstanceFailed", `ended before SSH was ready: ${why}`, OP);
    if (await sshBanner(host, port)) return performance.now() - t0;
    if (performance.now() > deadline) throw new Ec2Error("BootTimeout", `no SSH banner on ${host}:${port} within ${Math.round((deadline - t0) / 1000)} s`, OP);
    await sleep(SSH_POLL_MS);
  }
}

/** Ms from t0 until the console shows that the user data ran. */
async function untilConsole(text: () => string, t0: number, deadline: number, ended: () => string | undefined): Promise<number> {
  for (;;) {
    if (CONFIGURED.test(text())) return performance.now() - t0;
    const why = ended();
    if (why) throw new Ec2Error("InstanceFailed", `ended before the user data ran: ${why}`, OP);
    if (performance.now() > deadline) throw new Ec2Error("BootTimeout", `the console did not show that the user data ran (cloud-init's "finished at") within ${Math.round((deadline - t0) / 1000)} s`, OP);
    await sleep(CONSOLE_POLL_MS);
  }
}

/** True when a TCP server at host:port greets with an SSH banner (within 5 s). */
export function sshBanner(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(5000, () => done(false));
    s.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
    s.once("error", () => done(false));
    s.once("close", () => done(false));
  });
}

/**
 * In the guest, over ssh: the user data's file, `cloud-init status` (when
 * there is cloud-init), and IMDS_REQUESTS GETs of the instance-id one after
 * the other, by python3's http.client (a connection each, as cloud-init's
 * requests), or where there is no python3 by busybox wget, timed by
 * /proc/uptime (busybox's date has no %N). Returns the mean ms per GET;
 * throws when any check fails.
 */
async function checkOverSsh(t: { keyFile: string; host: string; port: number; user: string; instanceId: string }): Promise<number> {
  const python = [
    "import http.client, json, time",
    "def get():",
    "    c = http.client.HTTPConnection('169.254.169.254', 80, timeout=10)",
    "    c.request('GET', '/latest/meta-data/instance-id')",
    "    r = c.getresponse(); b = r.read(); c.close()",
    "    if r.status != 200: raise SystemExit('IMDS answered %d' % r.status)",
    "    return b.decode()",
    "first = get()",
    "t = time.perf_counter()",
    `for _ in range(${IMDS_REQUESTS}): get()`,
    `print('IMDS', json.dumps({'id': first, 'ms': (time.perf_counter() - t) * 1000 / ${IMDS_REQUESTS}}))`,
  ].join("\n");
  const script = [
    `cat ${PROOF_FILE}`,
    "if command -v cloud-init >/dev/null; then cloud-init status; fi",
    "if command -v python3 >/dev/null; then python3 -c \"$(cat <<'EOF'",
    python,
    "EOF",
    ')"; else',
    "  url=http://169.254.169.254/latest/meta-data/instance-id; id=$(wget -q -O - $url) || exit 1",
    "  cs() { read -r up rest < /proc/uptime; echo $up | tr -d .; }",
    `  a=$(cs); i=0; while [ $i -lt ${IMDS_REQUESTS} ]; do wget -q -O /dev/null $url || exit 1; i=$((i + 1)); done; b=$(cs)`,
    `  echo "IMDS {\\"id\\": \\"$id\\", \\"ms\\": $(( (b - a) * 10 / ${IMDS_REQUESTS} ))}"`,
    "fi",
  ].join("\n");
  const r = await runSsh(t, script);
  const lines = r.stdout.split("\n");
  const fail = (why: string) => new Ec2Error("BenchFailed", `${why}; ssh said: ${(r.stdout + r.stderr).trim().slice(-600) || `status ${r.code}`}`, OP);
  // ssh's own status when it could not connect or log in.
  if (r.code === 255) throw new Ec2Error("BenchFailed", `ssh could not log in as ${t.user} at ${t.host}:${t.port}: ${r.stderr.trim().slice(-600) || "no message"}`, OP);
  if (lines[0] !== "user data ran") throw fail(`the user data's file ${PROOF_FILE} is not there`);
  const status = lines.find((l) => l.startsWith("status: "));
  if (status && status !== "status: done") throw fail(`cloud-init ${status}`);
  const imds = lines.find((l) => l.startsWith("IMDS "));
  if (!imds) throw fail("IMDS was not timed");
  const figures = JSON.parse(imds.slice(5)) as { id: string; ms: number };
  if (figures.id !== t.instanceId) throw fail(`IMDS told the guest instance-id ${figures.id}, not ${t.instanceId}`);
  return figures.ms;
}

function runSsh(t: { keyFile: string; host: string; port: number; user: string }, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = ["-i", t.keyFile, "-p", String(t.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=60", `${t.user}@${t.host}`, "sh -s"];
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const kill = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => {
      clearTimeout(kill);
      reject(new Ec2Error("BenchFailed", `ssh did not start (apt-get install openssh-client): ${err.message}`, OP));
    });
    child.on("close", (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(script + "\n");
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** A loopback port free now (QEMU's hostfwd binds it itself). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
