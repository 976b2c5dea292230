import {
  CopyImageCommand,
  DeleteSnapshotCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeImageAttributeCommand,
  DescribeTagsCommand,
  ModifyImageAttributeCommand,
  ResetImageAttributeCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  RegisterImageCommand,
} from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Cloud } from "../../src/cloud/cloud.js";
import type { Credentials } from "../../src/cloud/accounts.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { awsClientEnv, image, runProgram, tempDir } from "../helpers.js";

const endpoint = new TestEndpoint();
let cloud: Cloud;
let owner: Credentials;
let other: Credentials;
let snapshotId: string;

beforeAll(async () => {
  ({ cloud } = await endpoint.start());
  owner = cloud.accounts.defaultAccount();
  other = cloud.accounts.create();
  snapshotId = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("hvm-linux.img")).snapshotId;
});
afterAll(() => endpoint.dispose());

const ec2 = (c: Credentials, region?: string, secret?: string) => endpoint.ec2(c, region, secret);

const register = (c: Credentials, name: string, region = "us-east-1") =>
  ec2(c, region).send(
    new RegisterImageCommand({
      Name: name,
      Architecture: "i386",
      VirtualizationType: "hvm",
      RootDeviceName: "/dev/sda1",
      BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }],
    }),
  );

describe("the EC2 Query API, driven by @aws-sdk/client-ec2", () => {
  it("lists regions", async () => {
    const r = await ec2(owner).send(new DescribeRegionsCommand({}));
    expect(r.Regions?.map((x) => x.RegionName)).toContain("us-east-1");
  });

  it("registers an EBS-backed image and describes it to its owner", async () => {
    const { ImageId } = await register(owner, "hvm-linux-1");
    expect(ImageId).toMatch(/^ami-[0-9a-f]{17}$/);
    const r = await ec2(owner).send(new DescribeImagesCommand({ Owners: ["self"] }));
    expect(r.Images).toHaveLength(1);
    expect(r.Images![0]).toMatchObject({
      ImageId,
      Name: "hvm-linux-1",
      State: "available",
      OwnerId: owner.accountId,
      Public: false,
      Architecture: "i386",
      VirtualizationType: "hvm",
      RootDeviceType: "ebs",
      RootDeviceName: "/dev/sda1",
      ImageType: "machine",
      BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId, DeleteOnTermination: true } }],
    });
  });

  it("filters by name with wildcards and by architecture", async () => {
    await register(owner, "other-name");
    const byName = await ec2(owner).send(new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "name", Values: ["hvm-*"] }] }));
    expect(byName.Images?.map((i) => i.Name)).toEqual(["hvm-linux-1"]);
    const byArch = await ec2(owner).send(new DescribeImagesCommand({ Filters: [{ Name: "architecture", Values: ["x86_64"] }] }));
    expect(byArch.Images).toEqual([]);
  });

  it("keeps private images from other accounts and other regions", async () => {
    const mine = await ec2(owner).send(new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "name", Values: ["hvm-linux-1"] }] }));
    const id = mine.Images![0]!.ImageId!;
    expect((await ec2(other).send(new DescribeImagesCommand({ Owners: ["self"] }))).Images).toEqual([]);
    expect(await ec2Error(ec2(other).send(new DescribeImagesCommand({ ImageIds: [id] })))).toMatchObject({
      name: "InvalidAMIID.NotFound",
      message: `The image id '[${id}]' does not exist`,
      status: 400,
    });
    expect((await ec2(owner, "us-west-2").send(new DescribeImagesCommand({ Owners: ["self"] }))).Images).toEqual([]);
  });

  it("answers bad requests with EC2's error codes", async () => {
    expect(await ec2Error(register(owner, "hvm-linux-1"))).toMatchObject({ name: "InvalidAMIName.Duplicate", message: expect.stringContaining("AMI name hvm-linux-1 is already in use by AMI ami-") });
    expect(await ec2Error(register(owner, "x"))).toMatchObject({ name: "InvalidAMIName.Malformed" });
    expect(
      await ec2Error(
        ec2(owner).send(new RegisterImageCommand({ Name: "ghost", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: "snap-0123456789abcdef0" } }] })),
      ),
    ).toMatchObject({ name: "InvalidSnapshot.NotFound", message: "The snapshot 'snap-0123456789abcdef0' does not exist." });
    expect(await ec2Error(ec2(owner).send(new DescribeImagesCommand({ ImageIds: ["ami-nope"] })))).toMatchObject({ name: "InvalidAMIID.Malformed" });
  });

  it("refuses a wrong secret with AuthFailure (401)", async () => {
    expect(await ec2Error(ec2(owner, "us-east-1", "not-the-secret").send(new DescribeImagesCommand({})))).toMatchObject({ name: "AuthFailure", status: 401 });
  });

  it("deregisters: only the owner, and the image leaves listings", async () => {
    const id = (await register(owner, "to-go")).ImageId!;
    expect(await ec2Error(ec2(other).send(new DeregisterImageCommand({ ImageId: id })))).toMatchObject({ name: "InvalidAMIID.NotFound" });
    await ec2(owner).send(new DeregisterImageCommand({ ImageId: id }));
    const names = (await ec2(owner).send(new DescribeImagesCommand({ Owners: ["self"] }))).Images!.map((i) => i.Name);
    expect(names).not.toContain("to-go");
    // The name is free again.
    expect((await register(owner, "to-go")).ImageId).toMatch(/^ami-/);
  });

  it("answers DescribeImageAttribute for every attribute EC2 lists, and refuses an unknown one", async () => {
    const id = (await register(owner, "attributes-1")).ImageId!;
    const attr = (Attribute: string) => ec2(owner).send(new DescribeImageAttributeCommand({ ImageId: id, Attribute: Attribute as never }));
    expect((await attr("productCodes")).ProductCodes).toEqual([]);
    expect((await attr("bootMode")).BootMode).toEqual({ Value: "legacy-bios" });
    expect((await attr("deregistrationProtection")).DeregistrationProtection).toEqual({ Value: "disabled" });
    // Never launched: no time.
    expect((await attr("lastLaunchedTime")).LastLaunchedTime?.Value).toBeUndefined();
    for (const a of ["kernel", "ramdisk", "sriovNetSupport", "tpmSupport", "uefiData", "imdsSupport", "description"]) expect((await attr(a)).ImageId, a).toBe(id);
    expect((await attr("blockDeviceMapping")).BlockDeviceMappings![0]!.DeviceName).toBe("/dev/sda1");
    expect(await ec2Error(attr("colour"))).toMatchObject({ name: "InvalidParameterValue", message: "Value (colour) for parameter attribute is invalid. Unknown attribute." });
  });

  it("shares an image with one account, then with everyone, then with no one", async () => {
    const id = (await register(owner, "shared-1")).ImageId!;
    const third = cloud.accounts.create();
    const sees = async (c: Credentials) => ((await ec2(c).send(new DescribeImagesCommand({ ExecutableUsers: ["self"] }))).Images ?? []).some((i) => i.ImageId === id);
    expect(await sees(other)).toBe(false);

    await ec2(owner).send(new ModifyImageAttributeCommand({ ImageId: id, LaunchPermission: { Add: [{ UserId: other.accountId }] } }));
    expect([await sees(other), await sees(third)]).toEqual([true, false]);
    const attr = await ec2(owner).send(new DescribeImageAttributeCommand({ ImageId: id, Attribute: "launchPermission" }));
    expect(attr.LaunchPermissions).toEqual([{ UserId: other.accountId }]);
    // A shared image is visible, but only its owner changes or removes it.
    expect(await ec2Error(ec2(other).send(new ModifyImageAttributeCommand({ ImageId: id, LaunchPermission: { Add: [{ Group: "all" }] } })))).toMatchObject({ name: "AuthFailure", message: `Not authorized for image:${id}` });
    expect(await ec2Error(ec2(other).send(new DeregisterImageCommand({ ImageId: id })))).toMatchObject({ name: "AuthFailure" });

    await ec2(owner).send(new ModifyImageAttributeCommand({ ImageId: id, LaunchPermission: { Add: [{ Group: "all" }] } }));
    expect(await sees(third)).toBe(true);
    const pub = await ec2(third).send(new DescribeImagesCommand({ ImageIds: [id] }));
    expect(pub.Images![0]!.Public).toBe(true);
    expect((await ec2(third).send(new DescribeImagesCommand({ ExecutableUsers: ["all"] }))).Images!.map((i) => i.ImageId)).toContain(id);

    await ec2(owner).send(new ResetImageAttributeCommand({ ImageId: id, Attribute: "launchPermission" }));
    expect([await sees(other), await sees(third)]).toEqual([false, false]);
    expect(await ec2Error(ec2(owner).send(new ModifyImageAttributeCommand({ ImageId: id, LaunchPermission: { Add: [{ UserId: "12345" }] } })))).toMatchObject({
      name: "InvalidAMIAttributeItemValue",
    });
  });

  it("tags images, at registration and after, with EC2's limits", async () => {
    const id = (
      await ec2(owner).send(
        new RegisterImageCommand({
          Name: "tagged-1",
          RootDeviceName: "/dev/sda1",
          BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }],
          TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "team", Value: "boot" }] }],
        }),
      )
    ).ImageId!;
    await ec2(owner).send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: "stage", Value: "test" }] }));
    const byTag = await ec2(owner).send(new DescribeImagesCommand({ Filters: [{ Name: "tag:team", Values: ["bo*"] }] }));
    expect(byTag.Images!.map((i) => i.ImageId)).toEqual([id]);
    expect(byTag.Images![0]!.Tags).toEqual([
      { Key: "stage", Value: "test" },
      { Key: "team", Value: "boot" },
    ]);
    const tags = await ec2(owner).send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [id] }] }));
    expect(tags.Tags).toHaveLength(2);
    await ec2(owner).send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: "stage" }] }));
    expect((await ec2(owner).send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [id] }] }))).Tags!.map((t) => t.Key)).toEqual(["team"]);

    expect(await ec2Error(ec2(owner).send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: "aws:x", Value: "y" }] })))).toMatchObject({ name: "InvalidParameterValue" });
    const many = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: "v" }));
    expect(await ec2Error(ec2(owner).send(new CreateTagsCommand({ Resources: [id], Tags: many })))).toMatchObject({ name: "TagLimitExceeded" });
    // The failed request changed nothing.
    expect((await ec2(owner).send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [id] }] }))).Tags).toHaveLength(1);
    expect(await ec2Error(ec2(other).send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: "a", Value: "b" }] })))).toMatchObject({ name: "InvalidAMIID.NotFound" });
  });

  it("copies an image to another region: new image, new snapshots, no launch permissions, tags on request", async () => {
    const src = (await register(owner, "copy-me")).ImageId!;
    await ec2(owner).send(new CreateTagsCommand({ Resources: [src], Tags: [{ Key: "k", Value: "v" }] }));
    await ec2(owner).send(new ModifyImageAttributeCommand({ ImageId: src, LaunchPermission: { Add: [{ UserId: other.accountId }] } }));
    const { ImageId } = await ec2(owner, "eu-west-1").send(new CopyImageCommand({ SourceImageId: src, SourceRegion: "us-east-1", Name: "copied", CopyImageTags: true }));
    const copy = (await ec2(owner, "eu-west-1").send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images![0]!;
    expect(copy).toMatchObject({ Name: "copied", Architecture: "i386", VirtualizationType: "hvm", Tags: [{ Key: "k", Value: "v" }] });
    const newSnap = copy.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
    expect(newSnap).toMatch(/^snap-/);
    expect(newSnap).not.toBe(snapshotId);
    expect((await ec2(owner, "eu-west-1").send(new DescribeImageAttributeCommand({ ImageId: ImageId!, Attribute: "launchPermission" }))).LaunchPermissions).toEqual([]);
    // The account it was shared with may copy it too; a stranger may not.
    expect((await ec2(other, "eu-west-1").send(new CopyImageCommand({ SourceImageId: src, SourceRegion: "us-east-1", Name: "their-copy" }))).ImageId).toMatch(/^ami-/);
    const stranger = cloud.accounts.create();
    expect(await ec2Error(ec2(stranger).send(new CopyImageCommand({ SourceImageId: src, SourceRegion: "us-east-1", Name: "nope" })))).toMatchObject({ name: "InvalidAMIID.NotFound" });
  });

  it("keeps snapshots an image uses: InvalidSnapshot.InUse, and DeleteAssociatedSnapshots spares shared ones", async () => {
    expect(await ec2Error(ec2(owner).send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })))).toMatchObject({ name: "InvalidSnapshot.InUse", message: expect.stringContaining(`The snapshot ${snapshotId} is currently in use by ami-`) });
    const own = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
    const registerOn = async (name: string) =>
      (await ec2(owner).send(new RegisterImageCommand({ Name: name, RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: own } }] }))).ImageId!;
    const first = await registerOn("mbr-a");
    const second = await registerOn("mbr-b");
    // mbr-b still uses the snapshot: deregistering mbr-a with DeleteAssociatedSnapshots keeps it.
    await ec2(owner).send(new DeregisterImageCommand({ ImageId: first, DeleteAssociatedSnapshots: true }));
    expect(cloud.volumes.getSnapshot(own).id).toBe(own);
    await ec2(owner).send(new DeregisterImageCommand({ ImageId: second, DeleteAssociatedSnapshots: true }));
    expect(() => cloud.volumes.getSnapshot(own)).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound" }));
  });

  it("keeps its state across a restart", async () => {
    await endpoint.restart();
    const r = await ec2(owner).send(new DescribeImagesCommand({ Owners: ["self"] }));
    expect(r.Images!.map((i) => i.Name).sort()).toEqual(["attributes-1", "copy-me", "hvm-linux-1", "other-name", "shared-1", "tagged-1", "to-go"]);
  });
});

describe("DescribeInstanceTypes", () => {
  it("lists the types amiboot offers: memory, one i386 vCPU, HVM and PV, EBS and instance store; filters, pages and EC2's error", async () => {
    const all = (await ec2(owner).send(new DescribeInstanceTypesCommand({}))).InstanceTypes!;
    expect(all.map((t) => t.InstanceType)).toContain("t1.micro");
    const micro = all.find((t) => t.InstanceType === "t2.micro")!;
    expect(micro).toMatchObject({
      MemoryInfo: { SizeInMiB: 192 },
      VCpuInfo: { DefaultVCpus: 1, DefaultCores: 1, DefaultThreadsPerCore: 1 },
      ProcessorInfo: { SupportedArchitectures: ["i386"] },
      SupportedRootDeviceTypes: ["ebs", "instance-store"],
      SupportedVirtualizationTypes: ["hvm", "paravirtual"],
      FreeTierEligible: true,
      BareMetal: false,
    });
    const big = await ec2(owner).send(new DescribeInstanceTypesCommand({ Filters: [{ Name: "memory-info.size-in-mib", Values: ["1024"] }] }));
    expect(big.InstanceTypes!.map((t) => t.InstanceType).sort()).toEqual(["m1.large", "t2.large", "t3.large"]);
    const asked = await ec2(owner).send(new DescribeInstanceTypesCommand({ InstanceTypes: ["t3.nano", "m1.small"] }));
    expect(asked.InstanceTypes!.map((t) => t.InstanceType)).toEqual(["t3.nano", "m1.small"]);
    const first = await ec2(owner).send(new DescribeInstanceTypesCommand({ MaxResults: 5 }));
    const rest = await ec2(owner).send(new DescribeInstanceTypesCommand({ NextToken: first.NextToken! }));
    expect([...first.InstanceTypes!, ...rest.InstanceTypes!].map((t) => t.InstanceType)).toEqual(all.map((t) => t.InstanceType));
    expect(await ec2Error(ec2(owner).send(new DescribeInstanceTypesCommand({ InstanceTypes: ["z9.huge" as never] })))).toMatchObject({
      name: "InvalidInstanceType",
      message: "The following supplied instance types do not exist: [z9.huge]",
    });
    expect(await ec2Error(ec2(owner).send(new DescribeInstanceTypesCommand({ Filters: [{ Name: "no-such-filter", Values: ["x"] }] })))).toMatchObject({ name: "InvalidParameterValue" });
  });

  it("answers Debian's aws CLI", async () => {
    const env = awsClientEnv(tempDir("types-cli-"), { AWS_ACCESS_KEY_ID: owner.accessKeyId, AWS_SECRET_ACCESS_KEY: owner.secretAccessKey });
    const r = await runProgram("/usr/bin/aws", ["ec2", "describe-instance-types", "--instance-types", "t1.micro", "--endpoint-url", endpoint.server.url, "--region", "us-east-1", "--output", "json"], env);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).InstanceTypes).toMatchObject([{ InstanceType: "t1.micro", MemoryInfo: { SizeInMiB: 128 } }]);
  });
});
