import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Accounts } from "../../src/cloud/accounts.js";
import { defaultSubnets, defaultVpc, launchSubnet, privateDnsName } from "../../src/cloud/networks.js";
import { SecurityGroups } from "../../src/cloud/security-groups.js";
import { Tags } from "../../src/cloud/tags.js";
import { openDb } from "../../src/store/db.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-groups-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = openDb(path.join(dir, "home"));
const tags = new Tags(db);
const changed: string[] = [];
const groups = new SecurityGroups(db, tags, (id) => changed.push(id));
const accounts = new Accounts(db);
const owner = accounts.create().accountId;
const other = accounts.create().accountId;
const R = "us-east-1";
const ssh = { protocol: "tcp", fromPort: 22, toPort: 22, source: "0.0.0.0/0" };

describe("the default network", () => {
  it("is one stable VPC per account and region with a /20 subnet per zone", () => {
    const vpc = defaultVpc(owner, R);
    expect(vpc).toEqual({ vpcId: expect.stringMatching(/^vpc-[0-9a-f]{17}$/), cidrBlock: "172.31.0.0/16", isDefault: true });
    expect(defaultVpc(owner, R)).toEqual(vpc);
    expect(defaultVpc(owner, "eu-west-1").vpcId).not.toBe(vpc.vpcId);
    expect(defaultVpc(other, R).vpcId).not.toBe(vpc.vpcId);
    const subnets = defaultSubnets(owner, R);
    expect(subnets.map((s) => [s.availabilityZone, s.cidrBlock, s.vpcId])).toEqual([
      ["us-east-1a", "172.31.0.0/20", vpc.vpcId],
      ["us-east-1b", "172.31.16.0/20", vpc.vpcId],
      ["us-east-1c", "172.31.32.0/20", vpc.vpcId],
    ]);
    expect(new Set(subnets.map((s) => s.subnetId)).size).toBe(3);
  });

  it("picks a launch's subnet by id, by zone, else the first zone's", () => {
    const [a, b] = defaultSubnets(owner, R);
    expect(launchSubnet(owner, R, {}, "RunInstances").subnetId).toBe(a!.subnetId);
    expect(launchSubnet(owner, R, { zone: "us-east-1b" }, "RunInstances").subnetId).toBe(b!.subnetId);
    expect(launchSubnet(owner, R, { subnetId: b!.subnetId }, "RunInstances").availabilityZone).toBe("us-east-1b");
    expect(() => launchSubnet(owner, R, { subnetId: "subnet-00000000000000000" }, "RunInstances")).toThrow(
      expect.objectContaining({ code: "InvalidSubnetID.NotFound", message: "The subnet ID 'subnet-00000000000000000' does not exist" }),
    );
    expect(() => launchSubnet(owner, R, { zone: "us-east-1z" }, "RunInstances")).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
    expect(() => launchSubnet(owner, R, { subnetId: b!.subnetId, zone: "us-east-1a" }, "RunInstances")).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
  });

  it("names private addresses as EC2 does (ec2.internal only in us-east-1)", () => {
    expect(privateDnsName("us-east-1", "172.31.5.17")).toBe("ip-172-31-5-17.ec2.internal");
    expect(privateDnsName("eu-west-1", "172.31.5.17")).toBe("ip-172-31-5-17.eu-west-1.compute.internal");
  });
});

describe("security groups", () => {
  it("makes the default group once, open to itself, and refuses to delete it", () => {
    const def = groups.ensureDefault(owner, R);
    expect(groups.ensureDefault(owner, R).groupId).toBe(def.groupId);
    expect(def).toMatchObject({ groupName: "default", vpcId: defaultVpc(owner, R).vpcId, ownerId: owner, rules: [{ protocol: "-1", fromPort: -1, toPort: -1, source: def.groupId }] });
    expect(() => groups.delete(owner, R, { groupName: "default" })).toThrow(
      expect.objectContaining({ code: "CannotDelete", message: `the specified group: "${def.groupId}" name: "default" cannot be deleted by a user` }),
    );
    expect(() => groups.create(owner, R, { name: "default", description: "x", tags: [] })).toThrow(expect.objectContaining({ code: "InvalidGroup.Reserved" }));
  });

  it("creates groups with EC2's checks and finds them by id, name and filters", () => {
    const web = groups.create(owner, R, { name: "web", description: "web servers", tags: [{ key: "team", value: "blue" }] });
    expect(web.groupId).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(web.rules).toEqual([]);
    expect(() => groups.create(owner, R, { name: "web", description: "again", tags: [] })).toThrow(
      expect.objectContaining({ code: "InvalidGroup.Duplicate", message: `The security group 'web' already exists for VPC '${defaultVpc(owner, R).vpcId}'` }),
    );
    expect(() => groups.create(owner, R, { name: "x", description: "x", vpcId: "vpc-00000000000000000", tags: [] })).toThrow(expect.objectContaining({ code: "InvalidVpcID.NotFound" }));
    expect(() => groups.create(owner, R, { name: "sg-1", description: "x", tags: [] })).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
    expect(() => groups.create(owner, R, { name: "x", tags: [] })).toThrow(expect.objectContaining({ code: "MissingParameter" }));
    // Names are per account and region.
    expect(groups.create(other, R, { name: "web", description: "theirs", tags: [] }).groupId).not.toBe(web.groupId);
    expect(groups.create(owner, "eu-west-1", { name: "web", description: "there", tags: [] }).groupId).not.toBe(web.groupId);

    const names = (r: Partial<Parameters<typeof groups.describe>[2]>) => groups.describe(owner, R, { groupIds: [], groupNames: [], filters: [], ...r }).map((g) => g.groupName);
    expect(names({})).toEqual(["default", "web"]);
    expect(names({ groupIds: [web.groupId] })).toEqual(["web"]);
    expect(names({ groupNames: ["default"] })).toEqual(["default"]);
    expect(names({ filters: [{ name: "group-name", values: ["w*"] }] })).toEqual(["web"]);
    expect(names({ filters: [{ name: "group-id", values: [web.groupId] }] })).toEqual(["web"]);
    expect(names({ filters: [{ name: "vpc-id", values: [defaultVpc(owner, R).vpcId] }] })).toEqual(["default", "web"]);
    expect(names({ filters: [{ name: "tag:team", values: ["blue"] }] })).toEqual(["web"]);
    expect(() => names({ groupIds: ["sg-00000000000000000"] })).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound", message: "The security group 'sg-00000000000000000' does not exist" }));
    expect(() => names({ groupNames: ["nope"] })).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound" }));
    // Another account's group is not found.
    const theirs = groups.describe(other, R, { groupIds: [], groupNames: ["web"], filters: [] })[0]!;
    expect(() => groups.find(owner, R, { groupId: theirs.groupId }, "DescribeSecurityGroups")).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound" }));
  });

  it("authorizes and revokes rules, with EC2's duplicate and missing-rule errors, and says which group changed", () => {
    changed.length = 0;
    const g = groups.authorize(owner, R, { groupName: "web" }, [ssh, { protocol: "6", fromPort: 8000, toPort: 8010, source: "127.0.0.0/8" }, { protocol: "icmp", fromPort: -1, toPort: -1, source: "10.0.0.0/8" }]);
    expect(g.rules).toEqual([ssh, { protocol: "tcp", fromPort: 8000, toPort: 8010, source: "127.0.0.0/8" }, { protocol: "icmp", fromPort: -1, toPort: -1, source: "10.0.0.0/8" }]);
    expect(changed).toEqual([g.groupId]);
    expect(() => groups.authorize(owner, R, { groupName: "web" }, [ssh])).toThrow(
      expect.objectContaining({ code: "InvalidPermission.Duplicate", message: 'the specified rule "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW" already exists' }),
    );
    // All protocols: the ports given do not matter, the rule is stored as -1/-1.
    expect(groups.authorize(owner, R, { groupId: g.groupId }, [{ protocol: "-1", fromPort: 5, toPort: 6, source: "192.168.0.0/16" }]).rules.at(-1)).toEqual({ protocol: "-1", fromPort: -1, toPort: -1, source: "192.168.0.0/16" });
    const refused = [
      { ...ssh, source: "300.0.0.0/8" },
      { ...ssh, source: "10.0.0.0" },
      { ...ssh, fromPort: 23, toPort: 22 },
      { ...ssh, toPort: 70000 },
      { ...ssh, protocol: "gre" },
    ];
    for (const rule of refused) expect(() => groups.authorize(owner, R, { groupName: "web" }, [rule])).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
    expect(() => groups.authorize(owner, R, { groupName: "web" }, [{ ...ssh, source: "sg-00000000000000000" }])).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound" }));
    expect(() => groups.authorize(owner, R, { groupName: "nope" }, [ssh])).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound" }));

    expect(() => groups.revoke(owner, R, { groupName: "web" }, [{ ...ssh, toPort: 23 }])).toThrow(
      expect.objectContaining({ code: "InvalidPermission.NotFound", message: "The specified rule does not exist in this security group." }),
    );
    changed.length = 0;
    expect(groups.revoke(owner, R, { groupName: "web" }, [ssh]).rules.some((r) => r.fromPort === 22)).toBe(false);
    expect(changed).toEqual([g.groupId]);
  });

  it("will not delete a group another group's rule refers to (DependencyViolation)", () => {
    const db1 = groups.create(owner, R, { name: "db", description: "databases", tags: [] });
    const app = groups.create(owner, R, { name: "app", description: "apps", tags: [] });
    groups.authorize(owner, R, { groupId: db1.groupId }, [{ protocol: "tcp", fromPort: 5432, toPort: 5432, source: app.groupId }]);
    expect(() => groups.delete(owner, R, { groupId: app.groupId })).toThrow(
      expect.objectContaining({ code: "DependencyViolation", message: `resource ${app.groupId} has a dependent object` }),
    );
    groups.revoke(owner, R, { groupId: db1.groupId }, [{ protocol: "tcp", fromPort: 5432, toPort: 5432, source: app.groupId }]);
    expect(groups.delete(owner, R, { groupId: app.groupId })).toBe(app.groupId);
    expect(groups.delete(owner, R, { groupName: "db" })).toBe(db1.groupId);
    expect(() => groups.delete(owner, R, { groupName: "db" })).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound" }));
  });
});
