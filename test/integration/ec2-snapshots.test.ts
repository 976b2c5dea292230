import {
  CopySnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotAttributeCommand,
  ModifySnapshotAttributeCommand,
  ResetSnapshotAttributeCommand,
  CopyImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeTagsCommand,
  RegisterImageCommand,
} from "@aws-sdk/client-ec2";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../src/cloud/accounts.js";
import { createBundle } from "../../src/volumes/bundle.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { image } from "../helpers.js";

const endpoint = new TestEndpoint();
let owner: Credentials;
let other: Credentials;
let snap: string;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  other = cloud.accounts.create();
  snap = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img"), { description: "the MBR disk" }).snapshotId;
});
afterAll(() => endpoint.dispose());

const registerOn = (c: Credentials, snapshotId: string, name: string, region = "us-east-1") =>
  endpoint.ec2(c, region).send(new RegisterImageCommand({ Name: name, RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }] }));

async function stateOf(imageId: string, until: (s: string) => boolean): Promise<{ State?: string; StateReason?: { Code?: string; Message?: string } }> {
  for (let i = 0; i < 200; i++) {
    const img = (await endpoint.ec2(owner).send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images![0]!;
    if (until(img.State!)) return img;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${imageId} never left pending`);
}

describe("snapshots belong to an account and a region", () => {
  it("DescribeSnapshots shows the owner its snapshots, with EC2's fields", async () => {
    const r = await endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }));
    expect(r.Snapshots).toEqual([
      expect.objectContaining({ SnapshotId: snap, OwnerId: owner.accountId, State: "completed", Progress: "100%", VolumeSize: 1, Description: "the MBR disk", Encrypted: false }),
    ]);
    expect((await endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] }))).Snapshots![0]!.SnapshotId).toBe(snap);
  });

  it("hides them from other accounts and other regions, and RegisterImage refuses them there", async () => {
    expect((await endpoint.ec2(other).send(new DescribeSnapshotsCommand({}))).Snapshots).toEqual([]);
    expect(await ec2Error(endpoint.ec2(other).send(new DescribeSnapshotsCommand({ SnapshotIds: [snap] })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    expect(await ec2Error(registerOn(other, snap, "theirs"))).toMatchObject({ name: "InvalidSnapshot.NotFound", message: `The snapshot '${snap}' does not exist.` });
    expect(await ec2Error(registerOn(owner, snap, "elsewhere", "eu-west-1"))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    expect(await ec2Error(endpoint.ec2(other).send(new DeleteSnapshotCommand({ SnapshotId: snap })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    expect(await ec2Error(endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ SnapshotIds: ["snap-nope"] })))).toMatchObject({ name: "InvalidSnapshotID.Malformed" });
  });

  it("tags snapshots and filters on them, owner only", async () => {
    await endpoint.ec2(owner).send(new CreateTagsCommand({ Resources: [snap], Tags: [{ Key: "role", Value: "root-disk" }] }));
    expect(await ec2Error(endpoint.ec2(other).send(new CreateTagsCommand({ Resources: [snap], Tags: [{ Key: "x", Value: "y" }] })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    const tagged = await endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ Filters: [{ Name: "tag:role", Values: ["root-*"] }] }));
    expect(tagged.Snapshots!.map((s) => s.SnapshotId)).toEqual([snap]);
    expect((await endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ Filters: [{ Name: "tag:role", Values: ["data"] }] }))).Snapshots).toEqual([]);
    const tags = await endpoint.ec2(owner).send(new DescribeTagsCommand({ Filters: [{ Name: "resource-type", Values: ["snapshot"] }] }));
    expect(tags.Tags).toEqual([{ ResourceId: snap, ResourceType: "snapshot", Key: "role", Value: "root-disk" }]);
    expect(await ec2Error(endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ Filters: [{ Name: "colour", Values: ["x"] }] })))).toMatchObject({ name: "InvalidParameterValue" });
  });

  it("DeregisterImage with DeleteAssociatedSnapshots deletes a snapshot that backs two of its devices once", async () => {
    const twice = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
    const { ImageId } = await endpoint.ec2(owner).send(
      new RegisterImageCommand({ Name: "twice", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: twice } }, { DeviceName: "/dev/sdb", Ebs: { SnapshotId: twice } }] }),
    );
    await endpoint.ec2(owner).send(new DeregisterImageCommand({ ImageId, DeleteAssociatedSnapshots: true }));
    expect(await ec2Error(endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ SnapshotIds: [twice] })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
  });

  it("deletes at start the snapshots a killed server wrote but never recorded, and only those", async () => {
    const volumes = endpoint.cloud.volumes;
    // As a CopyImage killed between its manifest and its record would leave it.
    const orphan = volumes.copySnapshot(snap, "Copied for ami-0123456789abcdef0 from us-east-1").id;
    // Made by the local CLI without an owner ('amiboot volume snapshot'): not the server's to delete.
    const local = volumes.importSnapshot(image("mbr.img"), { description: "my own" }).id;
    await endpoint.restart();
    expect(() => endpoint.cloud.volumes.getSnapshot(orphan)).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound" }));
    expect(endpoint.cloud.volumes.getSnapshot(local).id).toBe(local);
    expect(endpoint.cloud.volumes.getSnapshot(snap).id).toBe(snap);
  });

  it("deletes a snapshot once no image uses it", async () => {
    const imageId = (await registerOn(owner, snap, "uses-snap")).ImageId!;
    expect(await ec2Error(endpoint.ec2(owner).send(new DeleteSnapshotCommand({ SnapshotId: snap })))).toMatchObject({ name: "InvalidSnapshot.InUse" });
    expect(imageId).toMatch(/^ami-/);
    const spare = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
    await endpoint.ec2(owner).send(new DeleteSnapshotCommand({ SnapshotId: spare }));
    expect(await ec2Error(endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ SnapshotIds: [spare] })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    expect(() => endpoint.cloud.volumes.getSnapshot(spare)).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound" }));
  });
});

describe("instance-store images: pending until the bundle verifies", () => {
  const bucket = () => path.join(endpoint.home, "buckets", "bundles");

  it("becomes available when every part matches its digest", async () => {
    createBundle(image("mbr.img"), { bucket: bucket(), prefix: "good" });
    const { ImageId } = await endpoint.ec2(owner).send(new RegisterImageCommand({ Name: "bundle-good", ImageLocation: "bundles/good.manifest.xml", Architecture: "i386", VirtualizationType: "hvm" }));
    const img = await stateOf(ImageId!, (s) => s !== "pending");
    expect(img).toMatchObject({ State: "available" });
    expect(img.StateReason).toBeUndefined();
  });

  it("fails with a state reason when a part was altered, and cannot be copied", async () => {
    const { manifest } = createBundle(image("mbr.img"), { bucket: bucket(), prefix: "bad" });
    const part = path.join(bucket(), manifest.parts[0]!.filename);
    const bytes = fs.readFileSync(part);
    bytes[100] = bytes[100]! ^ 0xff;
    fs.writeFileSync(part, bytes);
    const { ImageId } = await endpoint.ec2(owner).send(new RegisterImageCommand({ Name: "bundle-bad", ImageLocation: "bundles/bad.manifest.xml", Architecture: "i386", VirtualizationType: "hvm" }));
    const img = await stateOf(ImageId!, (s) => s !== "pending");
    expect(img).toMatchObject({ State: "failed", StateReason: { Code: "Client.InvalidManifest", Message: expect.stringContaining("does not match its digest") } });
  });

  it("resumes the verification of images left pending by a server that stopped", async () => {
    createBundle(image("mbr.img"), { bucket: bucket(), prefix: "later" });
    const image_ = endpoint.cloud.images.register(owner.accountId, "us-east-1", { name: "bundle-later", imageLocation: "bundles/later.manifest.xml", architecture: "i386", virtualizationType: "hvm", blockDeviceMappings: [] });
    await stateOf(image_.imageId, (s) => s !== "pending");
    // As after a crash before the verification ended: the row says pending, and only a new verification can change it.
    endpoint.cloud.db.prepare("update images set state = 'pending' where id = ?").run(image_.imageId);
    await endpoint.restart();
    expect(await stateOf(image_.imageId, (s) => s !== "pending")).toMatchObject({ State: "available" });
  });
});

describe("sharing and copying snapshots", () => {
  it("createVolumePermission shares a snapshot: the other account sees it, makes volumes from it and copies it; removing it ends that", async () => {
    const mine = endpoint.ec2(owner);
    const theirs = endpoint.ec2(other);
    const shared = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img"), { description: "to share" }).snapshotId;
    expect(await ec2Error(theirs.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", SnapshotId: shared })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });

    await mine.send(new ModifySnapshotAttributeCommand({ SnapshotId: shared, Attribute: "createVolumePermission", OperationType: "add", UserIds: [other.accountId] }));
    expect((await mine.send(new DescribeSnapshotAttributeCommand({ SnapshotId: shared, Attribute: "createVolumePermission" }))).CreateVolumePermissions).toEqual([{ UserId: other.accountId }]);
    expect((await theirs.send(new DescribeSnapshotsCommand({ SnapshotIds: [shared] }))).Snapshots![0]).toMatchObject({ SnapshotId: shared, OwnerId: owner.accountId });
    expect((await theirs.send(new CreateVolumeCommand({ AvailabilityZone: "us-east-1a", SnapshotId: shared }))).SnapshotId).toBe(shared);
    // Only the owner changes or reads the permission, or deletes the snapshot.
    expect(await ec2Error(theirs.send(new DescribeSnapshotAttributeCommand({ SnapshotId: shared, Attribute: "createVolumePermission" })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    expect(await ec2Error(theirs.send(new DeleteSnapshotCommand({ SnapshotId: shared })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });

    // CopySnapshot into another region: the copy is the copier's, with EC2's default description.
    const copy = await endpoint.ec2(other, "eu-west-1").send(new CopySnapshotCommand({ SourceRegion: "us-east-1", SourceSnapshotId: shared, TagSpecifications: [{ ResourceType: "snapshot", Tags: [{ Key: "copy", Value: "yes" }] }] }));
    const copied = (await endpoint.ec2(other, "eu-west-1").send(new DescribeSnapshotsCommand({ SnapshotIds: [copy.SnapshotId!] }))).Snapshots![0]!;
    expect(copied).toMatchObject({ OwnerId: other.accountId, Description: `[Copied ${shared} from us-east-1]`, Tags: [{ Key: "copy", Value: "yes" }], State: "completed" });

    await mine.send(new ModifySnapshotAttributeCommand({ SnapshotId: shared, CreateVolumePermission: { Add: [{ Group: "all" }] } }));
    expect((await mine.send(new DescribeSnapshotAttributeCommand({ SnapshotId: shared, Attribute: "createVolumePermission" }))).CreateVolumePermissions).toEqual([{ UserId: other.accountId }, { Group: "all" }]);
    expect(await ec2Error(mine.send(new ModifySnapshotAttributeCommand({ SnapshotId: shared, CreateVolumePermission: { Add: [{ Group: "admins" as never }] } })))).toMatchObject({ name: "InvalidParameterValue" });
    await mine.send(new ResetSnapshotAttributeCommand({ SnapshotId: shared, Attribute: "createVolumePermission" }));
    expect(await ec2Error(theirs.send(new DescribeSnapshotsCommand({ SnapshotIds: [shared] })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
    expect(await ec2Error(theirs.send(new CopySnapshotCommand({ SourceRegion: "us-east-1", SourceSnapshotId: shared })))).toMatchObject({ name: "InvalidSnapshot.NotFound" });
  });
});

describe("edge cases real clients send", () => {
  it("answers DryRun with DryRunOperation (412) and changes nothing", async () => {
    expect(await ec2Error(endpoint.ec2(owner).send(new DescribeImagesCommand({ DryRun: true })))).toMatchObject({ name: "DryRunOperation", status: 412 });
    expect(await ec2Error(endpoint.ec2(owner).send(new DescribeImagesCommand({ DryRun: true, ImageIds: ["ami-bad"] })))).toMatchObject({ name: "InvalidAMIID.Malformed" });
    const dry = await ec2Error(endpoint.ec2(owner).send(new RegisterImageCommand({ DryRun: true, Name: "never-made", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] })));
    expect(dry).toMatchObject({ name: "DryRunOperation" });
    expect((await endpoint.ec2(owner).send(new DescribeImagesCommand({ Filters: [{ Name: "name", Values: ["never-made"] }] }))).Images).toEqual([]);
  });

  it("refuses MaxResults outside 1 to 1000 (a client paging with 0 would loop)", async () => {
    for (const MaxResults of [0, -1, 1001]) {
      expect(await ec2Error(endpoint.ec2(owner).send(new DescribeImagesCommand({ Owners: ["self"], MaxResults })))).toMatchObject({ name: "InvalidParameterValue" });
      expect(await ec2Error(endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ MaxResults })))).toMatchObject({ name: "InvalidParameterValue" });
    }
  });

  it("names an unknown source region, and keeps the server's paths out of bundle errors", async () => {
    const { ImageId } = await registerOn(owner, snap, "copy-source");
    expect(await ec2Error(endpoint.ec2(owner).send(new CopyImageCommand({ SourceImageId: ImageId, SourceRegion: "mars-1", Name: "x" })))).toMatchObject({ name: "InvalidParameterValue", message: expect.stringContaining("mars-1") });
    const e = await ec2Error(endpoint.ec2(owner).send(new RegisterImageCommand({ Name: "no-bundle", ImageLocation: "bundles/missing.manifest.xml", VirtualizationType: "hvm" })));
    expect(e).toMatchObject({ name: "InvalidManifest", message: expect.stringContaining("bundles/missing.manifest.xml") });
    expect(e.message).not.toContain(endpoint.home);
  });
});
