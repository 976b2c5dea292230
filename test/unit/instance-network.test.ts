import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Accounts } from "../../src/cloud/accounts.js";
import { forwardsFor, InstanceNetworks, MAX_FORWARDS_PER_RULE } from "../../src/cloud/instance-network.js";
import type { Instance } from "../../src/cloud/instance-records.js";
import { KeyPairs } from "../../src/cloud/key-pairs.js";
import { defaultSubnets } from "../../src/cloud/networks.js";
import { SecurityGroups, type Rule } from "../../src/cloud/security-groups.js";
import { Tags } from "../../src/cloud/tags.js";
import { openDb } from "../../src/store/db.js";

const rule = (fromPort: number, toPort: number, source = "0.0.0.0/0", protocol = "tcp"): Rule => ({ protocol, fromPort, toPort, source });
const HOST = "127.77.0.9";

describe("port forwards from ingress rules (forwardsFor)", () => {
  it("forwards TCP ports open to 127.0.0.1 on the instance's address; ports under 1024 move to 10000 + port", () => {
    expect(forwardsFor([rule(22, 22), rule(8080, 8081, "127.0.0.0/8"), rule(443, 443, "127.0.0.1/32")], HOST)).toEqual([
      { guestPort: 22, hostAddress: HOST, hostPort: 10022 },
      { guestPort: 443, hostAddress: HOST, hostPort: 10443 },
      { guestPort: 8080, hostAddress: HOST, hostPort: 8080 },
      { guestPort: 8081, hostAddress: HOST, hostPort: 8081 },
    ]);
    expect(forwardsFor([rule(1023, 1024)], HOST).map((f) => f.hostPort)).toEqual([11023, 1024]);
  });

  it("takes a rule for a low port's host port (10000 + P) as opening guest port P, as Packer authorizes its ssh_port", () => {
    expect(forwardsFor([rule(10022, 10022)], HOST)).toEqual([{ guestPort: 22, hostAddress: HOST, hostPort: 10022 }]);
    expect(forwardsFor([rule(22, 22), rule(10022, 10022)], HOST)).toEqual([{ guestPort: 22, hostAddress: HOST, hostPort: 10022 }]);
    expect(forwardsFor([rule(10000, 10000), rule(11024, 11024)], HOST).map((f) => [f.guestPort, f.hostPort])).toEqual([[10000, 10000], [11024, 11024]]);
  });

  it("opens nothing for sources that exclude the host, other protocols, or group sources", () => {
    const closed = [rule(22, 22, "10.0.0.0/8"), rule(22, 22, "127.0.0.2/32"), rule(53, 53, "0.0.0.0/0", "udp"), rule(-1, -1, "0.0.0.0/0", "icmp"), rule(-1, -1, "0.0.0.0/0", "-1"), rule(22, 22, "sg-0123456789abcdef0")];
    expect(forwardsFor(closed, HOST)).toEqual([]);
  });

  it("merges overlapping rules and caps each rule at its first MAX_FORWARDS_PER_RULE ports (port 0 never)", () => {
    expect(MAX_FORWARDS_PER_RULE).toBe(64);
    const wide = forwardsFor([rule(0, 65535)], HOST);
    expect(wide.map((f) => f.guestPort)).toEqual(Array.from({ length: 64 }, (_, k) => k + 1));
    const merged = forwardsFor([rule(8000, 8002), rule(8001, 8003, "127.0.0.0/8"), rule(9000, 9000)], HOST).map((f) => f.guestPort);
    expect(merged).toEqual([8000, 8001, 8002, 8003, 9000]);
  });
});

describe("instance network identities", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-inet-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = openDb(path.join(dir, "home"));
  const tags = new Tags(db);
  const keys = new KeyPairs(db, tags);
  const groups = new SecurityGroups(db, tags);
  const networks = new InstanceNetworks(db, keys, groups);
  const owner = new Accounts(db).create().accountId;
  const R = "eu-west-1";
  let serial = 0;

  /** Instance rows as RunInstances writes them (just what the network needs); returns their ids. */
  function instances(n: number): string[] {
    const ids = Array.from({ length: n }, () => `i-${(++serial).toString(16).padStart(17, "0")}`);
    const insert = db.prepare(
      "insert into instances (id, reservation_id, region, owner_id, image_id, instance_type, launch_index, state, architecture, virtualization_type, root_device_type, root_device_name, devices, disks, memory_mib, launch_time, milestones) values (?, 'r-1', ?, ?, 'ami-1', 't2.micro', 0, 'running', 'i386', 'hvm', 'ebs', '/dev/sda1', '[]', '[]', 128, ?, '[]')",
    );
    for (const id of ids) insert.run(id, R, owner, new Date().toISOString());
    return ids;
  }

  it("checks a launch's key, groups, zone and metadata options before anything is made", () => {
    const def = networks.prepare(owner, R, { securityGroupIds: [], securityGroupNames: [] }, "RunInstances");
    expect(def.groups).toEqual([{ id: groups.ensureDefault(owner, R).groupId, name: "default" }]);
    expect(def.subnet.availabilityZone).toBe("eu-west-1a");
    expect(def.metadataOptions).toEqual({ httpTokens: "optional", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 });
    expect(def.key).toBeUndefined();

    const web = groups.create(owner, R, { name: "web", description: "web", tags: [] });
    const key = keys.create(owner, R, "me", "ed25519", []);
    const r = networks.prepare(owner, R, { keyName: "me", securityGroupIds: [web.groupId], securityGroupNames: ["web", "default"], availabilityZone: "eu-west-1b", metadataOptions: { httpTokens: "required" } }, "RunInstances");
    expect(r.groups.map((g) => g.name)).toEqual(["web", "default"]);
    expect(r.key).toEqual({ name: "me", publicKey: key.publicKey });
    expect(r.subnet.cidrBlock).toBe("172.31.16.0/20");
    expect(r.metadataOptions.httpTokens).toBe("required");

    const refused: [Parameters<typeof networks.prepare>[2], string, string?][] = [
      [{ keyName: "nope", securityGroupIds: [], securityGroupNames: [] }, "InvalidKeyPair.NotFound", "The key pair 'nope' does not exist"],
      [{ securityGroupIds: ["sg-00000000000000000"], securityGroupNames: [] }, "InvalidGroup.NotFound", "The security group 'sg-00000000000000000' does not exist"],
      [{ securityGroupIds: [], securityGroupNames: ["nope"] }, "InvalidGroup.NotFound"],
      [{ securityGroupIds: [], securityGroupNames: [], subnetId: "subnet-00000000000000000" }, "InvalidSubnetID.NotFound"],
      [{ securityGroupIds: [], securityGroupNames: [], metadataOptions: { httpTokens: "sometimes" as "required" } }, "InvalidParameterValue", "Value (sometimes) for parameter HttpTokens is invalid. Valid values: optional, required."],
      [{ securityGroupIds: [], securityGroupNames: [], metadataOptions: { httpPutResponseHopLimit: 0 } }, "InvalidParameterValue"],
    ];
    for (const [request, code, message] of refused) {
      expect(() => networks.prepare(owner, R, request, "RunInstances")).toThrow(expect.objectContaining({ code, op: "RunInstances", ...(message ? { message } : {}) }));
    }
  });

  it("gives each instance a MAC, an eni, a private IP past AWS's reserved ones and a loopback address of its own", () => {
    const launch = networks.prepare(owner, R, { securityGroupIds: [], securityGroupNames: [] }, "RunInstances");
    const ids = instances(3);
    db.transaction(() => networks.assign(ids, launch))();
    const got = ids.map((id) => networks.of(id, R)!);
    expect(got.map((n) => n.privateIp)).toEqual(["172.31.0.4", "172.31.0.5", "172.31.0.6"]);
    expect(got.map((n) => n.privateDnsName)).toEqual(["ip-172-31-0-4.eu-west-1.compute.internal", "ip-172-31-0-5.eu-west-1.compute.internal", "ip-172-31-0-6.eu-west-1.compute.internal"]);
    expect(new Set(got.map((n) => n.publicIp)).size).toBe(3);
    for (const n of got) {
      expect(n.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
      expect(n.interfaceId).toMatch(/^eni-[0-9a-f]{17}$/);
      expect(n.publicIp).toMatch(/^127\.77\.\d+\.\d+$/);
      expect(n.subnetId).toBe(defaultSubnets(owner, R)[0]!.subnetId);
    }
    expect(new Set(got.map((n) => n.mac)).size).toBe(3);

    // A terminated instance's addresses are free again; a running one's are not.
    db.prepare("update instances set state = 'terminated' where id = ?").run(ids[1]);
    const [next] = instances(1);
    db.transaction(() => networks.assign([next!], launch))();
    expect(networks.of(next!, R)!.privateIp).toBe("172.31.0.5");
    expect([got[0]!.publicIp, got[2]!.publicIp]).not.toContain(networks.of(next!, R)!.publicIp);

    // Another zone's subnet starts at its own range.
    const b = networks.prepare(owner, R, { securityGroupIds: [], securityGroupNames: [], availabilityZone: "eu-west-1c" }, "RunInstances");
    const [inC] = instances(1);
    db.transaction(() => networks.assign([inC!], b))();
    expect(networks.of(inC!, R)!.privateIp).toBe("172.31.32.4");
  });

  it("builds the boot's NetworkPlan: router, addresses, facts, options and the groups' forwards as they are now", () => {
    const web = groups.describe(owner, R, { groupIds: [], groupNames: ["web"], filters: [] })[0]!;
    groups.authorize(owner, R, { groupId: web.groupId }, [rule(22, 22)]);
    const launch = networks.prepare(owner, R, { keyName: "me", securityGroupIds: [web.groupId], securityGroupNames: [], availabilityZone: "eu-west-1b", metadataOptions: { httpTokens: "required" } }, "RunInstances");
    const [id] = instances(1);
    db.transaction(() => networks.assign([id!], launch))();
    const network = networks.of(id!, R)!;
    expect(network.privateIp).toBe("172.31.16.4");
    const instance = {
      instanceId: id!, reservationId: "r-1", region: R, ownerId: owner, imageId: "ami-1", instanceType: "t2.micro", launchIndex: 0, state: "pending",
      architecture: "i386", virtualizationType: "hvm", rootDeviceType: "ebs", rootDeviceName: "/dev/sda1", memoryMiB: 128, launchTime: "2026-01-01T00:00:00.000Z", milestones: [], tags: [],
      devices: [{ deviceName: "/dev/sda1", volumeId: "vol-1", attachTime: "" }, { deviceName: "/dev/sdb", virtualName: "ephemeral0", attachTime: "" }],
    } satisfies Instance;
    const plan = networks.plan(instance, network, { userData: Buffer.from("#!/bin/sh\necho hi\n").toString("base64") });
    expect(plan).toMatchObject({ nic: "ne2k", routerIp: "172.31.16.1", privateIp: "172.31.16.4", mac: network.mac, metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 } });
    expect(plan.forwards).toEqual([{ guestPort: 22, hostAddress: network.publicIp, hostPort: 10022 }]);
    expect(plan.facts).toMatchObject({
      instanceId: id, accountId: owner, region: R, availabilityZone: "eu-west-1b", privateIp: "172.31.16.4", publicIp: network.publicIp, mac: network.mac,
      hostname: "ip-172-31-16-4.eu-west-1.compute.internal", subnetCidr: "172.31.16.0/20", vpcCidr: "172.31.0.0/16", securityGroups: [{ id: web.groupId, name: "web" }],
      publicKey: { name: "me", openssh: keys.get(owner, R, "me", "x").publicKey }, blockDevices: { ami: "sda1", root: "/dev/sda1", ephemeral0: "sdb" },
    });
    expect(Buffer.from(plan.facts.userData!).toString()).toBe("#!/bin/sh\necho hi\n");
    // Instances in a group follow its rules: revoking closes the port in the next plan or update.
    expect(networks.usingGroup(web.groupId)).toEqual([id]);
    groups.revoke(owner, R, { groupId: web.groupId }, [rule(22, 22)]);
    expect(networks.forwards(network)).toEqual([]);
  });
});
