import { randomBytes } from "node:crypto";
import { Ec2Error } from "../errors.js";
import type { Db } from "../store/db.js";
import { filterPredicate, type Filter } from "./filters.js";
import { defaultVpc } from "./networks.js";
import type { Tag, Tags } from "./tags.js";

/**
 * Security groups of the default VPC, with EC2's rules and errors. Their
 * ingress rules decide which guest ports the host can reach: a running
 * instance's port forwards follow its groups' rules as they change
 * (`changed` is called with the group whose rules changed). Egress is open,
 * as in a new group; it is shown, not enforced (guests reach nothing but
 * amiboot's own services anyway).
 */
export interface SecurityGroup {
  groupId: string;
  groupName: string;
  description: string;
  vpcId: string;
  ownerId: string;
  rules: Rule[];
  tags: Tag[];
}

/** One ingress rule: a protocol and port range from a CIDR or from another group. */
export interface Rule {
  protocol: string;
  fromPort: number;
  toPort: number;
  /** A CIDR (`0.0.0.0/0`) or a group id (`sg-…`). */
  source: string;
}

const FILTERS: Record<string, (g: SecurityGroup) => (string | undefined)[]> = {
  "group-id": (g) => [g.groupId],
  "group-name": (g) => [g.groupName],
  "vpc-id": (g) => [g.vpcId],
  "owner-id": (g) => [g.ownerId],
  description: (g) => [g.description],
  "ip-permission.cidr": (g) => g.rules.map((r) => r.source),
  "ip-permission.from-port": (g) => g.rules.map((r) => String(r.fromPort)),
  "ip-permission.to-port": (g) => g.rules.map((r) => String(r.toPort)),
  "ip-permission.protocol": (g) => g.rules.map((r) => r.protocol),
};

const PROTOCOLS: Record<string, string> = { tcp: "tcp", "6": "tcp", udp: "udp", "17": "udp", icmp: "icmp", "1": "icmp", "-1": "-1", all: "-1" };

export class SecurityGroups {
  constructor(
    private readonly db: Db,
    private readonly tags: Tags,
    private readonly changed: (groupId: string) => void = () => {},
  ) {}

  create(caller: string, region: string, r: { name?: string; description?: string; vpcId?: string; tags: Tag[] }): SecurityGroup {
    const op = "CreateSecurityGroup";
    if (!r.name) throw new Ec2Error("MissingParameter", "The request must contain the parameter GroupName", op);
    if (r.description === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter GroupDescription", op);
    if (r.name.length > 255 || r.name.startsWith("sg-")) throw new Ec2Error("InvalidParameterValue", `Value (${r.name.slice(0, 64)}) for parameter GroupName is invalid. Group names may not be in the format sg-* and are up to 255 characters.`, op);
    if (r.description.length > 255) throw new Ec2Error("InvalidParameterValue", "Value for parameter GroupDescription is invalid. Descriptions are up to 255 characters.", op);
    const vpcId = this.vpc(caller, region, r.vpcId, op);
    if (r.name === "default") throw new Ec2Error("InvalidGroup.Reserved", "The security group 'default' is reserved", op);
    this.ensureDefault(caller, region);
    if (this.db.prepare("select 1 from security_groups where region = ? and owner_id = ? and vpc_id = ? and name = ?").get(region, caller, vpcId, r.name)) {
      throw new Ec2Error("InvalidGroup.Duplicate", `The security group '${r.name}' already exists for VPC '${vpcId}'`, op);
    }
    const id = newGroupId();
    this.db.transaction(() => {
      this.db.prepare("insert into security_groups (id, region, owner_id, vpc_id, name, description, created_at) values (?, ?, ?, ?, ?, ?, ?)").run(id, region, caller, vpcId, r.name, r.description, new Date().toISOString());
      if (r.tags.length > 0) this.tags.set([id], r.tags, op);
    })();
    return this.byId(id)!;
  }

  describe(caller: string, region: string, r: { groupIds: string[]; groupNames: string[]; filters: Filter[] }): SecurityGroup[] {
    const op = "DescribeSecurityGroups";
    this.ensureDefault(caller, region);
    const ids = this.db.prepare("select id from security_groups where region = ? and owner_id = ? order by created_at, id").pluck().all(region, caller) as string[];
    const all = ids.map((id) => this.byId(id)!);
    for (const id of r.groupIds) if (!all.some((g) => g.groupId === id)) throw groupNotFound(id, op);
    for (const name of r.groupNames) if (!all.some((g) => g.groupName === name)) throw nameNotFound(name, defaultVpc(caller, region).vpcId, op);
    return all
      .filter((g) => (r.groupIds.length === 0 || r.groupIds.includes(g.groupId)) && (r.groupNames.length === 0 || r.groupNames.includes(g.groupName)))
      .filter(filterPredicate(FILTERS, (g) => g.tags, r.filters, op));
  }

  /** A group by id or (in the default VPC) by name, or EC2's error. */
  find(caller: string, region: string, ref: { groupId?: string; groupName?: string }, op: string): SecurityGroup {
    this.ensureDefault(caller, region);
    if (ref.groupId !== undefined) {
      const g = this.byId(ref.groupId);
      if (!g || g.ownerId !== caller || !this.inRegion(g.groupId, region)) throw groupNotFound(ref.groupId, op);
      return g;
    }
    if (ref.groupName === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter GroupId or GroupName", op);
    const vpcId = defaultVpc(caller, region).vpcId;
    const id = this.db.prepare("select id from security_groups where region = ? and owner_id = ? and vpc_id = ? and name = ?").pluck().get(region, caller, vpcId, ref.groupName) as string | undefined;
    if (!id) throw nameNotFound(ref.groupName, vpcId, op);
    return this.byId(id)!;
  }

  /** The default VPC's `default` group, made on first use (ingress from itself, as EC2 makes it). */
  ensureDefault(caller: string, region: string): SecurityGroup {
    const vpcId = defaultVpc(caller, region).vpcId;
    const find = () => this.db.prepare("select id from security_groups where region = ? and owner_id = ? and vpc_id = ? and name = 'default'").pluck().get(region, caller, vpcId) as string | undefined;
    let id = find();
    if (!id) {
      id = this.db.transaction(() => {
        const existing = find();
        if (existing) return existing;
        const made = newGroupId();
        this.db.prepare("insert into security_groups (id, region, owner_id, vpc_id, name, description, created_at) values (?, ?, ?, ?, 'default', 'default VPC security group', ?)").run(made, region, caller, vpcId, new Date().toISOString());
        this.db.prepare("insert into security_group_rules (group_id, protocol, from_port, to_port, source) values (?, '-1', -1, -1, ?)").run(made, made);
        return made;
      }).immediate();
    }
    return this.byId(id)!;
  }

  authorize(caller: string, region: string, ref: { groupId?: string; groupName?: string }, rules: Rule[]): SecurityGroup {
    const op = "AuthorizeSecurityGroupIngress";
    const g = this.find(caller, region, ref, op);
    const checked = rules.map((r) => checkRule(r, (id) => this.find(caller, region, { groupId: id }, op), op));
    if (checked.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter IpPermissions", op);
    this.db.transaction(() => {
      for (const r of checked) {
        if (g.rules.some((x) => sameRule(x, r))) {
          throw new Ec2Error("InvalidPermission.Duplicate", `the specified rule "peer: ${r.source}, ${r.protocol === "-1" ? "ALL" : r.protocol.toUpperCase()}, from port: ${r.fromPort}, to port: ${r.toPort}, ALLOW" already exists`, op);
        }
        this.db.prepare("insert or ignore into security_group_rules (group_id, protocol, from_port, to_port, source) values (?, ?, ?, ?, ?)").run(g.groupId, r.protocol, r.fromPort, r.toPort, r.source);
      }
    })();
    this.changed(g.groupId);
    return this.byId(g.groupId)!;
  }

  revoke(caller: string, region: string, ref: { groupId?: string; groupName?: string }, rules: Rule[]): SecurityGroup {
    const op = "RevokeSecurityGroupIngress";
    const g = this.find(caller, region, ref, op);
    const checked = rules.map((r) => checkRule(r, (id) => this.find(caller, region, { groupId: id }, op), op));
    if (checked.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter IpPermissions", op);
    for (const r of checked) {
      if (!g.rules.some((x) => sameRule(x, r))) throw new Ec2Error("InvalidPermission.NotFound", "The specified rule does not exist in this security group.", op);
    }
    this.db.transaction(() => {
      for (const r of checked) this.db.prepare("delete from security_group_rules where group_id = ? and protocol = ? and from_port = ? and to_port = ? and source = ?").run(g.groupId, r.protocol, r.fromPort, r.toPort, r.source);
    })();
    this.changed(g.groupId);
    return this.byId(g.groupId)!;
  }

  delete(caller: string, region: string, ref: { groupId?: string; groupName?: string }): string {
    const op = "DeleteSecurityGroup";
    const g = this.find(caller, region, ref, op);
    if (g.groupName === "default") throw new Ec2Error("CannotDelete", `the specified group: "${g.groupId}" name: "default" cannot be deleted by a user`, op);
    this.db.transaction(() => {
      const users = this.db
        .prepare("select n.instance_id from instance_networks n join instances i on i.id = n.instance_id, json_each(n.groups) g where i.state != 'terminated' and json_extract(g.value, '$.id') = ? limit 1")
        .pluck()
        .all(g.groupId) as string[];
      const referrers = this.db.prepare("select group_id from security_group_rules where source = ? and group_id != ? limit 1").pluck().all(g.groupId, g.groupId) as string[];
      if (users.length > 0 || referrers.length > 0) throw new Ec2Error("DependencyViolation", `resource ${g.groupId} has a dependent object`, op);
      this.db.prepare("delete from security_groups where id = ?").run(g.groupId);
      this.tags.forget(g.groupId);
    })();
    return g.groupId;
  }

  byId(id: string): SecurityGroup | undefined {
    const row = this.db.prepare("select * from security_groups where id = ?").get(id) as { id: string; owner_id: string; vpc_id: string; name: string; description: string } | undefined;
    if (!row) return undefined;
    const rules = (this.db.prepare("select protocol, from_port as fromPort, to_port as toPort, source from security_group_rules where group_id = ? order by rowid").all(id) as Rule[]);
    return { groupId: row.id, groupName: row.name, description: row.description, vpcId: row.vpc_id, ownerId: row.owner_id, rules, tags: this.tags.of(id) };
  }

  private inRegion(id: string, region: string): boolean {
    return this.db.prepare("select 1 from security_groups where id = ? and region = ?").get(id, region) !== undefined;
  }

  private vpc(caller: string, region: string, vpcId: string | undefined, op: string): string {
    const own = defaultVpc(caller, region).vpcId;
    if (vpcId !== undefined && vpcId !== own) throw new Ec2Error("InvalidVpcID.NotFound", `The vpc ID '${vpcId}' does not exist`, op);
    return own;
  }
}

function checkRule(r: Rule, group: (id: string) => unknown, op: string): Rule {
  const protocol = PROTOCOLS[String(r.protocol).toLowerCase()];
  if (!protocol) throw new Ec2Error("InvalidParameterValue", `Invalid value '${r.protocol}' for IP protocol. Unknown protocol.`, op);
  let { fromPort, toPort } = r;
  if (protocol === "-1") fromPort = toPort = -1;
  else if (protocol === "icmp") {
    if (!Number.isInteger(fromPort) || !Number.isInteger(toPort) || fromPort < -1 || fromPort > 255 || toPort < -1 || toPort > 255) throw new Ec2Error("InvalidParameterValue", "ICMP type and code must be -1 to 255.", op);
  } else {
    if (!Number.isInteger(fromPort) || !Number.isInteger(toPort)) throw new Ec2Error("MissingParameter", "The request must contain the parameter FromPort and ToPort for tcp and udp rules", op);
    if (fromPort < 0 || toPort > 65535 || fromPort > toPort) throw new Ec2Error("InvalidParameterValue", `Invalid port range ${fromPort}-${toPort}: ports are 0 to 65535 and FromPort <= ToPort.`, op);
  }
  const source = r.source;
  if (source.startsWith("sg-")) group(source);
  else if (!isCidr(source)) throw new Ec2Error("InvalidParameterValue", `Value (${source}) for parameter cidrIp is invalid. This is not a valid CIDR block.`, op);
  return { protocol, fromPort, toPort, source };
}

function sameRule(a: Rule, b: Rule): boolean {
  return a.protocol === b.protocol && a.fromPort === b.fromPort && a.toPort === b.toPort && a.source === b.source;
}

export function isCidr(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  return m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

/** Whether a CIDR contains an IPv4 address. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split("/") as [string, string];
  const n = (a: string) => a.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((n(base) & mask) >>> 0) === ((n(ip) & mask) >>> 0);
}

function newGroupId(): string {
  return `sg-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

function groupNotFound(id: string, op: string): Ec2Error {
  return new Ec2Error("InvalidGroup.NotFound", `The security group '${id}' does not exist`, op);
}

function nameNotFound(name: string, vpcId: string, op: string): Ec2Error {
  return new Ec2Error("InvalidGroup.NotFound", `The security group '${name}' does not exist in default VPC '${vpcId}'`, op);
}
