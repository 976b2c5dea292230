import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  ImportKeyPairCommand,
  ModifyInstanceMetadataOptionsCommand,
  RegisterImageCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
} from "@aws-sdk/client-ec2";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { waitForInstances } from "../../src/client/instance-wait.js";
import type { Credentials } from "../../src/cloud/accounts.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { awsClientEnv, image, listening, ROOT, runProgram } from "../helpers.js";

/**
 * The control plane of instance networking through the real endpoint and
 * the AWS SDK: key pairs, the default VPC and its subnets, security groups,
 * and what RunInstances gives an instance (key, groups, subnet, addresses,
 * interface, metadata options), with EC2's errors. One real boot shows that
 * rule changes reach the running VM's host listeners.
 */
const endpoint = new TestEndpoint();
let owner: Credentials;
let ec2: EC2Client;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  ec2 = endpoint.ec2(owner);
});
afterAll(() => endpoint.dispose());

async function describe1(id: string): Promise<Instance> {
  return (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;
}

async function idsWhere(name: string, value: string): Promise<string[]> {
  const r = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: name, Values: [value] }] }));
  return (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId!);
}

describe("key pairs over the Query API", () => {
  it("creates, imports, describes and deletes key pairs as EC2 answers", async () => {
    const created = await ec2.send(new CreateKeyPairCommand({ KeyName: "laptop", KeyType: "ed25519", TagSpecifications: [{ ResourceType: "key-pair", Tags: [{ Key: "who", Value: "me" }] }] }));
    expect(created.KeyPairId).toMatch(/^key-[0-9a-f]{17}$/);
    expect(created.KeyMaterial).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    const keyFile = path.join(endpoint.home, "laptop.pem");
    fs.writeFileSync(keyFile, created.KeyMaterial!, { mode: 0o600 });
    // ssh-keygen -y gives the key and its comment (the key name) from the private key.
    const derived = execFileSync("ssh-keygen", ["-y", "-f", keyFile], { encoding: "utf8" }).trim();
    expect(derived).toMatch(/^ssh-ed25519 \S+ laptop$/);

    const rsa = await ec2.send(new CreateKeyPairCommand({ KeyName: "old-style" }));
    expect(rsa.KeyMaterial).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(rsa.KeyFingerprint).toMatch(/^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);

    const pubFile = path.join(endpoint.home, "mine");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me@desk", "-f", pubFile]);
    const imported = await ec2.send(new ImportKeyPairCommand({ KeyName: "desk", PublicKeyMaterial: fs.readFileSync(`${pubFile}.pub`) }));
    expect(imported.KeyFingerprint).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    const all = await ec2.send(new DescribeKeyPairsCommand({ IncludePublicKey: true }));
    expect(all.KeyPairs!.map((k) => [k.KeyName, k.KeyType])).toEqual([["desk", "ed25519"], ["laptop", "ed25519"], ["old-style", "rsa"]]);
    const laptop = all.KeyPairs!.find((k) => k.KeyName === "laptop")!;
    expect(laptop).toMatchObject({ KeyPairId: created.KeyPairId, KeyFingerprint: created.KeyFingerprint, Tags: [{ Key: "who", Value: "me" }] });
    expect(laptop.PublicKey).toBe(derived);
    expect(laptop.CreateTime).toBeInstanceOf(Date);
    expect((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs![0]!.PublicKey).toBeUndefined();

    const byFilter = (Name: string, Values: string[]) => ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name, Values }] })).then((r) => r.KeyPairs!.map((k) => k.KeyName));
    expect(await byFilter("key-name", ["l*"])).toEqual(["laptop"]);
    expect(await byFilter("key-pair-id", [imported.KeyPairId!])).toEqual(["desk"]);
    expect(await byFilter("fingerprint", [rsa.KeyFingerprint!])).toEqual(["old-style"]);
    expect(await byFilter("tag:who", ["me"])).toEqual(["laptop"]);
    expect((await ec2.send(new DescribeKeyPairsCommand({ KeyPairIds: [imported.KeyPairId!] }))).KeyPairs!.map((k) => k.KeyName)).toEqual(["desk"]);

    expect(await ec2Error(ec2.send(new CreateKeyPairCommand({ KeyName: "laptop" })))).toMatchObject({ name: "InvalidKeyPair.Duplicate", message: "The keypair 'laptop' already exists.", status: 400 });
    expect(await ec2Error(ec2.send(new DescribeKeyPairsCommand({ KeyNames: ["gone"] })))).toMatchObject({ name: "InvalidKeyPair.NotFound", message: "The key pair 'gone' does not exist" });
    expect(await ec2Error(ec2.send(new ImportKeyPairCommand({ KeyName: "junk", PublicKeyMaterial: Buffer.from("ssh-rsa not-a-key") })))).toMatchObject({
      name: "InvalidKey.Format",
      message: "Key is not in valid OpenSSH public key format",
    });

    expect((await ec2.send(new DeleteKeyPairCommand({ KeyPairId: rsa.KeyPairId }))).KeyPairId).toBe(rsa.KeyPairId);
    // Deleting what is not there succeeds, as in EC2.
    expect((await ec2.send(new DeleteKeyPairCommand({ KeyName: "old-style" }))).Return).toBe(true);
    expect(await byFilter("key-name", ["old-style"])).toEqual([]);
  });
});

describe("the default network and security groups over the Query API", () => {
  it("shows one default VPC, a default subnet per zone, and the zones", async () => {
    const vpcs = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs!;
    expect(vpcs).toHaveLength(1);
    expect(vpcs[0]).toMatchObject({ VpcId: expect.stringMatching(/^vpc-[0-9a-f]{17}$/), CidrBlock: "172.31.0.0/16", IsDefault: true, State: "available" });
    expect((await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }))).Vpcs!.map((v) => v.VpcId)).toEqual([vpcs[0]!.VpcId]);
    const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcs[0]!.VpcId!] }] }))).Subnets!;
    expect(subnets.map((s) => [s.AvailabilityZone, s.CidrBlock, s.DefaultForAz])).toEqual([
      ["us-east-1a", "172.31.0.0/20", true],
      ["us-east-1b", "172.31.16.0/20", true],
      ["us-east-1c", "172.31.32.0/20", true],
    ]);
    expect((await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "availability-zone", Values: ["us-east-1b"] }] }))).Subnets!.map((s) => s.SubnetId)).toEqual([subnets[1]!.SubnetId]);
    const zones = (await ec2.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones!;
    expect(zones.map((z) => [z.ZoneName, z.State, z.RegionName])).toEqual([
      ["us-east-1a", "available", "us-east-1"],
      ["us-east-1b", "available", "us-east-1"],
      ["us-east-1c", "available", "us-east-1"],
    ]);
    expect(await ec2Error(ec2.send(new DescribeSubnetsCommand({ SubnetIds: ["subnet-00000000000000000"] })))).toMatchObject({ name: "InvalidSubnetID.NotFound" });
    expect(await ec2Error(ec2.send(new DescribeVpcsCommand({ VpcIds: ["vpc-00000000000000000"] })))).toMatchObject({ name: "InvalidVpcID.NotFound" });
  });

  it("creates groups, adds and removes rules in both forms, with EC2's errors", async () => {
    const vpcId = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs![0]!.VpcId!;
    const web = await ec2.send(new CreateSecurityGroupCommand({ GroupName: "web", Description: "web servers", VpcId: vpcId }));
    expect(web.GroupId).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(await ec2Error(ec2.send(new CreateSecurityGroupCommand({ GroupName: "web", Description: "again" })))).toMatchObject({
      name: "InvalidGroup.Duplicate",
      message: `The security group 'web' already exists for VPC '${vpcId}'`,
    });

    await ec2.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: web.GroupId,
      IpPermissions: [
        { IpProtocol: "tcp", FromPort: 80, ToPort: 81, IpRanges: [{ CidrIp: "0.0.0.0/0" }, { CidrIp: "10.0.0.0/8" }] },
        { IpProtocol: "icmp", FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: "10.0.0.0/8" }] },
      ],
    }));
    // The old flat form (GroupName, IpProtocol, FromPort, ToPort, CidrIp).
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupName: "web", IpProtocol: "udp", FromPort: 53, ToPort: 53, CidrIp: "127.0.0.0/8" }));

    const described = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [web.GroupId!] }))).SecurityGroups![0]!;
    expect(described).toMatchObject({ GroupName: "web", Description: "web servers", VpcId: vpcId, OwnerId: owner.accountId });
    expect(described.IpPermissions!.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges!.map((r) => r.CidrIp)])).toEqual([
      ["tcp", 80, 81, ["0.0.0.0/0", "10.0.0.0/8"]],
      ["icmp", -1, -1, ["10.0.0.0/8"]],
      ["udp", 53, 53, ["127.0.0.0/8"]],
    ]);
    expect(described.IpPermissionsEgress).toEqual([expect.objectContaining({ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] })]);

    const def = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ["default"] }))).SecurityGroups![0]!;
    expect(def.IpPermissions).toEqual([expect.objectContaining({ IpProtocol: "-1", UserIdGroupPairs: [expect.objectContaining({ GroupId: def.GroupId })] })]);
    const names = (Name: string, Values: string[]) => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name, Values }] })).then((r) => r.SecurityGroups!.map((g) => g.GroupName));
    expect(await names("group-name", ["web"])).toEqual(["web"]);
    expect(await names("group-id", [def.GroupId!])).toEqual(["default"]);
    expect((await names("vpc-id", [vpcId])).sort()).toEqual(["default", "web"]);

    expect(await ec2Error(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupName: "web", IpProtocol: "tcp", FromPort: 80, ToPort: 81, CidrIp: "0.0.0.0/0" })))).toMatchObject({
      name: "InvalidPermission.Duplicate",
    });
    expect(await ec2Error(ec2.send(new RevokeSecurityGroupIngressCommand({ GroupName: "web", IpProtocol: "tcp", FromPort: 8080, ToPort: 8080, CidrIp: "0.0.0.0/0" })))).toMatchObject({
      name: "InvalidPermission.NotFound",
      message: "The specified rule does not exist in this security group.",
    });
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: web.GroupId, IpPermissions: [{ IpProtocol: "tcp", FromPort: 80, ToPort: 81, IpRanges: [{ CidrIp: "10.0.0.0/8" }] }] }));
    const after = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [web.GroupId!] }))).SecurityGroups![0]!;
    expect(after.IpPermissions!.find((p) => p.IpProtocol === "tcp")!.IpRanges).toEqual([{ CidrIp: "0.0.0.0/0" }]);

    expect(await ec2Error(ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ["sg-00000000000000000"] })))).toMatchObject({
      name: "InvalidGroup.NotFound",
      message: "The security group 'sg-00000000000000000' does not exist",
    });
    expect(await ec2Error(ec2.send(new DeleteSecurityGroupCommand({ GroupId: def.GroupId })))).toMatchObject({ name: "CannotDelete" });
  });
});

describe("RunInstances on the network", () => {
  let imageId: string;
  beforeAll(async () => {
    const snap = endpoint.cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("hvm-linux.img")).snapshotId;
    imageId = (await ec2.send(new RegisterImageCommand({ Name: "net-hvm", Architecture: "i386", VirtualizationType: "hvm", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap } }] }))).ImageId!;
  });

  it("refuses a missing key, group or subnet and bad metadata options before launching anything", async () => {
    const launch = (extra: object) => ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, ...extra }));
    expect(await ec2Error(launch({ KeyName: "nope" }))).toMatchObject({ name: "InvalidKeyPair.NotFound", message: "The key pair 'nope' does not exist" });
    expect(await ec2Error(launch({ SecurityGroupIds: ["sg-00000000000000000"] }))).toMatchObject({ name: "InvalidGroup.NotFound" });
    expect(await ec2Error(launch({ SecurityGroups: ["nope"] }))).toMatchObject({ name: "InvalidGroup.NotFound" });
    expect(await ec2Error(launch({ SubnetId: "subnet-00000000000000000" }))).toMatchObject({ name: "InvalidSubnetID.NotFound" });
    expect(await ec2Error(launch({ MetadataOptions: { HttpTokens: "sometimes" } }))).toMatchObject({ name: "InvalidParameterValue", message: expect.stringContaining("HttpTokens") });
    expect(await ec2Error(launch({ MetadataOptions: { HttpPutResponseHopLimit: 99 } }))).toMatchObject({ name: "InvalidParameterValue", message: expect.stringContaining("HttpPutResponseHopLimit") });
    expect((await ec2.send(new DescribeInstancesCommand({}))).Reservations).toEqual([]);
  });

  it("gives the instance its key, groups, subnet, addresses and interface, and applies rule changes to the running VM", async () => {
    const web = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ["web"] }))).SecurityGroups![0]!;
    const subnetB = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "availability-zone", Values: ["us-east-1b"] }] }))).Subnets![0]!;
    const r = await ec2.send(new RunInstancesCommand({
      ImageId: imageId, MinCount: 1, MaxCount: 1, KeyName: "laptop", SecurityGroupIds: [web.GroupId!], Placement: { AvailabilityZone: "us-east-1b" },
      MetadataOptions: { HttpTokens: "required" },
    }));
    const id = r.Instances![0]!.InstanceId!;
    expect(r.Instances![0]!.SecurityGroups).toEqual([{ GroupId: web.GroupId, GroupName: "web" }]);
    await waitForInstances(ec2, [id], "running", { timeoutMs: 120_000, intervalMs: 100 });

    const i = await describe1(id);
    expect(i).toMatchObject({
      KeyName: "laptop",
      SubnetId: subnetB.SubnetId,
      VpcId: subnetB.VpcId,
      PrivateIpAddress: "172.31.16.4",
      PrivateDnsName: "ip-172-31-16-4.ec2.internal",
      PublicIpAddress: expect.stringMatching(/^127\.77\.\d+\.\d+$/),
      Placement: expect.objectContaining({ AvailabilityZone: "us-east-1b" }),
      SecurityGroups: [{ GroupId: web.GroupId, GroupName: "web" }],
      MetadataOptions: expect.objectContaining({ HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1 }),
    });
    const nic = i.NetworkInterfaces![0]!;
    expect(nic).toMatchObject({
      NetworkInterfaceId: expect.stringMatching(/^eni-[0-9a-f]{17}$/),
      MacAddress: expect.stringMatching(/^02(:[0-9a-f]{2}){5}$/),
      PrivateIpAddress: "172.31.16.4",
      SubnetId: subnetB.SubnetId,
      VpcId: subnetB.VpcId,
      Status: "in-use",
      Groups: [{ GroupId: web.GroupId, GroupName: "web" }],
      Attachment: expect.objectContaining({ DeviceIndex: 0 }),
    });
    const address = i.PublicIpAddress!;

    // DescribeInstances' network filters.
    for (const [name, value] of [
      ["key-name", "laptop"], ["subnet-id", subnetB.SubnetId!], ["vpc-id", subnetB.VpcId!], ["private-ip-address", "172.31.16.4"], ["ip-address", address],
      ["network-interface.mac-address", nic.MacAddress!], ["instance.group-id", web.GroupId!], ["instance.group-name", "web"],
    ] as const) {
      expect(await idsWhere(name, value), name).toEqual([id]);
    }
    expect(await idsWhere("instance.group-name", "default")).toEqual([]);

    // The web group opens tcp 80-81 to 0.0.0.0/0: the VM listens on the instance's address at 10080 and 10081.
    await vi.waitFor(async () => expect(await listening(address, 10080)).toBe(true), { timeout: 30_000, interval: 200 });
    expect(await listening(address, 10081)).toBe(true);
    expect(await listening(address, 10022)).toBe(false);
    // Authorize and revoke change the running VM's listeners.
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web.GroupId, IpPermissions: [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: "127.0.0.1/32" }] }] }));
    await vi.waitFor(async () => expect(await listening(address, 10022)).toBe(true), { timeout: 15_000, interval: 100 });
    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: web.GroupId, IpPermissions: [{ IpProtocol: "tcp", FromPort: 80, ToPort: 81, IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
    await vi.waitFor(async () => expect(await listening(address, 10080)).toBe(false), { timeout: 15_000, interval: 100 });

    const modified = await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: "optional", HttpEndpoint: "disabled" }));
    expect(modified).toMatchObject({ InstanceId: id, InstanceMetadataOptions: expect.objectContaining({ HttpTokens: "optional", HttpEndpoint: "disabled" }) });
    expect((await describe1(id)).MetadataOptions).toMatchObject({ HttpTokens: "optional", HttpEndpoint: "disabled" });
    expect(await ec2Error(ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: "never" })))).toMatchObject({ name: "InvalidParameterValue" });

    // The group is in use while the instance lives; terminating frees it.
    expect(await ec2Error(ec2.send(new DeleteSecurityGroupCommand({ GroupId: web.GroupId })))).toMatchObject({
      name: "DependencyViolation",
      message: `resource ${web.GroupId} has a dependent object`,
    });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitForInstances(ec2, [id], "terminated", { timeoutMs: 60_000, intervalMs: 100 });
    expect(await listening(address, 10022)).toBe(false);
    expect((await ec2.send(new DeleteSecurityGroupCommand({ GroupName: "web" }))).GroupId).toBe(web.GroupId);
  });
});

describe("the same calls from Debian's python3-boto3", () => {
  it("creates, imports and deletes keys, reads the default network, and manages a group's rules", async () => {
    const keyFile = path.join(endpoint.home, "py-key");
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "py@host", "-f", keyFile]);
    const publicKey = fs.readFileSync(`${keyFile}.pub`, "utf8");
    const client = { endpoint: endpoint.server.url, accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey, publicKey };
    const r = await runProgram("/usr/bin/python3", ["-I", path.join(ROOT, "test", "clients", "boto3_network.py")], awsClientEnv(path.join(endpoint.home, "py"), { AMIBOOT_CLIENT: JSON.stringify(client) }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.created).toMatchObject({ KeyName: "py", KeyPairId: expect.stringMatching(/^key-[0-9a-f]{17}$/), materialHead: "-----BEGIN OPENSSH PRIVATE KEY-----" });
    expect(out.imported.KeyFingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    expect(out.keys).toEqual([
      { name: "py", type: "ed25519", publicKey: expect.stringMatching(/^ssh-ed25519 \S+ py$/) },
      { name: "py-imported", type: "rsa", publicKey: `${publicKey.split(" ").slice(0, 2).join(" ")} py-imported` },
    ]);
    expect(out.duplicateKey).toEqual({ code: "InvalidKeyPair.Duplicate", message: "The keypair 'py' already exists." });
    expect(out.vpc).toMatchObject({ CidrBlock: "172.31.0.0/16", IsDefault: true });
    expect(out.subnets).toEqual([["eu-west-1a", "172.31.0.0/20"], ["eu-west-1b", "172.31.16.0/20"], ["eu-west-1c", "172.31.32.0/20"]]);
    expect(out.zones).toEqual(["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
    expect(out.group).toMatchObject({ GroupName: "py-web", VpcId: out.vpc.VpcId, rules: [["tcp", 22, 22, ["0.0.0.0/0"]]] });
    expect(out.duplicateRule.code).toBe("InvalidPermission.Duplicate");
    expect(out.rulesAfterRevoke).toEqual([]);
    expect(out.missingRule.code).toBe("InvalidPermission.NotFound");
    expect(out.missingGroup.code).toBe("InvalidGroup.NotFound");
    expect(out.deleteDefault.code).toBe("CannotDelete");
    expect(out.keysLeft).toEqual(["py-imported"]);
  });
});
