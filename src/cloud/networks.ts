import { createHash } from "node:crypto";
import { Ec2Error } from "../errors.js";

/**
 * Each account's default network in each region, as EC2 makes it for a new
 * account: one default VPC (172.31.0.0/16), one default subnet per
 * availability zone (172.31.0.0/20, 172.31.16.0/20, …). Their ids are a hash
 * of account, region and zone, so they need no storage and never change.
 * Instances of one VPC cannot reach each other here: each VM has its own
 * user-space network (v86's), and only amiboot's services answer on it.
 */
export const VPC_CIDR = "172.31.0.0/16";
const ZONE_LETTERS = ["a", "b", "c"] as const;

export interface Vpc {
  vpcId: string;
  cidrBlock: string;
  isDefault: true;
}

export interface Subnet {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  cidrBlock: string;
  /** The subnet's third octet range: [first, first + 16). */
  firstOctet: number;
  isDefault: true;
}

export function availabilityZones(region: string): string[] {
  return ZONE_LETTERS.map((l) => `${region}${l}`);
}

export function defaultVpc(caller: string, region: string): Vpc {
  return { vpcId: hashedId("vpc", caller, region), cidrBlock: VPC_CIDR, isDefault: true };
}

export function defaultSubnets(caller: string, region: string): Subnet[] {
  const vpcId = defaultVpc(caller, region).vpcId;
  return availabilityZones(region).map((zone, k) => ({
    subnetId: hashedId("subnet", caller, region, zone),
    vpcId,
    availabilityZone: zone,
    cidrBlock: `172.31.${k * 16}.0/20`,
    firstOctet: k * 16,
    isDefault: true,
  }));
}

/** The launch's subnet: by id, else the zone's default subnet, else the first zone's. */
export function launchSubnet(caller: string, region: string, r: { subnetId?: string; zone?: string }, op: string): Subnet {
  const subnets = defaultSubnets(caller, region);
  if (r.subnetId !== undefined) {
    const s = subnets.find((x) => x.subnetId === r.subnetId);
    if (!s) throw new Ec2Error("InvalidSubnetID.NotFound", `The subnet ID '${r.subnetId}' does not exist`, op);
    if (r.zone !== undefined && r.zone !== s.availabilityZone) {
      throw new Ec2Error("InvalidParameterValue", `Value (${r.zone}) for parameter availabilityZone is invalid. Subnet ${s.subnetId} is in ${s.availabilityZone}.`, op);
    }
    return s;
  }
  if (r.zone !== undefined) {
    const s = subnets.find((x) => x.availabilityZone === r.zone);
    if (!s) throw new Ec2Error("InvalidParameterValue", `Invalid availability zone: [${r.zone}]`, op);
    return s;
  }
  return subnets[0]!;
}

/** The private DNS name EC2 gives an address: `ip-172-31-5-17.ec2.internal` (us-east-1) or `….REGION.compute.internal`. */
export function privateDnsName(region: string, ip: string): string {
  return `ip-${ip.replace(/\./g, "-")}.${region === "us-east-1" ? "ec2.internal" : `${region}.compute.internal`}`;
}

function hashedId(prefix: string, ...parts: string[]): string {
  return `${prefix}-${createHash("sha256").update(parts.join("/")).digest("hex").slice(0, 17)}`;
}
