import { Option, type Command } from "commander";
import fs from "node:fs";
import path from "node:path";
import { compareResults, compareText } from "../benchmark/compare.js";
import { htmlReport } from "../benchmark/report-html.js";
import { terminalTable } from "../benchmark/report-text.js";
import type { BenchResults } from "../benchmark/results.js";
import { DEFAULT_SUITE_OPTIONS, runSuite, SSH_SUITE_DEFAULTS } from "../benchmark/suite.js";
import { writeFileAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { ec2 } from "./endpoint.js";
import { parseEndpoint, parseNumber } from "./parse.js";
import { runCommand } from "./run.js";

interface BenchFlags {
  runs: number;
  warmup?: number;
  modes: string;
  root: string;
  warm?: boolean;
  standbyMachines: number;
  concurrency: string;
  vsQemu?: boolean;
  process?: boolean;
  marker: string;
  type?: string;
  timeout?: number;
  ssh?: boolean;
  sshUser: string;
  memory: number;
  json?: string;
  report?: string;
  compare?: boolean;
  endpoint: string;
  region: string;
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

/** `amiboot bench`: the boot-time suite on disk images, with a terminal table, JSON and an HTML report; `--compare OLD NEW`. */
export function addBenchCommand(program: Command): void {
  program
    .command("bench")
    .description("boot-time benchmark: HVM vs PV, EBS vs instance store, cold vs warm, concurrency, amiboot vs QEMU TCG")
    .argument("[images...]", "raw disk images, or AMIs (ami-…) launched through the endpoint (default: the sample images)")
    .option("--runs <n>", "measured runs per case", parseNumber, DEFAULT_SUITE_OPTIONS.runs)
    .option("--warmup <n>", `warm-up runs per case, not measured (default ${DEFAULT_SUITE_OPTIONS.warmup}, with --ssh ${SSH_SUITE_DEFAULTS.warmup}: a cloud image's launch takes minutes)`, parseNumber)
    .option("--modes <list>", "hvm,pv", "hvm,pv")
    .option("--root <list>", "ebs,instance-store", "ebs,instance-store")
    .option("--warm", "also measure warm launches (restored from the state saved at the marker)")
    .option("--standby-machines <n>", "warm launches: machines kept restored ahead of the next launch, as 'amiboot serve' keeps them; 0: each restores from the state file", parseNumber, DEFAULT_SUITE_OPTIONS.standbyMachines)
    .option("--concurrency <list>", "concurrent launches to measure, e.g. 1,2,4", "1")
    .option("--vs-qemu", "also measure QEMU TCG on the same disk (HVM) or the same kernel and initrd (PV)")
    .option("--process", "also time 'amiboot boot' in a fresh process from spawn, as QEMU is timed (PV: also --guest-decompress); needs the build")
    .option("--marker <text>", "console text that marks user space; '' times each boot to the guest's power-off", DEFAULT_SUITE_OPTIONS.marker)
    .option("--type <type>", `instance type (guest memory; default ${DEFAULT_SUITE_OPTIONS.instanceType}, with --ssh ${SSH_SUITE_DEFAULTS.instanceType})`)
    .option("--memory <n>", "also measure RSS with 1 to N instances running (what one more costs)", parseNumber, 0)
    .option("--timeout <seconds>", `a launch that shows no marker (without one: does not power off; with --ssh: is not configured) by then fails its case (default ${DEFAULT_SUITE_OPTIONS.timeoutSeconds}, with --ssh ${SSH_SUITE_DEFAULTS.timeoutSeconds})`, parseNumber)
    .option("--ssh", "cloud images: time RunInstances with a key pair and user data to SSH-ready and to the user data applied, and IMDS latency from the guest, instead of boots to a marker")
    .option("--ssh-user <user>", "the user --ssh logs in as to check the workflow (Debian's cloud image: debian; the sample images: root)", DEFAULT_SUITE_OPTIONS.sshUser)
    .option("--json <file>", "write every sample as JSON")
    .option("--report <file>", "write an HTML report with charts")
    .addOption(new Option("--compare", "compare two JSON results: amiboot bench --compare OLD.json NEW.json"))
    .option("--endpoint <url>", "the EC2 endpoint for AMIs", parseEndpoint, process.env.AMIBOOT_ENDPOINT ?? "http://127.0.0.1:8773")
    .option("--region <region>", "region of the AMIs", process.env.AWS_REGION ?? "us-east-1")
    .addHelpText(
      "after",
      `
Each case launches instances through the control plane (RunInstances to the
marker) in a temporary data directory; --process and --vs-qemu cases are
processes timed from spawn. Runs are interleaved so that drift hits
every case alike, and ratios are taken per pair of runs. Examples:
  amiboot bench images/build/hvm-linux.img images/build/pv-linux.img --runs 5 --vs-qemu --report report.html
  amiboot bench --modes pv --root ebs --process --vs-qemu --runs 10        # cold processes, PV shim vs QEMU -kernel
  amiboot bench my.img --marker '' --root ebs                             # to the guest's power-off
  amiboot bench my.img --modes hvm --root ebs --warm --concurrency 1,2,4 --json new.json
  amiboot bench ami-0123456789abcdef0 --warm --concurrency 1,2    # through 'amiboot serve'
  amiboot bench images/build/debian-12-i386.img --ssh --vs-qemu --runs 3   # the cloud-image workflow
  amiboot bench --compare old.json new.json`,
    )
    .action((images: string[], o: BenchFlags) => {
      if (o.compare) {
        return runCommand(
          false,
          () => {
            if (images.length !== 2) throw new Ec2Error("InvalidParameterValue", "--compare takes two JSON files: OLD NEW", "cli.bench");
            const [a, b] = images.map(readResults) as [BenchResults, BenchResults];
            return compareText(compareResults(a, b));
          },
          (text) => text,
        );
      }
      return runCommand(
        false,
        async () => {
          const amis = images.filter((a) => /^ami-/.test(a));
          const files = images.filter((a) => !/^ami-/.test(a));
          const results = await runSuite({
            images: images.length > 0 ? files : defaultImages(),
            amis: { ids: amis, ...(amis.length > 0 ? { client: ec2({ endpoint: o.endpoint, region: o.region }) } : {}) },
            runs: o.runs,
            // Unset: the suite's defaults (its own with --ssh).
            ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
            modes: list(o.modes) as ("hvm" | "pv")[],
            roots: list(o.root) as ("ebs" | "instance-store")[],
            warm: o.warm === true,
            standbyMachines: o.standbyMachines,
            concurrency: [...new Set([1, ...list(o.concurrency).map(Number)])],
            vsQemu: o.vsQemu === true,
            process: o.process === true,
            marker: o.marker,
            ...(o.type !== undefined ? { instanceType: o.type } : {}),
            ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}),
            ssh: o.ssh === true,
            sshUser: o.sshUser,
            memory: o.memory,
            log: (line) => process.stderr.write(`${line}\n`),
          });
          if (o.json) writeFileAtomically(o.json, JSON.stringify(results, null, 2) + "\n");
          if (o.report) writeFileAtomically(o.report, htmlReport(results));
          return results;
        },
        (r) => terminalTable(r) + (o.json ? `samples: ${o.json}\n` : "") + (o.report ? `report: ${o.report}\n` : ""),
      );
    });
}

function defaultImages(): string[] {
  const dir = path.resolve("images/build");
  const files = ["hvm-linux.img", "pv-linux.img"].map((f) => path.join(dir, f));
  if (!files.every((f) => fs.existsSync(f))) throw new Ec2Error("InvalidParameterValue", `no images given and the sample images are not in ${dir}: run 'npm run images' or name your images`, "cli.bench");
  return files;
}

function readResults(file: string): BenchResults {
  let data: BenchResults;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
  } catch (err) {
    throw new Ec2Error("InvalidParameterValue", `cannot read ${file}: ${(err as Error).message}`, "cli.bench");
  }
  if (data?.version !== 1 || !Array.isArray(data.cases)) throw new Ec2Error("InvalidParameterValue", `${file} is not an amiboot bench result (version 1)`, "cli.bench");
  return data;
}
