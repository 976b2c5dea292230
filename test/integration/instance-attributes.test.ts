import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  ModifyInstanceAttributeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForInstances } from "../../src/client/instance-wait.js";
import type { Credentials } from "../../src/cloud/accounts.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { image } from "../helpers.js";

/**
 * Instance attributes through the AWS SDK: termination and stop protection,
 * instanceInitiatedShutdownBehavior deciding what a guest's own halt does,
 * the instance type and UserData changed only while stopped, DeleteOnTermination.
 */
const endpoint = new TestEndpoint();
let owner: Credentials;
let idle: string;
let halts: string;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  const register = async (file: string, name: string) => {
    const snap = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image(file)).snapshotId;
    return (await endpoint.ec2(owner).send(new RegisterImageCommand({ Name: name, VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }))).ImageId!;
  };
  // idle.img prints the marker and idles; mbr.img prints a line and halts (the guest's own shutdown).
  idle = await register("idle.img", "idle");
  halts = await register("mbr.img", "halts");
});
afterAll(() => endpoint.dispose());

const attribute = async (InstanceId: string, Attribute: string) => endpoint.ec2(owner).send(new DescribeInstanceAttributeCommand({ InstanceId, Attribute: Attribute as never }));

describe("instance attributes", () => {
  it("protects from termination and stop until the attribute is cleared; type and UserData change only while stopped", async () => {
    const ec2 = endpoint.ec2(owner);
    const userData = Buffer.from("#!/bin/sh\necho one\n").toString("base64");
    const id = (await ec2.send(new RunInstancesCommand({ ImageId: idle, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1, DisableApiTermination: true, UserData: userData }))).Instances![0]!.InstanceId!;
    await waitForInstances(ec2, [id], "running", { timeoutMs: 60_000 });
    expect((await attribute(id, "disableApiTermination")).DisableApiTermination).toEqual({ Value: true });
    expect((await attribute(id, "instanceInitiatedShutdownBehavior")).InstanceInitiatedShutdownBehavior).toEqual({ Value: "stop" });
    expect((await attribute(id, "userData")).UserData).toEqual({ Value: userData });
    expect((await attribute(id, "instanceType")).InstanceType).toEqual({ Value: "t1.micro" });
    expect((await attribute(id, "blockDeviceMapping")).BlockDeviceMappings).toEqual([expect.objectContaining({ DeviceName: "/dev/sda1", Ebs: expect.objectContaining({ DeleteOnTermination: true }) })]);
    expect(await ec2Error(attribute(id, "colour"))).toMatchObject({ name: "InvalidParameterValue" });

    expect(await ec2Error(ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "OperationNotPermitted", message: expect.stringContaining("disableApiTermination") });
    expect(await ec2Error(ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: "t2.micro" } })))).toMatchObject({ name: "IncorrectInstanceState" });
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiStop: { Value: true } }));
    expect(await ec2Error(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })))).toMatchObject({ name: "OperationNotPermitted" });
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Attribute: "disableApiStop", Value: "false" }));
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitForInstances(ec2, [id], "stopped", { timeoutMs: 60_000 });

    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: "t2.micro" } }));
    // A blob: the SDK base64-encodes the script, as RunInstances' UserData travels.
    const script = "#!/bin/sh\necho two\n";
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, UserData: { Value: new TextEncoder().encode(script) } }));
    const two = Buffer.from(script).toString("base64");
    expect((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.InstanceType).toBe("t2.micro");
    expect((await attribute(id, "userData")).UserData).toEqual({ Value: two });
    expect(await ec2Error(ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: "z9.huge" } })))).toMatchObject({ name: "InvalidParameterValue" });
    expect(await ec2Error(ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceInitiatedShutdownBehavior: { Value: "explode" } })))).toMatchObject({ name: "InvalidParameterValue" });

    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { DeleteOnTermination: false } }] }));
    expect((await attribute(id, "blockDeviceMapping")).BlockDeviceMappings![0]!.Ebs!.DeleteOnTermination).toBe(false);
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiTermination: { Value: false } }));
    const root = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.BlockDeviceMappings![0]!.Ebs!.VolumeId!;
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitForInstances(ec2, [id], "terminated", { timeoutMs: 60_000 });
    // DeleteOnTermination false: the root volume stays.
    expect(endpoint.cloud.volumes.getVolume(root).id).toBe(root);
  });

  it("RunInstances with a ClientToken launches once: a retry gets the same reservation", async () => {
    const ec2 = endpoint.ec2(owner);
    const launch = () => ec2.send(new RunInstancesCommand({ ImageId: idle, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1, ClientToken: "launch-once" }));
    const [a, b] = await Promise.all([launch(), launch()]);
    expect(b.ReservationId).toBe(a.ReservationId);
    expect(b.Instances!.map((i) => i.InstanceId)).toEqual(a.Instances!.map((i) => i.InstanceId));
    const all = (await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "reservation-id", Values: [a.ReservationId!] }] }))).Reservations!.flatMap((r) => r.Instances!);
    expect(all).toHaveLength(1);
    expect(await ec2Error(ec2.send(new RunInstancesCommand({ ImageId: idle, InstanceType: "t2.micro", MinCount: 1, MaxCount: 1, ClientToken: "launch-once" })))).toMatchObject({ name: "IdempotentParameterMismatch" });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.Instances![0]!.InstanceId!] }));
  });

  it("a guest that halts stops its instance, or terminates it when instanceInitiatedShutdownBehavior is terminate", async () => {
    const ec2 = endpoint.ec2(owner);
    const run = (behavior?: "stop" | "terminate") =>
      ec2.send(new RunInstancesCommand({ ImageId: halts, InstanceType: "t1.micro", MinCount: 1, MaxCount: 1, ...(behavior ? { InstanceInitiatedShutdownBehavior: behavior } : {}) })).then((r) => r.Instances![0]!.InstanceId!);
    const [stops, terminates] = [await run(), await run("terminate")];
    await waitForInstances(ec2, [stops], "stopped", { timeoutMs: 60_000 });
    await waitForInstances(ec2, [terminates], "terminated", { timeoutMs: 60_000 });
    const reasons = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [stops, terminates] }))).Reservations!.flatMap((r) => r.Instances!).map((i) => i.StateReason?.Code);
    expect(reasons).toEqual(["Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown"]);
  });
});
