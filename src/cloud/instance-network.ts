import { randomBytes, randomInt } from "node:crypto";
import { Ec2Error } from "../errors.js";
import { checkOptions, DEFAULT_METADATA_OPTIONS, type MetadataOptions } from "../net/imds.js";
import type { InstanceFacts } from "../net/metadata.js";
import { guestPortFor, hostPortFor, type NetworkPlan, type PortForwardSpec } from "../net/network-plan.js";
import type { Db } from "../store/db.js";
import type { Instance, InstanceNetwork } from "./instance-records.js";
import type { KeyPairs } from "./key-pairs.js";
import { launchSubnet, privateDnsName, VPC_CIDR, type Subnet } from "./networks.js";
import { cidrContains, type Rule, type SecurityGroups } from "./security-groups.js";

export type { InstanceNetwork } from "./instance-records.js";

/**
 * Each instance's network identity, given at launch and kept until it
 * terminates: a MAC, a private IP of its subnet (what the guest's DHCP gets),
 * an address of its own on the host's loopback (`127.77.x.y`, its
 * PublicIpAddress, where its allowed ports listen), its groups, its key and
 * its metadata options. From these and its groups' rules it builds the
 * `NetworkPlan` a VM boots with.
 */

/** What RunInstances says of the network. */
export interface LaunchNetworkRequest {
  keyName?: string;
  securityGroupIds: string[];
  securityGroupNames: string[];
  subnetId?: string;
  availabilityZone?: string;
  metadataOptions?: Partial<MetadataOptions>;
}

/** A launch's network, checked before anything is made. */
export interface LaunchNetwork {
  subnet: Subnet;
  groups: { id: string; name: string }[];
  key?: { name: string; publicKey: string };
  metadataOptions: MetadataOptions;
}

/** Ports of one rule that get a host listener; wider ranges are cut here (a listener per port). */
export const MAX_FORWARDS_PER_RULE = 64;
/** The host side of every forward: connections come from this machine. */
const HOST_PEER = "127.0.0.1";
const LOOPBACK_NET = "127.77";

interface Row {
  instance_id: string;
  mac: string;
  private_ip: string;
  public_ip: string;
  interface_id: string;
  subnet_id: string;
  vpc_id: string;
  zone: string;
  key_name: string | null;
  public_key: string | null;
  groups: string;
  metadata_options: string;
}

export class InstanceNetworks {
  constructor(
    private readonly db: Db,
    private readonly keyPairs: KeyPairs,
    private readonly groups: SecurityGroups,
  ) {}

  /** Checks a launch's key, groups, subnet and metadata options (EC2's errors), before anything is made. */
  prepare(caller: string, region: string, r: LaunchNetworkRequest, op: string): LaunchNetwork {
    const subnet = launchSubnet(caller, region, { ...(r.subnetId !== undefined ? { subnetId: r.subnetId } : {}), ...(r.availabilityZone !== undefined ? { zone: r.availabilityZone } : {}) }, op);
    const refs = [...r.securityGroupIds.map((groupId) => ({ groupId })), ...r.securityGroupNames.map((groupName) => ({ groupName }))];
    const found = refs.length > 0 ? refs.map((ref) => this.groups.find(caller, region, ref, op)) : [this.groups.ensureDefault(caller, region)];
    const groups = [...new Map(found.map((g) => [g.groupId, { id: g.groupId, name: g.groupName }])).values()];
    const key = r.keyName !== undefined ? this.keyPairs.get(caller, region, r.keyName, op) : undefined;
    let metadataOptions: MetadataOptions;
    try {
      metadataOptions = checkOptions({ ...DEFAULT_METADATA_OPTIONS, ...r.metadataOptions });
    } catch (err) {
      throw err instanceof Ec2Error ? new Ec2Error(err.code, err.message, op) : err;
    }
    return { subnet, groups, ...(key ? { key: { name: key.keyName, publicKey: key.publicKey } } : {}), metadataOptions };
  }

  /** Gives each new instance its identity; runs inside the launch's transaction, so addresses are never handed out twice. */
  assign(instanceIds: string[], launch: LaunchNetwork): void {
    const usedPrivate = new Set(this.db.prepare("select n.private_ip from instance_networks n join instances i on i.id = n.instance_id where i.state != 'terminated' and n.subnet_id = ?").pluck().all(launch.subnet.subnetId) as string[]);
    const usedPublic = new Set(this.db.prepare("select n.public_ip from instance_networks n join instances i on i.id = n.instance_id where i.state != 'terminated'").pluck().all() as string[]);
    const insert = this.db.prepare(
      "insert into instance_networks (instance_id, mac, private_ip, public_ip, interface_id, subnet_id, vpc_id, zone, key_name, public_key, groups, metadata_options) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    for (const id of instanceIds) {
      const privateIp = freeAddress(usedPrivate, launch.subnet.firstOctet, "InsufficientFreeAddressesInSubnet", `The subnet ${launch.subnet.subnetId} has no free addresses.`);
      const publicIp = freeLoopback(usedPublic);
      usedPrivate.add(privateIp);
      usedPublic.add(publicIp);
      // Locally administered unicast (02:…), unique: the column says so.
      const mac = `02:${[...randomBytes(5)].map((b) => b.toString(16).padStart(2, "0")).join(":")}`;
      insert.run(id, mac, privateIp, publicIp, `eni-${randomBytes(9).toString("hex").slice(0, 17)}`, launch.subnet.subnetId, launch.subnet.vpcId, launch.subnet.availabilityZone,
        launch.key?.name ?? null, launch.key?.publicKey ?? null, JSON.stringify(launch.groups), JSON.stringify(launch.metadataOptions));
    }
  }

  of(instanceId: string, region: string): InstanceNetwork | undefined {
    const row = this.db.prepare("select * from instance_networks where instance_id = ?").get(instanceId) as Row | undefined;
    return row && toNetwork(row, region);
  }

  setMetadataOptions(instanceId: string, options: MetadataOptions): void {
    this.db.prepare("update instance_networks set metadata_options = ? where instance_id = ?").run(JSON.stringify(options), instanceId);
  }

  /** Instances (not terminated) in a group: they follow its rules. */
  usingGroup(groupId: string): string[] {
    return this.db
      .prepare("select n.instance_id from instance_networks n join instances i on i.id = n.instance_id, json_each(n.groups) g where i.state != 'terminated' and json_extract(g.value, '$.id') = ?")
      .pluck()
      .all(groupId) as string[];
  }

  /** The host listeners an instance's groups allow now (see `forwardsFor`). */
  forwards(network: InstanceNetwork): PortForwardSpec[] {
    return forwardsFor(network.groups.flatMap((ref) => this.groups.byId(ref.id)?.rules ?? []), network.publicIp);
  }

  /** What a VM of the instance boots with. */
  plan(i: Instance, network: InstanceNetwork, extra: { userData?: string; manifestPath?: string }): NetworkPlan {
    const facts: InstanceFacts = {
      accountId: i.ownerId,
      region: i.region,
      availabilityZone: network.availabilityZone,
      imageId: i.imageId,
      instanceId: i.instanceId,
      instanceType: i.instanceType,
      architecture: i.architecture as InstanceFacts["architecture"],
      launchIndex: i.launchIndex,
      pendingTime: i.launchTime,
      reservationId: i.reservationId,
      hostname: network.privateDnsName,
      privateIp: network.privateIp,
      publicIp: network.publicIp,
      mac: network.mac,
      interfaceId: network.interfaceId,
      subnetId: network.subnetId,
      subnetCidr: `${network.privateIp.split(".").slice(0, 2).join(".")}.${Number(network.privateIp.split(".")[2]) & ~15}.0/20`,
      vpcId: network.vpcId,
      vpcCidr: VPC_CIDR,
      securityGroups: network.groups,
      ...(network.keyName && network.publicKey ? { publicKey: { name: network.keyName, openssh: network.publicKey } } : {}),
      blockDevices: blockDevices(i),
      ...(extra.manifestPath ? { manifestPath: extra.manifestPath } : {}),
      virtualization: i.virtualizationType,
      ...(extra.userData ? { userData: new Uint8Array(Buffer.from(extra.userData, "base64")) } : {}),
    };
    const [a, b, c] = network.privateIp.split(".");
    return { nic: "ne2k", routerIp: `${a}.${b}.${c}.1`, privateIp: network.privateIp, mac: network.mac, facts, metadataOptions: network.metadataOptions, forwards: this.forwards(network) };
  }
}

/**
 * The host listeners a set of ingress rules gives an instance: one per TCP
 * port that a rule opens to the host, i.e. from a CIDR holding 127.0.0.1
 * (0.0.0.0/0, 127.0.0.0/8, 127.0.0.1/32); rules from a group, UDP, ICMP and
 * all-protocol (-1) rules open none. Each guest port P listens on the
 * instance's own loopback address (its PublicIpAddress) at
 * `hostPortFor(P)`: P itself from 1024 up, 10000 + P below (an unprivileged
 * user cannot bind ports under 1024), so SSH is `ssh -p 10022 user@127.77.x.y`;
 * a rule for 10000 + P (P < 1024) opens guest port P too (`guestPortFor`).
 * A rule gives at most its first MAX_FORWARDS_PER_RULE ports (a listener per
 * port: 0-65535 would be 65536 sockets); port 0 is never forwarded.
 */
export function forwardsFor(rules: readonly Rule[], hostAddress: string): PortForwardSpec[] {
  const ports = new Set<number>();
  for (const rule of rules) {
    if (rule.protocol !== "tcp" || rule.source.startsWith("sg-") || !cidrContains(rule.source, HOST_PEER)) continue;
    const first = Math.max(rule.fromPort, 1);
    const last = Math.min(rule.toPort, first + MAX_FORWARDS_PER_RULE - 1);
    for (let p = first; p <= last; p++) ports.add(guestPortFor(p));
  }
  return [...ports].sort((a, b) => a - b).map((guestPort) => ({ guestPort, hostAddress, hostPort: hostPortFor(guestPort) }));
}

function toNetwork(row: Row, region: string): InstanceNetwork {
  return {
    mac: row.mac,
    privateIp: row.private_ip,
    privateDnsName: privateDnsName(region, row.private_ip),
    publicIp: row.public_ip,
    interfaceId: row.interface_id,
    subnetId: row.subnet_id,
    vpcId: row.vpc_id,
    availabilityZone: row.zone,
    ...(row.key_name ? { keyName: row.key_name } : {}),
    ...(row.public_key ? { publicKey: row.public_key } : {}),
    groups: JSON.parse(row.groups) as { id: string; name: string }[],
    metadataOptions: JSON.parse(row.metadata_options) as MetadataOptions,
  };
}

/** EC2's names for the devices in the metadata: `ami`/`root`, `ebsN`, `ephemeralN`. */
function blockDevices(i: Instance): Record<string, string> {
  const out: Record<string, string> = { ami: i.rootDeviceName.replace(/^\/dev\//, ""), root: i.rootDeviceName };
  let ebs = 0;
  for (const d of i.devices) {
    if (d.deviceName === i.rootDeviceName) continue;
    const name = d.deviceName.replace(/^\/dev\//, "");
    if (d.volumeId) out[`ebs${++ebs}`] = name;
    else if (d.virtualName) out[d.virtualName] = name;
  }
  return out;
}

/**
 * The first free address of a /20 subnet, skipping what AWS reserves: the
 * first four and the last. Addresses ending .0, .1 and .255 are skipped too,
 * since the guest's DHCP gives it a /24 whose .1 is its gateway.
 */
function freeAddress(used: Set<string>, firstOctet: number, code: "InsufficientFreeAddressesInSubnet", message: string): string {
  for (let third = firstOctet; third < firstOctet + 16; third++) {
    for (let fourth = third === firstOctet ? 4 : 2; fourth <= 254; fourth++) {
      if (third === firstOctet + 15 && fourth === 254) break;
      const ip = `172.31.${third}.${fourth}`;
      if (!used.has(ip)) return ip;
    }
  }
  throw new Ec2Error(code, message, "cloud.assignAddress");
}

/**
 * A loopback address of the instance's own: every 127/8 address reaches this
 * host without setup (Linux). Picked at random in 127.77.0.0/16 (not the
 * first free one) so that two amiboot homes on one machine (two servers, or
 * tests side by side) are unlikely to hand out the same address; this
 * database keeps it unique among its own instances.
 */
function freeLoopback(used: Set<string>): string {
  const at = (k: number) => `${LOOPBACK_NET}.${k >> 8}.${k & 255}`;
  // k runs over x.y with y in 2..254 (no network, gateway-like or broadcast-like last octet).
  const usable = (k: number) => (k & 255) >= 2 && (k & 255) <= 254;
  for (let tries = 0; tries < 64; tries++) {
    const k = randomInt(0, 65536);
    if (usable(k) && !used.has(at(k))) return at(k);
  }
  for (let k = 0; k < 65536; k++) if (usable(k) && !used.has(at(k))) return at(k);
  throw new Ec2Error("InsufficientInstanceCapacity", "No loopback address is free for another instance.", "cloud.assignAddress");
}
