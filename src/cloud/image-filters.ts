import { Ec2Error } from "../errors.js";
import type { BlockDeviceMapping } from "./block-device-mappings.js";
import { wildcard } from "./filters.js";

/** DescribeImages filters on an image's own fields: the SQL expression (over `images i`) each compares. */
const FILTERS: Record<string, string> = {
  architecture: "i.architecture",
  "image-id": "i.id",
  name: "i.name",
  description: "i.description",
  "owner-id": "i.owner_id",
  "is-public": "(case i.is_public when 1 then 'true' else 'false' end)",
  "root-device-type": "i.root_device_type",
  "root-device-name": "i.root_device_name",
  "virtualization-type": "i.virtualization_type",
  state: "i.state",
  "image-type": "'machine'",
};

/** Filters on the block device mappings, matched on the rows SQL returns: each picks one value of every mapping. */
const MAPPING_FILTERS: Record<string, (m: BlockDeviceMapping) => string | undefined> = {
  "block-device-mapping.device-name": (m) => m.DeviceName,
  "block-device-mapping.snapshot-id": (m) => m.Ebs?.SnapshotId,
  "block-device-mapping.volume-size": (m) => m.Ebs?.VolumeSize?.toString(),
  "block-device-mapping.volume-type": (m) => m.Ebs?.VolumeType,
  "block-device-mapping.delete-on-termination": (m) => m.Ebs?.DeleteOnTermination?.toString(),
};

/** `expr` is one of the strings of a JSON array parameter. */
export const IN_LIST = (expr: string) => `${expr} in (select value from json_each(?))`;

/**
 * A filter matches when any of its values (`*` and `?` are wildcards, as in
 * EC2) matches any of the image's: a SQL condition for the image's fields and
 * tags (`tag:KEY`, `tag-key`), a predicate for its block device mappings.
 */
export function filterMatcher(f: { name: string; values: string[] }, op: string): { sql: string; params: string[] } | ((mappings: BlockDeviceMapping[]) => boolean) {
  if (f.name.startsWith("tag:")) {
    const value = matchesSql("t.value", f.values);
    return { sql: `exists (select 1 from tags t where t.resource_id = i.id and t.key = ? and ${value.sql})`, params: [f.name.slice(4), ...value.params] };
  }
  if (f.name === "tag-key") {
    const key = matchesSql("t.key", f.values);
    return { sql: `exists (select 1 from tags t where t.resource_id = i.id and ${key.sql})`, params: key.params };
  }
  if (Object.hasOwn(FILTERS, f.name)) return matchesSql(FILTERS[f.name]!, f.values);
  const field = Object.hasOwn(MAPPING_FILTERS, f.name) ? MAPPING_FILTERS[f.name] : undefined;
  if (!field) throw new Ec2Error("InvalidParameterValue", `The filter '${f.name}' is invalid`, op);
  const patterns = f.values.map(wildcard);
  return (mappings) => mappings.some((m) => {
    const v = field(m);
    return v !== undefined && patterns.some((p) => p.test(v));
  });
}

/**
 * `expr` matches one of the values: values without wildcards by equality,
 * the others with GLOB (case-sensitive, `*` any run, `?` one character, as
 * `wildcard`), where `[` is the only other special character. NULL matches nothing.
 */
function matchesSql(expr: string, values: string[]): { sql: string; params: string[] } {
  const exact = values.filter((v) => !/[*?]/.test(v));
  const globs = values.filter((v) => /[*?]/.test(v)).map((v) => v.replace(/\[/g, "[[]"));
  const terms = [...(exact.length > 0 ? [IN_LIST(expr)] : []), ...(globs.length > 0 ? [`exists (select 1 from json_each(?) where ${expr} glob value)`] : [])];
  const params = [...(exact.length > 0 ? [JSON.stringify(exact)] : []), ...(globs.length > 0 ? [JSON.stringify(globs)] : [])];
  return { sql: terms.length > 0 ? `(${terms.join(" or ")})` : "0", params };
}
