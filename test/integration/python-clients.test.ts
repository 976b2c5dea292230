import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../src/cloud/accounts.js";
import type { Cloud } from "../../src/cloud/cloud.js";
import { TestEndpoint } from "../ec2.js";
import { awsClientEnv, image, ROOT, runProgram, tempDir } from "../helpers.js";

/**
 * amiboot's EC2 endpoint driven by the Python clients Debian ships
 * (python3-boto3 and awscli, installed by .ci/run): by absolute path, with a
 * clean environment, so that neither a pyenv earlier in PATH nor the user's
 * ~/.aws takes part.
 */
const PYTHON = "/usr/bin/python3";
const AWS = "/usr/bin/aws";

const endpoint = new TestEndpoint();
/** The clients' HOME and their empty AWS config and credentials files. */
const dir = tempDir();
let cloud: Cloud;
let url: string;
let owner: Credentials;
let other: Credentials;
let snapshotId: string;

beforeAll(async () => {
  ({ cloud } = await endpoint.start());
  url = endpoint.server.url;
  owner = cloud.accounts.defaultAccount();
  other = cloud.accounts.create();
  snapshotId = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
});
afterAll(async () => {
  await endpoint.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const cleanEnv = (extra: Record<string, string>) => awsClientEnv(dir, extra);
const run = runProgram;

/** `aws ec2 ARGS` as the owner (or another account), JSON output. */
async function aws(args: string[], who: Credentials = owner, region = "us-east-1"): Promise<Run & { json?: any }> {
  const r = await run(AWS, ["ec2", ...args, "--endpoint-url", url, "--region", region, "--output", "json"], cleanEnv({ AWS_ACCESS_KEY_ID: who.accessKeyId, AWS_SECRET_ACCESS_KEY: who.secretAccessKey }));
  return { ...r, json: r.code === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

describe("the EC2 endpoint, driven by Debian's python3-boto3", () => {
  it("registers, finds, tags, shares, copies and deregisters an image; errors are ClientErrors; the paginator pages", async () => {
    const client = (c: Credentials) => ({ accountId: c.accountId, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey });
    const r = await run(PYTHON, ["-I", path.join(ROOT, "test", "clients", "boto3_flows.py")], cleanEnv({ AMIBOOT_CLIENT: JSON.stringify({ endpoint: url, snapshotId, owner: client(owner), other: client(other) }) }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);

    expect(out.client.boto3File).toMatch(/^\/usr\/lib\/python3\/dist-packages\/boto3\//);
    const { imageId, unrelatedId } = out.register;
    expect(imageId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(unrelatedId).toMatch(/^ami-[0-9a-f]{17}$/);

    expect(out.describeByName).toHaveLength(1);
    expect(out.describeByName[0]).toMatchObject({
      ImageId: imageId,
      Name: "py-hvm-1",
      Description: "py-hvm-1, registered by boto3",
      State: "available",
      OwnerId: owner.accountId,
      Public: false,
      Architecture: "i386",
      VirtualizationType: "hvm",
      RootDeviceType: "ebs",
      RootDeviceName: "/dev/sda1",
      ImageType: "machine",
      Hypervisor: "xen",
      BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId, DeleteOnTermination: true, Encrypted: false } }],
    });
    expect(Date.parse(out.describeByName[0].CreationDate)).not.toBeNaN();

    expect(out.tagged).toEqual([
      { Key: "stage", Value: "test" },
      { Key: "team", Value: "boot" },
    ]);
    expect(out.byTag).toEqual([imageId]);

    expect(out.otherBeforeShare).toEqual([]);
    expect(out.launchPermissions).toEqual([{ UserId: other.accountId }]);
    expect(out.otherAfterShare.map((i: { ImageId: string }) => i.ImageId)).toEqual([imageId]);
    expect(out.otherAfterShare[0]).toMatchObject({ OwnerId: owner.accountId, Public: false, State: "available" });

    expect(out.copy).toMatchObject({ Name: "py-hvm-1-copy", State: "available", OwnerId: owner.accountId, Architecture: "i386", Tags: expect.arrayContaining([{ Key: "team", Value: "boot" }]) });
    expect(out.copy.ImageId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(out.copy.ImageId).not.toBe(imageId);
    expect(out.copy.BlockDeviceMappings[0].Ebs.SnapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    expect(out.copy.BlockDeviceMappings[0].Ebs.SnapshotId).not.toBe(snapshotId);
    expect(out.copySnapshot).toHaveLength(1);
    expect(out.copySnapshot[0]).toMatchObject({ SnapshotId: out.copy.BlockDeviceMappings[0].Ebs.SnapshotId, OwnerId: owner.accountId, State: "completed" });
    expect(out.copyInSourceRegion).toEqual([]);

    expect(out.afterDeregister).toEqual({ listed: [unrelatedId], byId: [{ ImageId: imageId, State: "deregistered" }], copyStillThere: [out.copy.ImageId] });

    expect(out.errors.malformed).toMatchObject({ code: "InvalidAMIID.Malformed", status: 400 });
    expect(out.errors.wrongSecret).toMatchObject({ code: "AuthFailure", status: 401 });
    expect(out.errors.notFound).toMatchObject({ code: "InvalidAMIID.NotFound", status: 400 });
    expect(out.errors.duplicateName).toMatchObject({ code: "InvalidAMIName.Duplicate", message: `AMI name unrelated-image is already in use by AMI ${unrelatedId}` });

    // Debian 12's botocore has no DescribeImages paginator; the script takes the EC2 model of Debian's awscli.
    expect(out.pagination).toEqual([
      { names: ["page-0", "page-1"], nextToken: true },
      { names: ["page-2", "page-3"], nextToken: true },
      { names: ["page-4"], nextToken: false },
    ]);
  });
});

describe("the EC2 endpoint, driven by Debian's aws CLI", () => {
  it("lists regions", async () => {
    const r = await aws(["describe-regions"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.Regions.map((x: { RegionName: string }) => x.RegionName)).toEqual(expect.arrayContaining(["us-east-1", "eu-west-1"]));
    expect(r.json.Regions[0]).toMatchObject({ Endpoint: expect.stringMatching(/^ec2\./), OptInStatus: "opt-in-not-required" });
  });

  it("answers STS GetCallerIdentity on the same endpoint, for each account's keys", async () => {
    const sts = async (who: Credentials) => {
      const r = await run(AWS, ["sts", "get-caller-identity", "--endpoint-url", url, "--region", "us-east-1", "--output", "json"], cleanEnv({ AWS_ACCESS_KEY_ID: who.accessKeyId, AWS_SECRET_ACCESS_KEY: who.secretAccessKey }));
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    expect(await sts(owner)).toEqual({ UserId: owner.accountId, Account: owner.accountId, Arn: `arn:aws:iam::${owner.accountId}:root` });
    expect((await sts(other)).Account).toBe(other.accountId);
    const bad = await run(AWS, ["sts", "get-caller-identity", "--endpoint-url", url, "--region", "us-east-1"], cleanEnv({ AWS_ACCESS_KEY_ID: owner.accessKeyId, AWS_SECRET_ACCESS_KEY: "wrong" }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("AuthFailure");
  });

  it("registers, describes and deregisters an image", async () => {
    const bdm = JSON.stringify([{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }]);
    const reg = await aws(["register-image", "--name", "cli-hvm-1", "--architecture", "i386", "--virtualization-type", "hvm", "--root-device-name", "/dev/sda1", "--block-device-mappings", bdm]);
    expect(reg.code, reg.stderr).toBe(0);
    const id = reg.json.ImageId;
    expect(id).toMatch(/^ami-[0-9a-f]{17}$/);

    const desc = await aws(["describe-images", "--image-ids", id]);
    expect(desc.code, desc.stderr).toBe(0);
    expect(desc.json.Images).toHaveLength(1);
    expect(desc.json.Images[0]).toMatchObject({
      ImageId: id,
      Name: "cli-hvm-1",
      State: "available",
      OwnerId: owner.accountId,
      RootDeviceType: "ebs",
      BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId, DeleteOnTermination: true } }],
    });

    const dereg = await aws(["deregister-image", "--image-id", id]);
    expect(dereg.code, dereg.stderr).toBe(0);
    const after = await aws(["describe-images", "--owners", "self", "--filters", "Name=name,Values=cli-hvm-*"]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.json.Images).toEqual([]);
  });

  it("pages describe-images with --page-size and --max-items", async () => {
    const names = ["cli-page-0", "cli-page-1", "cli-page-2"];
    const bdm = JSON.stringify([{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }]);
    for (const name of names) expect((await aws(["register-image", "--name", name, "--root-device-name", "/dev/sda1", "--block-device-mappings", bdm])).code).toBe(0);
    const filter = ["--owners", "self", "--filters", "Name=name,Values=cli-page-*"];

    // MaxResults=1 on the wire; the CLI follows NextToken to the end.
    const all = await aws(["describe-images", ...filter, "--page-size", "1"]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.json.Images.map((i: { Name: string }) => i.Name)).toEqual(names);

    const first = await aws(["describe-images", ...filter, "--max-items", "2"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json.Images.map((i: { Name: string }) => i.Name)).toEqual(names.slice(0, 2));
    expect(first.json.NextToken).toEqual(expect.any(String));
    const rest = await aws(["describe-images", ...filter, "--max-items", "2", "--starting-token", first.json.NextToken]);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.json.Images.map((i: { Name: string }) => i.Name)).toEqual(names.slice(2));
    expect(rest.json.NextToken).toBeUndefined();
  });

  it("reports EC2 errors with exit code 254 and the error code on stderr", async () => {
    const r = await aws(["describe-images", "--image-ids", "ami-nope"]);
    expect(r.code).toBe(254);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("An error occurred (InvalidAMIID.Malformed) when calling the DescribeImages operation");

    const wrong = await aws(["describe-images"], { ...owner, secretAccessKey: "not-the-secret" });
    expect(wrong.code).toBe(254);
    expect(wrong.stderr).toContain("An error occurred (AuthFailure) when calling the DescribeImages operation");
  });
});
