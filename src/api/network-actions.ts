import { matchFields } from "../cloud/filters.js";
import { availabilityZones, defaultSubnets, defaultVpc } from "../cloud/networks.js";
import type { Rule, SecurityGroup } from "../cloud/security-groups.js";
import { Ec2Error } from "../errors.js";
import type { Handler } from "./call.js";
import { filters, intParam, listParam, refParam, stringParam, structList } from "./query.js";
import { tagsOf } from "./tag-specifications.js";

/** Security groups and the default network (VPC, subnets, zones). */
export const NETWORK_ACTIONS: Record<string, Handler> = {
  CreateSecurityGroup: (cloud, { accountId, region, params }) => {
    const op = "CreateSecurityGroup";
    const g = cloud.securityGroups.create(accountId, region, {
      name: stringParam(params, "GroupName", { op }),
      description: stringParam(params, "GroupDescription", { op }),
      vpcId: refParam(params, "VpcId", op),
      tags: tagsOf(params, "security-group", op),
    });
    return { return: true, groupId: g.groupId, tagSet: g.tags };
  },
  DescribeSecurityGroups: (cloud, { accountId, region, params }) => {
    const op = "DescribeSecurityGroups";
    const list = cloud.securityGroups.describe(accountId, region, { groupIds: listParam(params, "GroupId", op), groupNames: listParam(params, "GroupName", op), filters: filters(params, op) });
    return { securityGroupInfo: list.map(groupXml) };
  },
  AuthorizeSecurityGroupIngress: (cloud, { accountId, region, params }) => {
    const op = "AuthorizeSecurityGroupIngress";
    cloud.securityGroups.authorize(accountId, region, groupRef(params, op), rules(params, op));
    return { return: true };
  },
  RevokeSecurityGroupIngress: (cloud, { accountId, region, params }) => {
    const op = "RevokeSecurityGroupIngress";
    cloud.securityGroups.revoke(accountId, region, groupRef(params, op), rules(params, op));
    return { return: true };
  },
  DeleteSecurityGroup: (cloud, { accountId, region, params }) => {
    const op = "DeleteSecurityGroup";
    return { return: true, groupId: cloud.securityGroups.delete(accountId, region, groupRef(params, op)) };
  },

  DescribeVpcs: (_cloud, { accountId, region, params }) => {
    const op = "DescribeVpcs";
    const vpc = defaultVpc(accountId, region);
    const ids = listParam(params, "VpcId", op);
    for (const id of ids) if (id !== vpc.vpcId) throw new Ec2Error("InvalidVpcID.NotFound", `The vpc ID '${id}' does not exist`, op);
    const item = { vpcId: vpc.vpcId, ownerId: accountId, state: "available", cidrBlock: vpc.cidrBlock, dhcpOptionsId: "default", instanceTenancy: "default", isDefault: true, cidrBlockAssociationSet: [{ cidrBlock: vpc.cidrBlock, cidrBlockState: { state: "associated" } }] };
    const matches = matchFields(filters(params, op), { "vpc-id": [vpc.vpcId], "is-default": ["true"], "cidr-block": [vpc.cidrBlock], cidr: [vpc.cidrBlock], state: ["available"], "owner-id": [accountId] }, op);
    return { vpcSet: matches ? [item] : [] };
  },
  DescribeSubnets: (_cloud, { accountId, region, params }) => {
    const op = "DescribeSubnets";
    const all = defaultSubnets(accountId, region);
    const ids = listParam(params, "SubnetId", op);
    for (const id of ids) if (!all.some((s) => s.subnetId === id)) throw new Ec2Error("InvalidSubnetID.NotFound", `The subnet ID '${id}' does not exist`, op);
    const f = filters(params, op);
    const list = all.filter((s) => (ids.length === 0 || ids.includes(s.subnetId)) && matchFields(f, {
      "subnet-id": [s.subnetId], "vpc-id": [s.vpcId], "availability-zone": [s.availabilityZone], "default-for-az": ["true"], defaultForAz: ["true"],
      "cidr-block": [s.cidrBlock], state: ["available"], "owner-id": [accountId],
    }, op));
    return {
      subnetSet: list.map((s) => ({
        subnetId: s.subnetId, state: "available", vpcId: s.vpcId, cidrBlock: s.cidrBlock, availableIpAddressCount: 4091, availabilityZone: s.availabilityZone,
        availabilityZoneId: `${s.availabilityZone.slice(0, -1).replace(/-/g, "")}-az${s.availabilityZone.slice(-1).charCodeAt(0) - 96}`,
        defaultForAz: true, mapPublicIpOnLaunch: true, ownerId: accountId, assignIpv6AddressOnCreation: false,
      })),
    };
  },
  DescribeAvailabilityZones: (_cloud, { region, params }) => {
    const op = "DescribeAvailabilityZones";
    const names = listParam(params, "ZoneName", op);
    const all = availabilityZones(region);
    for (const n of names) if (!all.includes(n)) throw new Ec2Error("InvalidParameterValue", `Invalid availability zone: [${n}]`, op);
    const f = filters(params, op);
    return {
      availabilityZoneInfo: all
        .filter((z) => (names.length === 0 || names.includes(z)) && matchFields(f, { "zone-name": [z], state: ["available"], "region-name": [region], "zone-type": ["availability-zone"] }, op))
        .map((z, k) => ({ zoneName: z, zoneState: "available", regionName: region, zoneId: `${region.replace(/-/g, "")}-az${k + 1}`, zoneType: "availability-zone", optInStatus: "opt-in-not-required", messageSet: [] })),
    };
  },
};

function groupXml(g: SecurityGroup): Record<string, unknown> {
  // One ipPermissions item per protocol and port range, with its sources.
  const byRange = new Map<string, { rule: Rule; cidrs: string[]; groups: string[] }>();
  for (const r of g.rules) {
    const k = `${r.protocol}/${r.fromPort}/${r.toPort}`;
    const e = byRange.get(k) ?? { rule: r, cidrs: [], groups: [] };
    (r.source.startsWith("sg-") ? e.groups : e.cidrs).push(r.source);
    byRange.set(k, e);
  }
  return {
    ownerId: g.ownerId,
    groupId: g.groupId,
    groupName: g.groupName,
    groupDescription: g.description,
    vpcId: g.vpcId,
    ipPermissions: [...byRange.values()].map(({ rule, cidrs, groups }) => ({
      ipProtocol: rule.protocol,
      ...(rule.protocol === "-1" ? {} : { fromPort: rule.fromPort, toPort: rule.toPort }),
      groups: groups.map((id) => ({ userId: g.ownerId, groupId: id })),
      ipRanges: cidrs.map((cidrIp) => ({ cidrIp })),
      ipv6Ranges: [],
      prefixListIds: [],
    })),
    ipPermissionsEgress: [{ ipProtocol: "-1", groups: [], ipRanges: [{ cidrIp: "0.0.0.0/0" }], ipv6Ranges: [], prefixListIds: [] }],
    tagSet: g.tags,
  };
}

function groupRef(params: URLSearchParams, op: string): { groupId?: string; groupName?: string } {
  const groupId = stringParam(params, "GroupId", { op });
  const groupName = stringParam(params, "GroupName", { op });
  return { ...(groupId !== undefined ? { groupId } : {}), ...(groupName !== undefined ? { groupName } : {}) };
}

/** `IpPermissions.N…` (with `IpRanges.M.CidrIp` and `Groups.M.GroupId`), or the older flat IpProtocol/FromPort/ToPort/CidrIp. */
function rules(params: URLSearchParams, op: string): Rule[] {
  const out: Rule[] = [];
  for (const p of structList(params, "IpPermissions", op)) {
    const protocol = String(p.IpProtocol ?? "");
    if (!protocol) throw new Ec2Error("MissingParameter", "The request must contain the parameter IpProtocol", op);
    const fromPort = p.FromPort !== undefined ? Number(p.FromPort) : -1;
    const toPort = p.ToPort !== undefined ? Number(p.ToPort) : -1;
    const sources = [
      ...items(p.IpRanges).map((r) => String(r.CidrIp ?? "")),
      ...items(p.Groups).map((g) => String(g.GroupId ?? "")),
      ...items(p.UserIdGroupPairs).map((g) => String(g.GroupId ?? "")),
    ];
    if (sources.length === 0) throw new Ec2Error("MissingParameter", "Each IpPermissions item needs IpRanges or Groups: the source of the traffic", op);
    for (const source of sources) out.push({ protocol, fromPort, toPort, source });
  }
  const flat = stringParam(params, "IpProtocol", { op });
  if (flat !== undefined) {
    const cidr = stringParam(params, "CidrIp", { op });
    const group = stringParam(params, "SourceSecurityGroupName", { op });
    if (cidr === undefined && group === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter CidrIp", op);
    if (group !== undefined) throw new Ec2Error("InvalidParameterValue", "SourceSecurityGroupName is not supported here: use IpPermissions with Groups.N.GroupId", op);
    out.push({ protocol: flat, fromPort: intParam(params, "FromPort", { op }) ?? -1, toPort: intParam(params, "ToPort", { op }) ?? -1, source: cidr! });
  }
  return out;
}

/** A numbered sub-list as the query parser gives it: an array, or one structure. */
function items(v: unknown): Record<string, unknown>[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)).filter((x): x is Record<string, unknown> => typeof x === "object" && x !== null);
}

