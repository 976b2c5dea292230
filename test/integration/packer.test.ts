import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsClientEnv, image, ROOT, runCli, runProgram, serveWithKeys, stopProcess, tempDir, type CliResult } from "../helpers.js";

/**
 * Debian's Packer (1.6.6) runs its amazon-ebs builder, unchanged, against
 * `amiboot serve`: the template (test/packer/amazon-ebs.json, the README's
 * example) finds the source AMI with source_ami_filter, makes its temporary
 * key pair and security group, launches, logs in over SSH, provisions with
 * a shell script, stops, creates the AMI, copies it to a second region and
 * tags image and snapshots. A second build starts from the first build's
 * AMI, finds the first build's file in it, and replaces that AMI
 * (force_deregister) while its own instance runs from it.
 */
const dir = tempDir();
const home = path.join(dir, "home");
const env = { ...process.env, AMIBOOT_HOME: home };
const template = path.join(ROOT, "test", "packer", "amazon-ebs.json");
let server: ChildProcess;
let endpoint: string;
let keys: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  ({ server, endpoint, keys } = await serveWithKeys(env));
});
afterAll(async () => {
  await stopProcess(server);
  fs.rmSync(dir, { recursive: true, force: true });
});

function clientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return awsClientEnv(path.join(dir, "client"), { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, ...extra });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function aws(region: string, ...args: string[]): Promise<CliResult & { json?: any }> {
  const r = await runProgram("/usr/bin/aws", ["ec2", ...args, "--endpoint-url", endpoint, "--region", region, "--output", "json"], clientEnv());
  return { ...r, json: r.code === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

/** One `packer build`, its log kept apart (PACKER_LOG); its waiters poll every second (AWS_POLL_DELAY_SECONDS), up to 5 minutes. */
async function packerBuild(name: string, vars: string[] = []): Promise<CliResult & { log: string }> {
  const logPath = path.join(dir, `${name}.log`);
  const r = await runProgram(
    "/usr/bin/packer",
    ["build", "-color=false", "-var", `endpoint=${endpoint}`, ...vars, template],
    clientEnv({ AWS_POLL_DELAY_SECONDS: "1", AWS_MAX_ATTEMPTS: "300", PACKER_LOG: "1", PACKER_LOG_PATH: logPath, PACKER_CACHE_DIR: path.join(dir, "packer-cache"), CHECKPOINT_DISABLE: "1", TMPDIR: dir }),
    480_000,
  );
  return { ...r, log: fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8") : "" };
}

const artifactOf = (stdout: string) => Object.fromEntries([...stdout.matchAll(/^(us-[a-z]+-\d): (ami-[0-9a-f]+)$/gm)].map((m) => [m[1], m[2]]));

describe("Packer's amazon-ebs builder, unchanged, against amiboot", () => {
  it("builds an AMI from a source AMI, copies and tags it, and rebuilds over it with force_deregister", async () => {
    const imported = await runCli(["image", "import", image("hvm-linux.img"), "--name", "packer-source", "--json", "--endpoint", endpoint], { env, nodeFlags: [] });
    expect(imported.code, imported.stderr).toBe(0);
    const sourceId = JSON.parse(imported.stdout).imageId as string;

    const first = await packerBuild("first");
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.log).not.toMatch(/InvalidAction|is not valid for this web service/);
    const built = artifactOf(first.stdout);
    expect(Object.keys(built).sort()).toEqual(["us-east-1", "us-west-2"]);

    const image1 = (await aws("us-east-1", "describe-images", "--image-ids", built["us-east-1"]!)).json.Images[0];
    expect(image1).toMatchObject({ Name: "packer-built", State: "available", Description: "built by Packer on amiboot", RootDeviceType: "ebs" });
    expect(image1.Tags).toEqual(expect.arrayContaining([{ Key: "Built", Value: "packer" }, { Key: "Source", Value: sourceId }]));
    const snapshotId = image1.BlockDeviceMappings[0].Ebs.SnapshotId as string;
    const snapshot = (await aws("us-east-1", "describe-snapshots", "--snapshot-ids", snapshotId)).json.Snapshots[0];
    expect(snapshot.Tags).toEqual(expect.arrayContaining([{ Key: "Built", Value: "packer" }]));
    const copy = (await aws("us-west-2", "describe-images", "--image-ids", built["us-west-2"]!)).json.Images[0];
    expect(copy).toMatchObject({ Name: "packer-built", State: "available" });

    // Packer cleaned up after itself: its instance terminated, its key pair and security group gone.
    const instances = (await aws("us-east-1", "describe-instances", "--filters", "Name=tag:Purpose,Values=packer-build")).json.Reservations.flatMap((r: { Instances: unknown[] }) => r.Instances);
    expect(instances.map((i: { State: { Name: string } }) => i.State.Name)).toEqual(["terminated"]);
    expect((await aws("us-east-1", "describe-key-pairs")).json.KeyPairs).toEqual([]);
    expect((await aws("us-east-1", "describe-security-groups")).json.SecurityGroups.map((g: { GroupName: string }) => g.GroupName)).toEqual(["default"]);

    // The second build launches the first build's AMI: its file is there.
    const second = await packerBuild("second", ["-var", "source_name=packer-built"]);
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stdout).toMatch(/found from an earlier build: provisioned by packer on ip-/);
    const rebuilt = artifactOf(second.stdout);
    expect(rebuilt["us-east-1"]).toMatch(/^ami-/);
    expect(rebuilt["us-east-1"]).not.toBe(built["us-east-1"]);
    // force_deregister: one AMI of that name is left in the region, the new one; force_delete_snapshot: its snapshot went with it.
    const named = (await aws("us-east-1", "describe-images", "--owners", "self", "--filters", "Name=name,Values=packer-built")).json.Images;
    expect(named.map((i: { ImageId: string }) => i.ImageId)).toEqual([rebuilt["us-east-1"]]);
    const gone = await aws("us-east-1", "describe-snapshots", "--snapshot-ids", snapshotId);
    expect(gone.stderr).toContain("InvalidSnapshot.NotFound");
  }, 900_000);
});
