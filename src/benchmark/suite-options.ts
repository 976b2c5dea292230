import fs from "node:fs";
import type { EC2Client } from "@aws-sdk/client-ec2";
import { DEFAULT_INSTANCES_OPTIONS } from "../cloud/instance-options.js";
import { Ec2Error } from "../errors.js";

export interface SuiteOptions {
  /** Raw disk images to boot. */
  images: string[];
  /** AMIs to launch through an EC2 endpoint (`amiboot serve`), with a client for it. */
  amis: { ids: string[]; client?: EC2Client };
  runs: number;
  warmup: number;
  modes: ("hvm" | "pv")[];
  roots: ("ebs" | "instance-store")[];
  /** Also measure warm launches (restored from the state saved at the marker). */
  warm: boolean;
  /** Warm launches: machines the control plane keeps restored ahead of the next launch (0: every warm launch restores from the file). */
  standbyMachines: number;
  /** Concurrent launches to measure (1 is always measured). */
  concurrency: number[];
  /** Measure QEMU TCG on the same disk (HVM) or the same kernel and initrd (PV), when installed. */
  vsQemu: boolean;
  /** Also time `amiboot boot` in a fresh process (from spawn, as QEMU is timed); PV also with --guest-decompress. */
  process: boolean;
  /** Console text that marks user space; "" times each boot to the guest's power-off instead. */
  marker: string;
  instanceType: string;
  /** Measure RSS with 1..memory instances running (0: not measured). */
  memory: number;
  /** Seconds a launch may take to show the marker (or power off) before its case fails. */
  timeoutSeconds: number;
  /**
   * The images are cloud images (cloud-init or the sample images' init, sshd):
   * time the user's workflow instead of boots to a marker (workflow-runners.ts).
   */
  ssh: boolean;
  /** The user the workflow's ssh logs in as (Debian's cloud image: debian; the sample images: root). */
  sshUser: string;
  /** Progress lines for people (stderr). */
  log: (line: string) => void;
}

export const DEFAULT_SUITE_OPTIONS: Omit<SuiteOptions, "images"> = {
  amis: { ids: [] },
  runs: 5,
  warmup: 1,
  modes: ["hvm", "pv"],
  roots: ["ebs", "instance-store"],
  warm: false,
  standbyMachines: DEFAULT_INSTANCES_OPTIONS.standbyMachines,
  concurrency: [1],
  vsQemu: false,
  process: false,
  marker: "AMIBOOT-USERSPACE-READY",
  instanceType: "t1.micro",
  timeoutSeconds: 120,
  memory: 0,
  ssh: false,
  sshUser: "debian",
  log: () => {},
};

/** What `ssh: true` changes in the defaults: a cloud image needs room for cloud-init (Python) and takes minutes to boot under emulation, so no warm-up launch. */
export const SSH_SUITE_DEFAULTS: Readonly<Pick<SuiteOptions, "instanceType" | "timeoutSeconds" | "warmup">> = Object.freeze({
  instanceType: "t2.medium",
  timeoutSeconds: 900,
  warmup: 0,
});

/** The options given, over the defaults (with `ssh`, over its own), checked. */
export function suiteOptions(input: Partial<SuiteOptions> & { images: string[] }): SuiteOptions {
  const o: SuiteOptions = { ...DEFAULT_SUITE_OPTIONS, ...(input.ssh ? SSH_SUITE_DEFAULTS : {}), ...input };
  checkOptions(o);
  return o;
}

export function checkOptions(o: SuiteOptions): void {
  const bad = (m: string) => new Ec2Error("InvalidParameterValue", m, "benchmark.bench");
  if (o.images.length === 0 && o.amis.ids.length === 0) throw bad("give at least one disk image or AMI");
  if (o.amis.ids.length > 0 && !o.amis.client) throw bad("AMIs are launched through an EC2 endpoint: give a client for it");
  for (const f of o.images) if (!fs.existsSync(f)) throw bad(`no such image: ${f}`);
  if (!Number.isInteger(o.runs) || o.runs < 1) throw bad(`runs must be an integer >= 1, got ${o.runs}`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw bad(`warmup must be an integer >= 0, got ${o.warmup}`);
  if (!(o.timeoutSeconds > 0)) throw bad(`timeout must be a number of seconds > 0, got ${o.timeoutSeconds}`);
  if (o.modes.length === 0 || o.modes.some((m) => m !== "hvm" && m !== "pv")) throw bad(`modes must be hvm and/or pv, got ${o.modes.join(",")}`);
  if (o.roots.length === 0 || o.roots.some((r) => r !== "ebs" && r !== "instance-store")) throw bad(`roots must be ebs and/or instance-store, got ${o.roots.join(",")}`);
  if (!Number.isInteger(o.standbyMachines) || o.standbyMachines < 0 || o.standbyMachines > 64) throw bad(`standby machines must be an integer from 0 to 64, got ${o.standbyMachines}`);
  if (o.concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 32)) throw bad(`concurrency levels must be integers from 1 to 32, got ${o.concurrency.join(",")}`);
  // A warm launch restores the state saved at the marker; memory is measured with instances idle after it.
  if (o.marker === "" && o.warm) throw bad("warm launches restore the state saved at the marker: --warm needs a marker");
  if (o.ssh) {
    const other = [o.warm && "--warm", o.memory > 0 && "--memory", o.concurrency.some((c) => c > 1) && "--concurrency above 1", o.process && "--process", o.amis.ids.length > 0 && "AMIs"].filter(Boolean);
    if (other.length) throw bad(`--ssh times one launch at a time of disk images, cold: it does not combine with ${other.join(", ")}`);
    if (!o.modes.includes("hvm")) throw bad("--ssh boots each image as HVM (its disk's own boot loader, as QEMU boots it): --modes must include hvm");
    if (!/^[a-z_][a-z0-9_-]*$/i.test(o.sshUser)) throw bad(`the ssh user must be a user name, got ${JSON.stringify(o.sshUser)}`);
  }
  if (o.marker === "" && o.memory > 0) throw bad("memory is measured with instances idle after their marker: --memory needs a marker");
}
