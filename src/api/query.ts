import { Ec2Error } from "../errors.js";
import { VOLUME_TYPES, type BlockDeviceMapping, type EbsSpec, type VolumeType } from "../cloud/block-device-mappings.js";

/**
 * Parameters of an EC2 Query API request (a form-encoded body or a query
 * string), already decoded. Lists and structures are flattened the EC2 way:
 * `ImageId.1`, `ImageId.2`, ... and `BlockDeviceMapping.1.Ebs.VolumeSize`,
 * `Filter.1.Value.2`; indexes count from 1 and EC2 orders items by them, so
 * gaps are allowed.
 *
 * Everything a client controls is bounded before it is used, and anything out
 * of bounds or malformed is an InvalidParameterValue, never a crash:
 * - a list has at most {@link MAX_LIST_ITEMS} items (nested lists likewise);
 * - an index is a whole number from 1 to 999999 (at most 6 digits, no leading zero);
 * - a parameter name under a list is at most {@link MAX_KEY_LENGTH} characters
 *   and at most {@link MAX_DEPTH} dot-separated parts after the list's name;
 * - filters carry at most {@link MAX_FILTER_VALUES} values in all, each at most
 *   {@link MAX_FILTER_VALUE_LENGTH} characters (EC2's FilterLimitExceeded).
 * The request's body is bounded before this (`body.ts`: 413 past 1 MiB).
 *
 * Choices where EC2 leaves room:
 * - A parameter given twice (`ImageId.1=a&ImageId.1=b`) is refused rather than
 *   one value silently winning.
 * - Names under a list must be EC2-style words (`[A-Za-z][A-Za-z0-9]*`).
 * - An unnumbered `ImageId=x` is not part of the list `ImageId.N` and is ignored
 *   by {@link listParam} (EC2 would call it an unknown parameter).
 * - Integers are 32-bit signed, written in decimal with an optional sign.
 * - Errors name the parameter as the client sent it (`BlockDeviceMapping.1.Ebs.VolumeSize`).
 */
export type QueryParams = URLSearchParams;

export const MAX_LIST_ITEMS = 1000;
export const MAX_KEY_LENGTH = 256;
/** Parts after the list's name: `Filter.1.Value.2` has 3 (`1`, `Value`, `2`). */
export const MAX_DEPTH = 8;
export const MAX_INDEX = 999_999;
/** EC2's own caps on Describe* filters, answered with its FilterLimitExceeded and its messages: values in one call, and one value's length. */
export const MAX_FILTER_VALUES = 200;
export const MAX_FILTER_VALUE_LENGTH = 255;

const DEFAULT_OP = "api.request";
const INDEX = /^[1-9]\d{0,5}$/;
const NAME = /^[A-Za-z][A-Za-z0-9]*$/;
const INTEGER = /^[+-]?\d{1,20}$/;
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

export interface ParamOptions {
  /** Refuse the request with MissingParameter when the parameter is absent. */
  required?: boolean;
  /** The operation reported on errors. Default "api.request". */
  op?: string;
}

/** A single-valued parameter; undefined when absent. An empty value is present: "". */
export function stringParam(p: QueryParams, name: string, opts: ParamOptions = {}): string | undefined {
  const op = opts.op ?? DEFAULT_OP;
  const values = p.getAll(name);
  if (values.length > 1) throw invalid(`The parameter ${show(name)} is given more than once`, op);
  const value = values[0];
  if (value === undefined && opts.required) throw missing(name, op);
  return value;
}

/**
 * An optional resource reference (`VpcId`, `SubnetId`, `KeyName`, a zone):
 * an empty value is the same as none, as EC2 takes it. The AWS SDK for Go v1
 * sends `VpcId=` for an unset string it was given a pointer to (Packer does).
 */
export function refParam(p: QueryParams, name: string, op = DEFAULT_OP): string | undefined {
  return stringParam(p, name, { op }) || undefined;
}

/** A 32-bit signed integer parameter (`MaxResults=10`). */
export function intParam(p: QueryParams, name: string, opts: ParamOptions = {}): number | undefined {
  const value = stringParam(p, name, opts);
  return value === undefined ? undefined : parseInteger(value, name, "Expected an integer.", opts.op ?? DEFAULT_OP);
}

/** A boolean parameter: exactly `true` or `false`, as the SDKs send them. */
export function boolParam(p: QueryParams, name: string, opts: ParamOptions = {}): boolean | undefined {
  const value = stringParam(p, name, opts);
  return value === undefined ? undefined : parseBoolean(value, name, opts.op ?? DEFAULT_OP);
}

/** A list of strings, `Prefix.1`, `Prefix.2`, ..., in the order of their indexes; [] when absent. */
export function listParam(p: QueryParams, prefix: string, op = DEFAULT_OP): string[] {
  const list = parseList(p, prefix, op);
  return [...list.items.entries()].sort(byIndex).map(([i, node]) => {
    if (node.kind !== "leaf") throw invalid(`The parameter ${show(`${prefix}.${i}`)} must be a single value, not a structure or list`, op);
    return node.value;
  });
}

/**
 * A list of structures, `Prefix.N.Field...`, in the order of N; values stay
 * strings. Dotted names nest (`Ebs.VolumeSize` -> `{ Ebs: { VolumeSize } }`)
 * and numbered names are lists (`Value.1`, `Value.2` -> `{ Value: [..] }`).
 */
export function structList(p: QueryParams, prefix: string, op = DEFAULT_OP): Record<string, unknown>[] {
  const list = parseList(p, prefix, op);
  return [...list.items.entries()].sort(byIndex).map(([i, node]) => {
    if (node.kind !== "struct") throw invalid(`The parameter ${show(`${prefix}.${i}`)} must be a structure (${show(`${prefix}.${i}.Name`)}), not a single value or list`, op);
    return toPlain(node) as Record<string, unknown>;
  });
}

/**
 * Describe* filters: `Filter.N.Name` and `Filter.N.Value.M`. A filter without
 * values is allowed (EC2 reads it as "has any value"); one without a name is
 * EC2's "The filter 'null' is invalid".
 */
export function filters(p: QueryParams, op = DEFAULT_OP): { name: string; values: string[] }[] {
  if (p.has("Filter")) throw invalid("The filter 'null' is invalid", op);
  const list = parseList(p, "Filter", op);
  const all = [...list.items.entries()].sort(byIndex).map(([i, node]) => {
    const at = `Filter.${i}`;
    const fields = structFields(node, at, op);
    onlyFields(fields, at, ["Name", "Value"], op);
    const name = fields.get("Name");
    if (name === undefined) throw invalid("The filter 'null' is invalid", op);
    return { name: leaf(name, `${at}.Name`, op), values: stringList(fields.get("Value"), `${at}.Value`, op) };
  });
  const values = all.flatMap((f) => f.values);
  if (values.length > MAX_FILTER_VALUES) throw new Ec2Error("FilterLimitExceeded", `The maximum number of filter values specified on a single call is ${MAX_FILTER_VALUES}`, op);
  if (values.some((v) => v.length > MAX_FILTER_VALUE_LENGTH)) throw new Ec2Error("FilterLimitExceeded", `The maximum length for a filter value is ${MAX_FILTER_VALUE_LENGTH} characters`, op);
  return all;
}

/**
 * Block device mappings (RegisterImage's and RunInstances' `BlockDeviceMapping.N`)
 * in mapping.ts's shape, with numbers and booleans converted. Only the syntax of
 * each value is checked here; the mapping rules (device names, one of Ebs /
 * VirtualName / NoDevice, snapshot ids, ...) are validateMappings'. A missing
 * DeviceName becomes "", which validateMappings refuses as "Missing device name".
 */
export function blockDeviceMappings(p: QueryParams, prefix = "BlockDeviceMapping", op = DEFAULT_OP): BlockDeviceMapping[] {
  const list = parseList(p, prefix, op);
  return [...list.items.entries()].sort(byIndex).map(([i, node]) => {
    const at = `${prefix}.${i}`;
    const fields = structFields(node, at, op);
    onlyFields(fields, at, ["DeviceName", "VirtualName", "NoDevice", "Ebs"], op);
    const get = (name: string): string | undefined => {
      const n = fields.get(name);
      return n === undefined ? undefined : leaf(n, `${at}.${name}`, op);
    };
    const mapping: BlockDeviceMapping = { DeviceName: get("DeviceName") ?? "" };
    const virtualName = get("VirtualName");
    if (virtualName !== undefined) mapping.VirtualName = virtualName;
    const noDevice = get("NoDevice");
    if (noDevice !== undefined) mapping.NoDevice = noDevice;
    const ebs = fields.get("Ebs");
    if (ebs !== undefined) mapping.Ebs = ebsSpec(ebs, `${at}.Ebs`, op);
    return mapping;
  });
}

/** `TagSpecification.N.ResourceType` and `TagSpecification.N.Tag.M.Key` / `.Value` (a missing Value is ""). */
export function tagSpecifications(p: QueryParams, op = DEFAULT_OP): { resourceType: string; tags: { key: string; value: string }[] }[] {
  const list = parseList(p, "TagSpecification", op);
  return [...list.items.entries()].sort(byIndex).map(([i, node]) => {
    const at = `TagSpecification.${i}`;
    const fields = structFields(node, at, op);
    onlyFields(fields, at, ["ResourceType", "Tag"], op);
    const resourceType = fields.get("ResourceType");
    if (resourceType === undefined) throw missing(`${at}.ResourceType`, op);
    const tags = fields.get("Tag");
    let tagList: { key: string; value: string }[] = [];
    if (tags !== undefined) {
      if (tags.kind !== "list") throw invalid(`The parameter ${show(`${at}.Tag`)} must be a list (${show(`${at}.Tag.1.Key`)})`, op);
      tagList = [...tags.items.entries()].sort(byIndex).map(([j, tagNode]) => {
        const tagAt = `${at}.Tag.${j}`;
        const tag = structFields(tagNode, tagAt, op);
        onlyFields(tag, tagAt, ["Key", "Value"], op);
        const key = tag.get("Key");
        if (key === undefined) throw missing(`${tagAt}.Key`, op);
        const value = tag.get("Value");
        return { key: leaf(key, `${tagAt}.Key`, op), value: value === undefined ? "" : leaf(value, `${tagAt}.Value`, op) };
      });
    }
    return { resourceType: leaf(resourceType, `${at}.ResourceType`, op), tags: tagList };
  });
}

// ---------------------------------------------------------------------------
// The tree of one flattened list.

type Node = Leaf | Struct | List;
interface Leaf {
  kind: "leaf";
  value: string;
}
interface Struct {
  kind: "struct";
  fields: Map<string, Node>;
}
interface List {
  kind: "list";
  items: Map<number, Node>;
}

/** Every `prefix.…` parameter as one tree rooted at a list; an empty list when there are none. */
function parseList(p: QueryParams, prefix: string, op: string): List {
  const root: List = { kind: "list", items: new Map() };
  const start = `${prefix}.`;
  for (const [key, value] of p) {
    if (!key.startsWith(start)) continue;
    if (key.length > MAX_KEY_LENGTH) {
      throw invalid(`The parameter name ${show(key)} is longer than ${MAX_KEY_LENGTH} characters`, op);
    }
    const parts = key.slice(start.length).split(".");
    if (parts.length > MAX_DEPTH) throw invalid(`The parameter ${show(key)} nests more than ${MAX_DEPTH} levels deep`, op);
    insert(root, parts, value, key, prefix, op);
  }
  return root;
}

function insert(root: List, parts: string[], value: string, key: string, prefix: string, op: string): void {
  let container: List | Struct = root;
  let path = prefix; // the container's name, for messages
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const next = parts[i + 1];
    const existing = childOf(container, part, key, path, op);
    const childPath = `${path}.${part}`;
    if (next === undefined) {
      if (existing !== undefined) {
        throw existing.kind === "leaf" ? invalid(`The parameter ${show(key)} is given more than once`, op) : conflict(key, childPath, op);
      }
      addChild(container, part, { kind: "leaf", value }, path, op);
      return;
    }
    const wantList = isIndex(next);
    let child = existing;
    if (child === undefined) {
      child = wantList ? { kind: "list", items: new Map() } : { kind: "struct", fields: new Map() };
      addChild(container, part, child, path, op);
    } else if (child.kind === "leaf" || (child.kind === "list") !== wantList) {
      throw conflict(key, childPath, op);
    }
    container = child;
    path = childPath;
  }
}

/** The container's child named by `part`, after checking that `part` is an index (lists) or a name (structures). */
function childOf(container: List | Struct, part: string, key: string, path: string, op: string): Node | undefined {
  if (container.kind === "list") {
    if (!INDEX.test(part)) {
      throw invalid(`The parameter ${show(key)} has an invalid index ${show(part)} after ${show(path)}; indexes are whole numbers from 1 to ${MAX_INDEX}`, op);
    }
    return container.items.get(Number(part));
  }
  if (!NAME.test(part)) throw invalid(`The parameter name ${show(key)} is malformed after ${show(path)}`, op);
  return container.fields.get(part);
}

function addChild(container: List | Struct, part: string, child: Node, path: string, op: string): void {
  if (container.kind === "list") {
    if (container.items.size >= MAX_LIST_ITEMS) throw invalid(`The list ${show(path)} has more than ${MAX_LIST_ITEMS} items`, op);
    container.items.set(Number(part), child);
  } else {
    container.fields.set(part, child);
  }
}

/** Digits only: meant as an index (validated as one when used). */
function isIndex(part: string): boolean {
  return part.length > 0 && /^\d+$/.test(part);
}

function conflict(key: string, path: string, op: string): Ec2Error {
  return invalid(`The parameter ${show(key)} conflicts with another parameter for ${show(path)}: a name is a single value, a structure or a numbered list, not more than one`, op);
}

function toPlain(node: Node): unknown {
  switch (node.kind) {
    case "leaf":
      return node.value;
    case "list":
      return [...node.items.entries()].sort(byIndex).map(([, n]) => toPlain(n));
    case "struct":
      // fromEntries defines own properties, so no name can reach a prototype.
      return Object.fromEntries([...node.fields.entries()].map(([k, n]) => [k, toPlain(n)]));
  }
}

function byIndex(a: [number, unknown], b: [number, unknown]): number {
  return a[0] - b[0];
}

function structFields(node: Node, at: string, op: string): Map<string, Node> {
  if (node.kind !== "struct") throw invalid(`The parameter ${show(at)} must be a structure, not a single value or list`, op);
  return node.fields;
}

function onlyFields(fields: Map<string, Node>, at: string, known: readonly string[], op: string): void {
  for (const name of fields.keys()) {
    if (!known.includes(name)) throw new Ec2Error("UnknownParameter", `The parameter ${show(`${at}.${name}`)} is not recognized`, op);
  }
}

function leaf(node: Node, at: string, op: string): string {
  if (node.kind !== "leaf") throw invalid(`The parameter ${show(at)} must be a single value, not a structure or list`, op);
  return node.value;
}

function stringList(node: Node | undefined, at: string, op: string): string[] {
  if (node === undefined) return [];
  if (node.kind !== "list") throw invalid(`The parameter ${show(at)} must be a numbered list (${show(`${at}.1`)})`, op);
  return [...node.items.entries()].sort(byIndex).map(([j, n]) => leaf(n, `${at}.${j}`, op));
}

function ebsSpec(node: Node, at: string, op: string): EbsSpec {
  const fields = structFields(node, at, op);
  onlyFields(fields, at, ["SnapshotId", "VolumeSize", "VolumeType", "Iops", "DeleteOnTermination", "Encrypted"], op);
  const get = (name: string): string | undefined => {
    const n = fields.get(name);
    return n === undefined ? undefined : leaf(n, `${at}.${name}`, op);
  };
  const ebs: EbsSpec = {};
  const snapshotId = get("SnapshotId");
  if (snapshotId !== undefined) ebs.SnapshotId = snapshotId;
  const size = get("VolumeSize");
  if (size !== undefined) ebs.VolumeSize = parseInteger(size, `${at}.VolumeSize`, "Expected a whole number of GiB.", op);
  const type = get("VolumeType");
  if (type !== undefined) {
    if (!(VOLUME_TYPES as readonly string[]).includes(type)) {
      throw invalidValue(type, `${at}.VolumeType`, `Valid values: ${VOLUME_TYPES.join(", ")}.`, op);
    }
    ebs.VolumeType = type as VolumeType;
  }
  const iops = get("Iops");
  if (iops !== undefined) ebs.Iops = parseInteger(iops, `${at}.Iops`, "Expected a whole number.", op);
  const dot = get("DeleteOnTermination");
  if (dot !== undefined) ebs.DeleteOnTermination = parseBoolean(dot, `${at}.DeleteOnTermination`, op);
  const encrypted = get("Encrypted");
  if (encrypted !== undefined) ebs.Encrypted = parseBoolean(encrypted, `${at}.Encrypted`, op);
  return ebs;
}

// ---------------------------------------------------------------------------
// Values and errors.

function parseInteger(value: string, name: string, why: string, op: string): number {
  const n = INTEGER.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < INT32_MIN || n > INT32_MAX) throw invalidValue(value, name, why, op);
  return n === 0 ? 0 : n; // "-0" is 0
}

export function parseBoolean(value: string, name: string, op: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw invalidValue(value, name, "Expected true or false.", op);
}

function missing(name: string, op: string): Ec2Error {
  return new Ec2Error("MissingParameter", `The request must contain the parameter ${show(name)}`, op);
}

function invalid(message: string, op: string): Ec2Error {
  return new Ec2Error("InvalidParameterValue", message, op);
}

/** EC2's wording for a bad value, as in mapping.ts: "Value (x) for parameter p is invalid. Why." */
function invalidValue(value: string, name: string, why: string, op: string): Ec2Error {
  return invalid(`Value (${show(value)}) for parameter ${show(name)} is invalid. ${why}`, op);
}

const SHOW_MAX = 64;

/** A client's string in a message: at most 64 characters, so a huge name or value is not echoed back whole. */
function show(s: string): string {
  return s.length > SHOW_MAX ? `${s.slice(0, SHOW_MAX)}...` : s;
}

/** A permission grant as ModifyImageAttribute and ModifySnapshotAttribute take it: an account, or the group `all`. */
export interface Grant {
  userId?: string;
  group?: string;
}

/**
 * The grants a Modify*Attribute call adds and removes: `PREFIX.Add.N.UserId`
 * / `.Group` and `PREFIX.Remove.N…`, or the older form, `OperationType` with
 * `UserId.N` and `GROUPS.N` (`UserGroup` for images, `GroupName` for snapshots).
 */
export function grantChanges(p: QueryParams, prefix: string, groups: string, op = DEFAULT_OP): { add: Grant[]; remove: Grant[] } {
  const grants = (at: string): Grant[] => structList(p, at, op).map((g) => ({ userId: g.UserId as string | undefined, group: g.Group as string | undefined }));
  const legacy: Grant[] = [...listParam(p, "UserId", op).map((userId) => ({ userId })), ...listParam(p, groups, op).map((group) => ({ group }))];
  const operation = stringParam(p, "OperationType", { op });
  return {
    add: [...grants(`${prefix}.Add`), ...(operation === "add" ? legacy : [])],
    remove: [...grants(`${prefix}.Remove`), ...(operation === "remove" ? legacy : [])],
  };
}

/** What every paged Describe* action takes besides its ids: `Filter.N`, `MaxResults` and `NextToken`. */
export function pageParams(p: QueryParams, op = DEFAULT_OP): { filters: { name: string; values: string[] }[]; maxResults?: number; nextToken?: string } {
  const maxResults = intParam(p, "MaxResults", { op });
  const nextToken = stringParam(p, "NextToken", { op });
  return { filters: filters(p, op), ...(maxResults !== undefined ? { maxResults } : {}), ...(nextToken !== undefined ? { nextToken } : {}) };
}
