/**
 * The instance metadata tree, as EC2's metadata service shows it to a guest:
 * a pure function of the instance's facts (no clock, no database, no I/O),
 * and the resolution of a request path against it. Served by `imds.ts`.
 *
 * Facts checked against EC2's "Instance metadata categories" and "Retrieve
 * instance metadata" pages: the version list is the one EC2 prints for
 * `curl http://169.254.169.254/`; `/latest/` lists `dynamic`, `meta-data` and
 * `user-data` (the last only when there is some) without slashes, while the
 * listings under them end directories with `/`; `public-keys/` lists
 * `0=NAME`; a missing path is a 404 with EC2's HTML page.
 */

/** What the metadata service knows about one instance; the control plane fills it. */
export interface InstanceFacts {
  accountId: string;
  region: string;
  availabilityZone: string;
  imageId: string;
  instanceId: string;
  instanceType: string;
  architecture: "i386" | "x86_64" | "arm64";
  /** The instance's position in its RunInstances call, from 0. */
  launchIndex: number;
  /** ISO 8601, when the instance entered `pending` (the identity document's pendingTime). */
  pendingTime: string;
  reservationId: string;
  /** Private DNS name (`ip-10-0-0-5.ec2.internal`): `hostname` and `local-hostname`. */
  hostname: string;
  privateIp: string;
  publicIp?: string;
  publicHostname?: string;
  /** The NIC's MAC, lowercase `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  interfaceId: string;
  subnetId: string;
  subnetCidr: string;
  vpcId: string;
  vpcCidr: string;
  securityGroups: readonly { id: string; name: string }[];
  /** The launch's key pair (`KeyName`), in OpenSSH's one-line public form. */
  publicKey?: { name: string; openssh: string };
  /**
   * Device names by EC2's virtual names, shown as given: `ami` and `root` (the
   * root device; EC2 shows `sda1` and `/dev/sda1`), `ebs1`…, `ephemeral0`… (`sdb`).
   */
  blockDevices: Readonly<Record<string, string>>;
  /** PV images: the aki-/ari- of the image, when it names them. */
  kernelId?: string;
  ramdiskId?: string;
  /** `bucket/prefix/image.manifest.xml` for instance-store images. */
  manifestPath?: string;
  virtualization: "hvm" | "paravirtual";
  /** The launch's UserData, decoded from base64; absent when none was given. */
  userData?: Uint8Array;
}

/** A value, or a directory of named children (with EC2's own listing where it differs). */
export type MetadataNode = string | Uint8Array | MetadataDir;
export interface MetadataDir {
  readonly entries: Readonly<Record<string, MetadataNode>>;
  /** The listing text when it is not the entry names (`public-keys/`: `0=name`). */
  readonly listing?: string;
}

/** The versions EC2 lists at `/`, oldest first, then `latest`; all serve the same tree here. */
export const METADATA_VERSIONS: readonly string[] = [
  "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01", "2008-09-01",
  "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20",
  "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24", "2019-10-01",
  "2020-10-27", "2021-01-03", "2021-03-23", "latest",
];

/** What a path resolves to: a body and its content type, or EC2's 404. */
export type MetadataAnswer =
  | { status: 200; contentType: string; body: string | Uint8Array }
  | { status: 404; contentType: string; body: string };

const TEXT = "text/plain";

const dir = (entries: Record<string, MetadataNode>, listing?: string): MetadataDir =>
  listing === undefined ? { entries } : { entries, listing };

/** `meta-data/` and `dynamic/` of one instance. */
export function metadataTree(facts: InstanceFacts): { metaData: MetadataDir; dynamic: MetadataDir } {
  const groupNames = facts.securityGroups.map((g) => g.name).join("\n");
  const optional = (key: string, value: string | undefined): Record<string, string> => (value === undefined ? {} : { [key]: value });
  const iface = dir({
    "device-number": "0",
    "interface-id": facts.interfaceId,
    "local-hostname": facts.hostname,
    "local-ipv4s": facts.privateIp,
    mac: facts.mac,
    "owner-id": facts.accountId,
    ...optional("public-hostname", facts.publicHostname),
    ...optional("public-ipv4s", facts.publicIp),
    "security-group-ids": facts.securityGroups.map((g) => g.id).join("\n"),
    "security-groups": groupNames,
    "subnet-id": facts.subnetId,
    "subnet-ipv4-cidr-block": facts.subnetCidr,
    "vpc-id": facts.vpcId,
    "vpc-ipv4-cidr-block": facts.vpcCidr,
    "vpc-ipv4-cidr-blocks": facts.vpcCidr,
  });
  const metaData = dir({
    "ami-id": facts.imageId,
    "ami-launch-index": String(facts.launchIndex),
    "ami-manifest-path": facts.manifestPath ?? "(unknown)",
    "block-device-mapping": dir({ ...facts.blockDevices }),
    hostname: facts.hostname,
    "instance-action": "none",
    "instance-id": facts.instanceId,
    "instance-life-cycle": "on-demand",
    "instance-type": facts.instanceType,
    ...optional("kernel-id", facts.kernelId),
    "local-hostname": facts.hostname,
    "local-ipv4": facts.privateIp,
    mac: facts.mac,
    network: dir({ interfaces: dir({ macs: dir({ [facts.mac]: iface }) }) }),
    placement: dir({ "availability-zone": facts.availabilityZone, region: facts.region }),
    profile: facts.virtualization === "hvm" ? "default-hvm" : "default-paravirtual",
    ...optional("public-hostname", facts.publicHostname),
    ...optional("public-ipv4", facts.publicIp),
    ...(facts.publicKey
      ? { "public-keys": dir({ "0": dir({ "openssh-key": facts.publicKey.openssh }) }, `0=${facts.publicKey.name}`) }
      : {}),
    ...optional("ramdisk-id", facts.ramdiskId),
    "reservation-id": facts.reservationId,
    "security-groups": groupNames,
    services: dir({ domain: "amazonaws.com", partition: "aws" }),
  });
  // No pkcs7/signature/rsa2048: amiboot holds no AWS signing key, and a fake signature would mislead.
  const dynamic = dir({ "instance-identity": dir({ document: identityDocument(facts) }) });
  return { metaData, dynamic };
}

/** `dynamic/instance-identity/document`: EC2's JSON, in EC2's layout (`"key" : value`, two-space indent). */
export function identityDocument(facts: InstanceFacts): string {
  const fields: [string, unknown][] = [
    ["accountId", facts.accountId],
    ["architecture", facts.architecture],
    ["availabilityZone", facts.availabilityZone],
    ["billingProducts", null],
    ["devpayProductCodes", null],
    ["marketplaceProductCodes", null],
    ["imageId", facts.imageId],
    ["instanceId", facts.instanceId],
    ["instanceType", facts.instanceType],
    ["kernelId", facts.kernelId ?? null],
    ["pendingTime", facts.pendingTime],
    ["privateIp", facts.privateIp],
    ["ramdiskId", facts.ramdiskId ?? null],
    ["region", facts.region],
    ["version", "2017-09-30"],
  ];
  return `{\n${fields.map(([k, v]) => `  ${JSON.stringify(k)} : ${JSON.stringify(v)}`).join(",\n")}\n}`;
}

/** EC2's 404 (and other error) page: XHTML, `text/html`. */
export function errorPage(status: number, reason: string): string {
  const title = `${status} - ${reason}`;
  return (
    `<?xml version="1.0" encoding="iso-8859-1"?>\n` +
    `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n` +
    `\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n` +
    `<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n` +
    ` <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n </body>\n</html>\n`
  );
}

const NOT_FOUND: MetadataAnswer = { status: 404, contentType: "text/html", body: errorPage(404, "Not Found") };

function listing(node: MetadataDir): string {
  if (node.listing !== undefined) return node.listing;
  return Object.entries(node.entries)
    .map(([name, child]) => (isDir(child) ? `${name}/` : name))
    .join("\n");
}

function isDir(node: MetadataNode): node is MetadataDir {
  return typeof node === "object" && !(node instanceof Uint8Array);
}

/**
 * Resolves a request path (`/latest/meta-data/instance-id`, with or without
 * a trailing slash, any query string ignored) against one instance's tree.
 * The token path `/latest/api/token` is the server's, not the tree's.
 */
export function resolveMetadata(
  facts: InstanceFacts,
  path: string,
  tree: ReturnType<typeof metadataTree> = metadataTree(facts),
): MetadataAnswer {
  const segments = path.split("?")[0]!.split("/").filter((s) => s !== "");
  if (segments.length === 0) return { status: 200, contentType: TEXT, body: METADATA_VERSIONS.join("\n") };
  const [version, category, ...rest] = segments as [string, ...string[]];
  if (!METADATA_VERSIONS.includes(version)) return NOT_FOUND;
  if (category === undefined) {
    const top = ["dynamic", "meta-data", ...(facts.userData ? ["user-data"] : [])];
    return { status: 200, contentType: TEXT, body: top.join("\n") };
  }
  if (category === "user-data") {
    if (!facts.userData || rest.length > 0) return NOT_FOUND;
    return { status: 200, contentType: "application/octet-stream", body: facts.userData };
  }
  let node: MetadataNode | undefined =
    category === "meta-data" ? tree.metaData : category === "dynamic" ? tree.dynamic : undefined;
  for (const name of rest) {
    if (node === undefined || !isDir(node) || !Object.hasOwn(node.entries, name)) return NOT_FOUND;
    node = node.entries[name];
  }
  if (node === undefined) return NOT_FOUND;
  return { status: 200, contentType: TEXT, body: isDir(node) ? listing(node) : node };
}
