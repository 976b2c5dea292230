import {
  CreateImageCommand,
  CreateTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeSnapshotsCommand,
  DescribeTagsCommand,
  GetConsoleOutputCommand,
  RebootInstancesCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
} from "@aws-sdk/client-ec2";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { waitForInstances, type InstanceGoal } from "../../src/client/instance-wait.js";
import type { Credentials } from "../../src/cloud/accounts.js";
import { createBundle } from "../../src/volumes/bundle.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { image, MARKER } from "../helpers.js";

const endpoint = new TestEndpoint();
let owner: Credentials;
let ec2: EC2Client;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  ec2 = endpoint.ec2(owner);
});
afterAll(() => endpoint.dispose());

/** UserData (a `#!` script the sample image's cloud-init stand-in fetches from IMDS and runs at every boot): it writes a mark to /dev/sdb once, and says whether it found one. */
const PERSIST_SCRIPT = [
  "if dd if=/dev/sdb bs=16 count=1 2>/dev/null | grep -q AMIBOOT-PERSIST; then echo FOUND-$((40+2)); else",
  "printf AMIBOOT-PERSIST | dd of=/dev/sdb conv=fsync 2>/dev/null && echo WROTE-$((40+2)); fi",
].join(" ");
const userData = Buffer.from(`#!/bin/sh\n${PERSIST_SCRIPT}\n`).toString("base64");

async function registerEbs(file: string, name: string, virtualizationType: "hvm" | "paravirtual" = "hvm"): Promise<string> {
  const snap = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", file).snapshotId;
  const r = await ec2.send(
    new RegisterImageCommand({ Name: name, Architecture: "i386", VirtualizationType: virtualizationType, RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }),
  );
  return r.ImageId!;
}

async function describe1(id: string): Promise<Instance> {
  return (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
}

/** Polls `probe` until it returns without throwing (vitest's waiter): for consoles and files, which send no events. */
const until = <T>(probe: () => Promise<T> | T, timeout = 120_000) => vi.waitFor(probe, { timeout, interval: 200 });

const waitState = (ids: string | string[], goal: InstanceGoal) => waitForInstances(ec2, typeof ids === "string" ? [ids] : ids, goal, { timeoutMs: 120_000, intervalMs: 100 });
const consoleText = async (id: string) => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? "", "base64").toString("latin1");
const waitConsole = (id: string, text: string | RegExp) =>
  until(async () => {
    const c = await consoleText(id);
    if (!(typeof text === "string" ? c.includes(text) : text.test(c))) throw new Error(`${id}'s console does not show ${String(text)} yet`);
    return c;
  });

describe("instances through the EC2 API", () => {
  it("runs an EBS-backed HVM image to its marker; stop keeps the volumes, start finds the data, CreateImage carries it", async () => {
    const imageId = await registerEbs(image("hvm-linux.img"), "hvm-lifecycle");
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: "t1.micro",
        MinCount: 1,
        MaxCount: 1,
        UserData: userData,
        BlockDeviceMappings: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 } }],
        TagSpecifications: [
          { ResourceType: "instance", Tags: [{ Key: "Name", Value: "lifecycle" }] },
          { ResourceType: "volume", Tags: [{ Key: "team", Value: "disks" }] },
        ],
      }),
    );
    const id = run.Instances![0]!.InstanceId!;
    expect(run.Instances![0]!).toMatchObject({ ImageId: imageId, InstanceType: "t1.micro", State: { Code: 0, Name: "pending" }, Tags: [{ Key: "Name", Value: "lifecycle" }] });
    await waitState(id, "running");
    await waitState(id, "status-ok");
    expect((await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }))).InstanceStatuses![0]!.InstanceStatus).toMatchObject({ Status: "ok", Details: [{ Name: "reachability", Status: "passed" }] });
    expect(await consoleText(id)).toContain(MARKER);
    await waitConsole(id, /^WROTE-42/m);
    const running = await describe1(id);
    expect(running.BlockDeviceMappings!.map((m) => m.DeviceName)).toEqual(["/dev/sda1", "/dev/sdb"]);
    const dataVolume = running.BlockDeviceMappings![1]!.Ebs!.VolumeId!;
    const rootVolume = running.BlockDeviceMappings![0]!.Ebs!.VolumeId!;

    // Volume TagSpecifications tag every volume the launch made; CreateTags takes them too.
    await ec2.send(new CreateTagsCommand({ Resources: [dataVolume], Tags: [{ Key: "role", Value: "data" }] }));
    const volumeTags = (await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: "resource-type", Values: ["volume"] }] }))).Tags!;
    expect(volumeTags.map((t) => [t.ResourceId, t.Key, t.Value]).sort()).toEqual(
      [[rootVolume, "team", "disks"], [dataVolume, "role", "data"], [dataVolume, "team", "disks"]].sort(),
    );
    expect(volumeTags.every((t) => t.ResourceType === "volume")).toBe(true);
    expect(await ec2Error(ec2.send(new CreateTagsCommand({ Resources: ["vol-0123456789abcdef0"], Tags: [{ Key: "a", Value: "b" }] })))).toMatchObject({ name: "InvalidVolume.NotFound" });

    const stop = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(stop.StoppingInstances![0]).toMatchObject({ InstanceId: id, PreviousState: { Name: "running" }, CurrentState: { Name: "stopping", Code: 64 } });
    await waitState(id, "stopped");
    expect((await describe1(id)).StateReason).toMatchObject({ Code: "Client.UserInitiatedShutdown" });

    // CreateImage with a bad tag: refused before anything is made, no image and no snapshot left behind.
    const imagesBefore = (await ec2.send(new DescribeImagesCommand({ Owners: ["self"] }))).Images!.length;
    const snapshotsBefore = (await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots!.length;
    expect(
      await ec2Error(ec2.send(new CreateImageCommand({ InstanceId: id, Name: "bad-tag", TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "aws:mine", Value: "x" }] }] }))),
    ).toMatchObject({ name: "InvalidParameterValue", message: "Tag keys starting with 'aws:' are reserved for internal use" });
    expect((await ec2.send(new DescribeImagesCommand({ Owners: ["self"] }))).Images!.length).toBe(imagesBefore);
    expect((await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots!.length).toBe(snapshotsBefore);
    expect(endpoint.cloud.volumes.getVolume(dataVolume).id).toBe(dataVolume);
    expect(await ec2Error(ec2.send(new RebootInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "IncorrectInstanceState" });

    await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, "running");
    await waitConsole(id, /^FOUND-42/m);

    // CreateImage (with the reboot): the new image's data volume holds what the guest wrote.
    const { ImageId: created } = await ec2.send(new CreateImageCommand({ InstanceId: id, Name: "made-from-instance", TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "from", Value: id }] }] }));
    const made = (await ec2.send(new DescribeImagesCommand({ ImageIds: [created!] }))).Images![0]!;
    expect(made).toMatchObject({ State: "available", VirtualizationType: "hvm", RootDeviceType: "ebs", Tags: [{ Key: "from", Value: id }] });
    expect(made.BlockDeviceMappings!.map((m) => m.DeviceName)).toEqual(["/dev/sda1", "/dev/sdb"]);
    // The reboot: the instance runs again (its guest boots on while the image's instance boots).
    await waitState(id, "running");
    const second = (await ec2.send(new RunInstancesCommand({ ImageId: created, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1, UserData: userData }))).Instances![0]!.InstanceId!;
    await waitConsole(second, /^FOUND-42/m);

    // Terminate: the root (DeleteOnTermination) goes, the added data volume stays.
    const term = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id, second] }));
    expect(term.TerminatingInstances!.map((t) => t.CurrentState!.Name)).toEqual(["shutting-down", "shutting-down"]);
    await waitState([id, second], "terminated");
    expect(() => endpoint.cloud.volumes.getVolume(rootVolume)).toThrow();
    // The deleted root's tags went with it; the kept data volume keeps its own.
    const left = (await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: "resource-type", Values: ["volume"] }] }))).Tags!;
    expect(left.map((t) => t.ResourceId)).toEqual([dataVolume, dataVolume]);
    expect(endpoint.cloud.volumes.getVolume(dataVolume).id).toBe(dataVolume);
    expect(await ec2Error(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "IncorrectInstanceState" });
    // The console of an ended instance is still there.
    expect(await consoleText(second)).toContain("FOUND-42");
  }, 360_000);

  it("runs an instance-store image: stop refused, reboot keeps ephemeral data, terminate", async () => {
    const bucket = path.join(endpoint.home, "buckets", "bundles");
    createBundle(image("hvm-linux.img"), { bucket, prefix: "hvm-is" });
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: "hvm-instance-store", ImageLocation: "bundles/hvm-is.manifest.xml", Architecture: "i386", VirtualizationType: "hvm" }));
    await until(async () => expect((await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images![0]!.State).toBe("available"));
    const id = (
      await ec2.send(new RunInstancesCommand({ ImageId, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1, UserData: userData, BlockDeviceMappings: [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }] }))
    ).Instances![0]!.InstanceId!;
    await waitConsole(id, /^WROTE-42/m);
    expect((await describe1(id)).RootDeviceType).toBe("instance-store");
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })))).toMatchObject({
      name: "UnsupportedOperation",
      message: `The instance '${id}' does not have an 'ebs' root device type and cannot be stopped.`,
    });
    await ec2.send(new RebootInstancesCommand({ InstanceIds: [id] }));
    const after = await waitConsole(id, /^FOUND-42/m);
    expect(after.split(MARKER).length - 1).toBe(2);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, "terminated");
  });

  it("boots a PV image through the shim, and a deregistered image's instance carries on", async () => {
    const imageId = await registerEbs(image("pv-linux.img"), "pv-instance", "paravirtual");
    const id = (await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
    const text = await waitConsole(id, MARKER);
    expect(text).toContain("amiboot PV-GRUB shim: booting entry 0");
    expect((await describe1(id)).State!.Name).toBe("running");
    expect(await ec2Error(ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 })))).toMatchObject({ name: "InvalidAMIID.Unavailable" });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitState(id, "terminated");
  });

  it("contains hostile guests: one that spins, one that triple-faults, one that halts; others are unaffected", async () => {
    const bootSector = (file: string, code: number[]) => {
      const disk = Buffer.alloc(512 * 2048);
      disk.set(code, 0);
      disk.set([0x55, 0xaa], 510);
      fs.writeFileSync(file, disk);
      return file;
    };
    const spinner = await registerEbs(bootSector(path.join(endpoint.home, "spin.img"), [0xeb, 0xfe]), "spins-forever"); // jmp $
    // lidt [0x7c10] (a zero-limit IDT at 0x7c10), then int3: every exception faults again, a triple fault.
    const faulter = await registerEbs(bootSector(path.join(endpoint.home, "fault.img"), [0x0f, 0x01, 0x1e, 0x10, 0x7c, 0xcc, 0xeb, 0xfe]), "triple-faults");

    const halter = await registerEbs(image("mbr.img"), "halts-at-once");
    // The well-behaved one first: hostile guests hold a boot slot until it times out (30 s).
    const h = (await ec2.send(new RunInstancesCommand({ ImageId: halter, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    const s = (await ec2.send(new RunInstancesCommand({ ImageId: spinner, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    const f = (await ec2.send(new RunInstancesCommand({ ImageId: faulter, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    // Every state change of the faulting one, as the instances' events tell it.
    const faulterStates: string[] = [];
    const off = endpoint.cloud.instances.on("state", (e) => e.instanceId === f && faulterStates.push(e.current));
    await waitState(s, "running");
    // The halting guest's VM ends: an EBS instance stops, with the reason.
    await waitState(h, "stopped");
    expect((await describe1(h)).StateReason).toMatchObject({ Code: "Client.InstanceInitiatedShutdown" });
    const st = (await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [s] }))).InstanceStatuses![0]!;
    expect(st.InstanceStatus!.Status).toBe("initializing");
    // The faulting machine: its BIOS hands over to the boot sector, which triple-faults at once; v86 keeps
    // the machine (it does not end the VM), so the instance stays running, its status check never passing.
    await endpoint.cloud.instances.waitFor(f, "running", { timeoutMs: 120_000 });
    await until(() => expect(endpoint.cloud.instances.get(owner.accountId, "us-east-1", f, "test").milestones.map((m) => m.name)).toContain("bios"));
    expect((await describe1(f)).State!.Name).toBe("running");
    expect((await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [f] }))).InstanceStatuses![0]!.InstanceStatus!.Status).toBe("initializing");
    expect(faulterStates).toEqual(["running"]);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [s, f] }));
    await waitState([s, f], "terminated");
    off();
    expect(faulterStates).toEqual(["running", "shutting-down", "terminated"]);
  });

  it("launches warm from the state saved at the image's first marker; the guest carries on from there", async () => {
    const imageId = await registerEbs(image("hvm-linux.img"), "warm-launch");
    const warm = { ImageId: imageId, InstanceType: "t1.micro" as const, MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: "instance" as const, Tags: [{ Key: "amiboot:warm", Value: "true" }] }] };
    // The first warm launch boots cold and saves the state at its marker.
    const first = (await ec2.send(new RunInstancesCommand(warm))).Instances![0]!.InstanceId!;
    await waitConsole(first, MARKER);
    const states = path.join(endpoint.home, "states");
    await until(() => expect(fs.existsSync(states) && fs.readdirSync(states).some((f) => f.startsWith(imageId))).toBe(true));
    const second = (await ec2.send(new RunInstancesCommand({ ...warm, UserData: userData, BlockDeviceMappings: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 } }] }))).Instances![0]!.InstanceId!;
    // A different disk layout: no state for it yet, so this one booted cold.
    await waitConsole(second, /^WROTE-42/m);
    const third = (await ec2.send(new RunInstancesCommand(warm))).Instances![0]!.InstanceId!;
    const text = await waitConsole(third, "AMIBOOT-DISKS-READY");
    // Restored after the marker: no kernel boot, the marker is not printed again, the disks are probed anew.
    expect(text).not.toContain("Linux version");
    expect(text).not.toContain(MARKER);
    const milestones = endpoint.cloud.instances.get(owner.accountId, "us-east-1", third, "test").milestones;
    expect(milestones.map((m) => m.name)).toEqual(["until"]);
    // The server kept a machine restored from the state since it was saved (standbyMachines): the launch runs on it.
    expect(milestones[0]!.text).toMatch(/^restored from .* ahead of the launch$/);
    // Prepared before this instance existed, it still comes up as itself: its DHCP lease, its metadata.
    const up = await waitConsole(third, /AMIBOOT-SSH-READY instance=/);
    expect(up).toContain(`AMIBOOT-NET-READY ip=${(await describe1(third)).PrivateIpAddress} `);
    expect(up).toContain(`AMIBOOT-SSH-READY instance=${third} `);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [first, second, third] }));
    await waitState([first, second, third], "terminated");
  });

  it("answers wrong calls with EC2's errors", async () => {
    expect(await ec2Error(ec2.send(new DescribeInstancesCommand({ InstanceIds: ["i-123"] })))).toMatchObject({ name: "InvalidInstanceID.Malformed" });
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })))).toMatchObject({ name: "InvalidInstanceID.NotFound" });
    const x64 = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("mbr.img")).snapshotId;
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: "x64", Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: x64 } }] }));
    expect(await ec2Error(ec2.send(new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1 })))).toMatchObject({ name: "UnsupportedOperation", message: expect.stringContaining("x86_64") });
    const i386 = await registerEbs(image("mbr.img"), "small-one");
    expect(await ec2Error(ec2.send(new RunInstancesCommand({ ImageId: i386, InstanceType: "z9.huge", MinCount: 1, MaxCount: 1 })))).toMatchObject({ name: "InvalidParameterValue", message: expect.stringContaining("z9.huge") });
    expect(await ec2Error(ec2.send(new RunInstancesCommand({ ImageId: i386, MinCount: 2, MaxCount: 1 })))).toMatchObject({ name: "InvalidParameterValue" });
    expect(await ec2Error(ec2.send(new RunInstancesCommand({ ImageId: i386, MinCount: 1, MaxCount: 1, UserData: "%%%not base64" })))).toMatchObject({ name: "InvalidParameterValue" });
  });

  it("stops its running EBS instances when the server restarts, volumes intact", async () => {
    const imageId = await registerEbs(image("mbr.img"), "restart-me");
    const spin = (await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: "name", Values: ["spins-forever"] }] }))).Images![0]!.ImageId!;
    const id = (await ec2.send(new RunInstancesCommand({ ImageId: spin, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1 }))).Instances![0]!.InstanceId!;
    await waitState(id, "running");
    const root = (await describe1(id)).BlockDeviceMappings![0]!.Ebs!.VolumeId!;
    await endpoint.restart();
    ec2 = endpoint.ec2(owner);
    const after = await describe1(id);
    expect(after.State!.Name).toBe("stopped");
    expect(after.StateReason!.Code).toBe("Server.InternalError");
    expect(endpoint.cloud.volumes.getVolume(root).id).toBe(root);
    expect(imageId).toMatch(/^ami-/);
  });
});
