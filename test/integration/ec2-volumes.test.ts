import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeTagsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  ModifyVolumeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  waitUntilSnapshotCompleted,
  waitUntilVolumeAvailable,
  waitUntilVolumeInUse,
} from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForInstances } from "../../src/client/instance-wait.js";
import type { Credentials } from "../../src/cloud/accounts.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { image } from "../helpers.js";

/**
 * EBS volumes through the AWS SDK: CreateVolume (empty or from a snapshot),
 * DescribeVolumes with EC2's filters, the SDK's waiters, AttachVolume and
 * DetachVolume on a stopped instance (v86 cannot hot-plug: a running one is
 * IncorrectInstanceState), ModifyVolume, CreateSnapshot, DeleteVolume
 * (VolumeInUse while attached), and what a failed request leaves: nothing.
 */
const endpoint = new TestEndpoint();
let owner: Credentials;
let other: Credentials;
let snap: string;
let imageId: string;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  other = cloud.accounts.create();
  // idle.img prints the marker and idles: an instance that boots in seconds.
  snap = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("idle.img")).snapshotId;
  imageId = (await endpoint.ec2(owner).send(new RegisterImageCommand({ Name: "idle", VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }))).ImageId!;
});
afterAll(() => endpoint.dispose());

const waiter = { maxWaitTime: 60, minDelay: 1, maxDelay: 2 };

describe("EBS volumes", () => {
  it("creates, describes, filters, tags, modifies, snapshots and deletes a volume", async () => {
    const ec2 = endpoint.ec2(owner);
    const created = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 2, VolumeType: "gp3", Iops: 3000, TagSpecifications: [{ ResourceType: "volume", Tags: [{ Key: "Name", Value: "data" }] }] }),
    );
    expect(created).toMatchObject({ VolumeId: expect.stringMatching(/^vol-[0-9a-f]{17}$/), Size: 2, AvailabilityZone: "us-east-1a", State: "available", VolumeType: "gp3", Iops: 3000, Encrypted: false, Tags: [{ Key: "Name", Value: "data" }] });
    const id = created.VolumeId!;
    await waitUntilVolumeAvailable({ client: ec2, ...waiter }, { VolumeIds: [id] });

    const fromSnap = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1b", SnapshotId: snap }));
    expect(fromSnap).toMatchObject({ Size: 1, SnapshotId: snap, VolumeType: "gp2", AvailabilityZone: "us-east-1b" });

    const byTag = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "tag:Name", Values: ["data"] }] }));
    expect(byTag.Volumes!.map((v) => v.VolumeId)).toEqual([id]);
    const bySnap = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "snapshot-id", Values: [snap] }, { Name: "status", Values: ["available"] }] }));
    expect(bySnap.Volumes!.map((v) => v.VolumeId)).toEqual([fromSnap.VolumeId]);
    expect((await ec2.send(new DescribeVolumesCommand({ MaxResults: 5 }))).Volumes).toHaveLength(2);

    // Another account sees none of them.
    expect((await endpoint.ec2(other).send(new DescribeVolumesCommand({}))).Volumes).toEqual([]);
    expect(await ec2Error(endpoint.ec2(other).send(new DeleteVolumeCommand({ VolumeId: id })))).toMatchObject({ name: "InvalidVolume.NotFound" });

    const modified = await ec2.send(new ModifyVolumeCommand({ VolumeId: id, Size: 4 }));
    expect(modified.VolumeModification).toMatchObject({ VolumeId: id, ModificationState: "completed", OriginalSize: 2, TargetSize: 4 });
    expect((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes![0]!.Size).toBe(4);
    expect(await ec2Error(ec2.send(new ModifyVolumeCommand({ VolumeId: id, Size: 3 })))).toMatchObject({ name: "InvalidParameterValue" });

    const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: id, Description: "of data", TagSpecifications: [{ ResourceType: "snapshot", Tags: [{ Key: "k", Value: "v" }] }] }));
    expect(snapshot).toMatchObject({ SnapshotId: expect.stringMatching(/^snap-/), VolumeId: id, VolumeSize: 4, State: "completed", Description: "of data" });
    await waitUntilSnapshotCompleted({ client: ec2, ...waiter }, { SnapshotIds: [snapshot.SnapshotId!] });
    expect((await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] }))).Snapshots![0]!.Tags).toEqual([{ Key: "k", Value: "v" }]);

    await ec2.send(new CreateTagsCommand({ Resources: [fromSnap.VolumeId!], Tags: [{ Key: "role", Value: "copy" }] }));
    const tags = await ec2.send(new DescribeTagsCommand({}));
    expect(tags.Tags).toEqual(expect.arrayContaining([expect.objectContaining({ ResourceId: fromSnap.VolumeId, ResourceType: "volume", Key: "role" })]));

    await ec2.send(new DeleteVolumeCommand({ VolumeId: id }));
    await ec2.send(new DeleteVolumeCommand({ VolumeId: fromSnap.VolumeId! }));
    expect(await ec2Error(ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] })))).toMatchObject({ name: "InvalidVolume.NotFound", message: `The volume '${id}' does not exist.` });
  });

  it("answers a retried CreateVolume with the same ClientToken with the same volume, and refuses the token with other parameters", async () => {
    const ec2 = endpoint.ec2(owner);
    const before = (await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;
    const first = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1, ClientToken: "retry-me" }));
    const again = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1, ClientToken: "retry-me" }));
    expect(again.VolumeId).toBe(first.VolumeId);
    expect(await ec2Error(ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 2, ClientToken: "retry-me" })))).toMatchObject({ name: "IdempotentParameterMismatch" });
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes).toHaveLength(before + 1);
    await ec2.send(new DeleteVolumeCommand({ VolumeId: first.VolumeId! }));
  });

  it("refuses bad requests with EC2's codes and keeps nothing of them", async () => {
    const ec2 = endpoint.ec2(owner);
    const before = (await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length;
    const cases: [CreateVolumeCommand, string][] = [
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a" }), "MissingParameter"],
      [new CreateVolumeCommand({ Size: 1 } as never), "MissingParameter"],
      [new CreateVolumeCommand({ AvailabilityZone: "eu-west-1a", Size: 1 }), "InvalidParameterValue"],
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 0 }), "InvalidParameterValue"],
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1, VolumeType: "ssd" as never }), "InvalidParameterValue"],
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 10, VolumeType: "io1" }), "InvalidParameterCombination"],
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1, Iops: 500 }), "InvalidParameterCombination"],
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", SnapshotId: "snap-0123456789abcdef0" }), "InvalidSnapshot.NotFound"],
      [new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1, TagSpecifications: [{ ResourceType: "volume", Tags: [{ Key: "aws:x", Value: "y" }] }] }), "InvalidParameterValue"],
    ];
    for (const [command, code] of cases) expect(await ec2Error(ec2.send(command))).toMatchObject({ name: code });
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes).toHaveLength(before);
    expect(await ec2Error(ec2.send(new DescribeVolumesCommand({ VolumeIds: ["vol-x"] })))).toMatchObject({ name: "InvalidVolumeID.Malformed" });
  });

  it("attaches to and detaches from a stopped instance only, and keeps an in-use volume", async () => {
    const ec2 = endpoint.ec2(owner);
    const run = await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: "us-east-1a" } }));
    const instanceId = run.Instances![0]!.InstanceId!;
    await waitForInstances(ec2, [instanceId], "running", { timeoutMs: 60_000 });

    // The launch's root volume is a volume like any other: in use, in the instance's zone.
    const root = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] }))).Volumes!;
    expect(root).toEqual([expect.objectContaining({ State: "in-use", AvailabilityZone: "us-east-1a", SnapshotId: snap, Attachments: [expect.objectContaining({ InstanceId: instanceId, Device: "/dev/sda1", State: "attached", DeleteOnTermination: true })] })]);
    expect(await ec2Error(ec2.send(new DeleteVolumeCommand({ VolumeId: root[0]!.VolumeId! })))).toMatchObject({ name: "VolumeInUse" });

    const data = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1 }))).VolumeId!;
    const elsewhere = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1c", Size: 1 }))).VolumeId!;
    expect(await ec2Error(ec2.send(new AttachVolumeCommand({ VolumeId: data, InstanceId: instanceId, Device: "/dev/sdf" })))).toMatchObject({ name: "IncorrectInstanceState" });

    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await waitForInstances(ec2, [instanceId], "stopped", { timeoutMs: 60_000 });
    expect(await ec2Error(ec2.send(new AttachVolumeCommand({ VolumeId: elsewhere, InstanceId: instanceId, Device: "/dev/sdf" })))).toMatchObject({ name: "InvalidVolume.ZoneMismatch" });
    expect(await ec2Error(ec2.send(new AttachVolumeCommand({ VolumeId: data, InstanceId: instanceId, Device: "/dev/sda1" })))).toMatchObject({ name: "InvalidParameterValue" });
    const attached = await ec2.send(new AttachVolumeCommand({ VolumeId: data, InstanceId: instanceId, Device: "/dev/sdf" }));
    expect(attached).toMatchObject({ VolumeId: data, InstanceId: instanceId, Device: "/dev/sdf", State: "attached" });
    await waitUntilVolumeInUse({ client: ec2, ...waiter }, { VolumeIds: [data] });
    // v86 has two disks: a third is refused.
    const third = (await ec2.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", Size: 1 }))).VolumeId!;
    expect(await ec2Error(ec2.send(new AttachVolumeCommand({ VolumeId: third, InstanceId: instanceId, Device: "/dev/sdg" })))).toMatchObject({ name: "AttachmentLimitExceeded" });

    // The instance starts with the volume as its second disk, and stops again.
    await ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] }));
    await waitForInstances(ec2, [instanceId], "running", { timeoutMs: 60_000 });
    expect(await ec2Error(ec2.send(new DetachVolumeCommand({ VolumeId: data })))).toMatchObject({ name: "IncorrectInstanceState" });
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await waitForInstances(ec2, [instanceId], "stopped", { timeoutMs: 60_000 });
    expect(await ec2Error(ec2.send(new DetachVolumeCommand({ VolumeId: root[0]!.VolumeId! })))).toMatchObject({ name: "OperationNotPermitted" });
    expect(await ec2.send(new DetachVolumeCommand({ VolumeId: data }))).toMatchObject({ VolumeId: data, InstanceId: instanceId, State: "detached" });
    await waitUntilVolumeAvailable({ client: ec2, ...waiter }, { VolumeIds: [data] });

    // Terminating deletes the root volume (DeleteOnTermination) and its record.
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await waitForInstances(ec2, [instanceId], "terminated", { timeoutMs: 60_000 });
    expect(await ec2Error(ec2.send(new DescribeVolumesCommand({ VolumeIds: [root[0]!.VolumeId!] })))).toMatchObject({ name: "InvalidVolume.NotFound" });
    for (const v of [data, elsewhere, third]) await ec2.send(new DeleteVolumeCommand({ VolumeId: v }));
  });
});
