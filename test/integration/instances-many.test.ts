import { GetConsoleOutputCommand, RegisterImageCommand, RunInstancesCommand, TerminateInstancesCommand, DescribeInstanceStatusCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForInstances } from "../../src/client/instance-wait.js";
import { TestEndpoint } from "../ec2.js";
import { image, MARKER } from "../helpers.js";

// Two boot slots, as on a 2-core machine, whatever this machine has.
const endpoint = new TestEndpoint({ instances: { bootSlots: 2 } });
beforeAll(() => endpoint.start());
afterAll(() => endpoint.dispose());

describe("many instances on a 2-core machine", () => {
  it("20 launches at once queue for boot slots and all reach running and their marker", async () => {
    const owner = endpoint.cloud.accounts.defaultAccount();
    const ec2 = endpoint.ec2(owner);
    // idle.img prints the marker and idles with interrupts on: a guest that stays up, cheaply.
    const snap = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("idle.img")).snapshotId;
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: "idle", Architecture: "i386", VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }));
    const run = await ec2.send(new RunInstancesCommand({ ImageId, InstanceType: "t1.micro", MinCount: 20, MaxCount: 20 }));
    const ids = run.Instances!.map((i) => i.InstanceId!);
    expect(ids).toHaveLength(20);
    expect(new Set(run.Instances!.map((i) => i.State!.Name))).toEqual(new Set(["pending"]));

    // While they queue and boot, every instance is pending or running, never anything else.
    const seen = new Set<string>();
    const ready = await waitForInstances(ec2, ids, "status-ok", { timeoutMs: 150_000, intervalMs: 100, onChange: (list) => list.forEach((w) => seen.add(String(w.state))) });
    expect(ready.map((w) => w.instanceId)).toEqual(ids);
    for (const state of seen) expect(["pending", "running"]).toContain(state);
    const all = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations!.flatMap((r) => r.Instances!);
    expect(all.every((i) => i.State!.Name === "running")).toBe(true);
    for (const id of ids) {
      const out = Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output!, "base64").toString("latin1");
      expect(out).toContain(MARKER);
    }
    // DescribeInstanceStatus: filters by EC2's names; ended instances only with IncludeAllInstances.
    const ok = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, Filters: [{ Name: "instance-status.status", Values: ["ok"] }, { Name: "instance-state-name", Values: ["running"] }] }));
    expect(ok.InstanceStatuses!.map((s) => s.InstanceId).sort()).toEqual([...ids].sort());
    const impaired = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, Filters: [{ Name: "system-status.status", Values: ["impaired"] }] }));
    expect(impaired.InstanceStatuses).toEqual([]);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    await waitForInstances(ec2, ids, "terminated", { timeoutMs: 60_000 });
    expect((await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ids }))).InstanceStatuses).toEqual([]);
    const ended = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: ids, IncludeAllInstances: true, Filters: [{ Name: "instance-state-name", Values: ["terminated"] }] }));
    expect(ended.InstanceStatuses!.map((s) => [s.InstanceState!.Name, s.AvailabilityZone])).toEqual(ids.map(() => ["terminated", "us-east-1a"]));
    const states = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations!.flatMap((r) => r.Instances!.map((x) => x.State!.Name));
    expect(new Set(states)).toEqual(new Set(["terminated"]));
  }, 240_000);
});
