import path from "node:path";
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { Ec2Error } from "../errors.js";

/**
 * The bundle manifest (`PREFIX.manifest.xml`): its limits, its XML written
 * in the ec2-ami-tools 2007-10-10 layout, and its validation. Manifests come
 * from users, so parsing treats the text as hostile: every problem is an
 * InvalidManifest error that names it.
 */

/** ec2-ami-tools' part size. */
export const PART_SIZE = 10 * 1024 * 1024;
/** The largest image a manifest may describe: instance-store volumes live in memory. */
export const MAX_IMAGE_SIZE = 2 * 1024 * 1024 * 1024;
/** Enough parts for MAX_IMAGE_SIZE at PART_SIZE; more is a hostile manifest. */
export const MAX_PARTS = Math.ceil(MAX_IMAGE_SIZE / PART_SIZE);
/** A real manifest is a few KiB; refuse to read anything bigger than this. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

const MANIFEST_VERSION = "2007-10-10";
/** The bundler's name and the version of its bundle format (not the package's). */
const BUNDLER = { name: "amiboot", version: "1.0", release: "plain-sha256" };
export const ARCHITECTURES = ["i386", "x86_64", "arm64"] as const;

export interface BundleManifest {
  name: string;
  architecture: "i386" | "x86_64" | "arm64";
  size: number;
  /** SHA-256 (hex) of the whole image. */
  digest: string;
  parts: { index: number; filename: string; digest: string; size: number }[];
  blockDeviceMapping: { virtual: string; device: string }[];
  kernelId?: string;
  ramdiskId?: string;
}

export function buildManifestXml(m: BundleManifest): string {
  const digest = (hex: string) => ({ "@_algorithm": "SHA256", "#text": hex });
  const doc = {
    "?xml": { "@_version": "1.0", "@_encoding": "UTF-8" },
    manifest: {
      version: MANIFEST_VERSION,
      bundler: BUNDLER,
      machine_configuration: {
        architecture: m.architecture,
        block_device_mapping: { mapping: m.blockDeviceMapping },
        ...(m.kernelId ? { kernel_id: m.kernelId } : {}),
        ...(m.ramdiskId ? { ramdisk_id: m.ramdiskId } : {}),
      },
      image: {
        name: m.name,
        type: "machine",
        digest: digest(m.digest),
        size: m.size,
        // ec2-ami-tools records the encrypted size here; ours is the same bytes.
        bundled_size: m.size,
        parts: {
          "@_count": m.parts.length,
          // <size> per part is ours: ec2-ami-tools derives it from the part file.
          part: m.parts.map((p) => ({ "@_index": p.index, filename: p.filename, digest: digest(p.digest), size: p.size })),
        },
      },
    },
  };
  return new XMLBuilder({ ignoreAttributes: false, format: true }).build(doc);
}

/**
 * Validates a manifest's text (`manifestPath` names it in messages). A
 * manifest that comes back is internally consistent (indexes 0..N-1, part
 * sizes adding up to the image size, sizes within the limits, file names
 * that stay in the bucket).
 */
export function parseManifest(xml: string, manifestPath: string, op: string): BundleManifest {
  if (/<!DOCTYPE/i.test(xml)) throw invalidManifest(`${manifestPath} has a DOCTYPE; a bundle manifest has none`, op);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw invalidManifest(`${manifestPath} is not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`, op);
  }
  let doc: unknown;
  try {
    doc = new XMLParser({
      ignoreAttributes: false,
      parseTagValue: false,
      parseAttributeValue: false,
      isArray: (tag, _jPath, _leaf, isAttribute) => !isAttribute && (tag === "part" || tag === "mapping"),
    }).parse(xml);
  } catch (err) {
    throw invalidManifest(`${manifestPath} is not well-formed XML: ${(err as Error).message}`, op);
  }
  try {
    return validateManifest(doc);
  } catch (err) {
    if (err instanceof Problem) throw invalidManifest(`${manifestPath}: ${err.message}`, op);
    throw err;
  }
}

/** A validation failure inside validateManifest; readManifest adds the path and the code. */
class Problem extends Error {}

type Node = Record<string, unknown>;

function validateManifest(doc: unknown): BundleManifest {
  const root = child(asNode(doc, "the document"), "manifest", "");
  const version = text(root, "version", "manifest");
  if (version !== MANIFEST_VERSION) throw new Problem(`manifest version '${version}' is not ${MANIFEST_VERSION}`);

  const machine = child(root, "machine_configuration", "manifest");
  const architecture = text(machine, "architecture", "machine_configuration");
  if (!(ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new Problem(`architecture '${architecture}' is not one of ${ARCHITECTURES.join(", ")}`);
  }
  const blockDeviceMapping = mappings(machine);
  const kernelId = optionalId(machine, "kernel_id", "aki");
  const ramdiskId = optionalId(machine, "ramdisk_id", "ari");

  const image = child(root, "image", "manifest");
  const name = text(image, "name", "image");
  if (name.length > 255 || /[\u0000-\u001f]/.test(name)) throw new Problem("image/name is over 255 characters or has control characters");
  const type = text(image, "type", "image");
  if (type !== "machine") throw new Problem(`image/type '${type}' is not 'machine'; only machine images are bundled`);
  const digest = sha256(image, "image");
  const size = byteCount(image, "size", "image");
  if (size === 0) throw new Problem("image/size is 0; an image has at least one byte");
  if (size > MAX_IMAGE_SIZE) {
    throw new Problem(`image/size ${size} is over the ${MAX_IMAGE_SIZE} byte (2 GiB) limit for instance-store images`);
  }

  const partsNode = child(image, "parts", "image");
  const count = byteCount(partsNode, "@_count", "image/parts", "@count");
  if (count > MAX_PARTS) throw new Problem(`image/parts declares ${count} parts, more than the ${MAX_PARTS} a 2 GiB image needs`);
  const list = partsNode["part"];
  const partNodes = list === undefined ? [] : Array.isArray(list) ? list : [list];
  if (partNodes.length > MAX_PARTS) throw new Problem(`image/parts has ${partNodes.length} parts, more than ${MAX_PARTS}`);
  if (partNodes.length !== count) throw new Problem(`image/parts count="${count}" but there are ${partNodes.length} <part> elements`);
  if (count === 0) throw new Problem("image/parts is empty");

  const parts: BundleManifest["parts"] = [];
  const seenIndexes = new Set<number>();
  const seenNames = new Set<string>();
  let total = 0;
  for (const [position, raw] of partNodes.entries()) {
    const node = asNode(raw, `part ${position}`);
    const index = byteCount(node, "@_index", `part ${position}`, "@index");
    if (seenIndexes.has(index)) throw new Problem(`part index ${index} appears twice`);
    seenIndexes.add(index);
    if (index !== position) throw new Problem(`parts must be numbered 0..${count - 1} in order, but part ${position} has index ${index}`);
    const where = `part ${index}`;
    const filename = text(node, "filename", where);
    checkFileName(filename, where);
    if (seenNames.has(filename)) throw new Problem(`${where} reuses the file name '${filename}'`);
    seenNames.add(filename);
    const partSize = byteCount(node, "size", where);
    if (partSize === 0) throw new Problem(`${where} has size 0; parts are never empty`);
    total += partSize;
    if (total > size) throw new Problem(`the part sizes add up to more than image/size ${size}`);
    parts.push({ index, filename, digest: sha256(node, where), size: partSize });
  }
  if (total !== size) throw new Problem(`the part sizes add up to ${total} bytes, not image/size ${size}`);

  return {
    name,
    architecture: architecture as BundleManifest["architecture"],
    size,
    digest,
    parts,
    blockDeviceMapping,
    ...(kernelId ? { kernelId } : {}),
    ...(ramdiskId ? { ramdiskId } : {}),
  };
}

/** A part's file name must name a file in the manifest's own directory, nothing else. */
function checkFileName(name: string, where: string): void {
  if (name.includes("/") || name.includes("\\") || name.includes("..") || path.isAbsolute(name) || /^[A-Za-z]:/.test(name)) {
    throw new Problem(`${where} file name '${name}' escapes the bucket: it must be a plain file name`);
  }
  if (name === "." || name.length > 255 || /[\u0000-\u001f]/.test(name)) {
    throw new Problem(`${where} file name is not a usable file name`);
  }
}

/** block_device_mapping is optional, as in ec2-ami-tools; each mapping needs both halves. */
function mappings(machine: Node): BundleManifest["blockDeviceMapping"] {
  const bdm = machine["block_device_mapping"];
  if (bdm === undefined || bdm === "") return [];
  if (Array.isArray(bdm)) throw new Problem("machine_configuration/block_device_mapping appears more than once");
  const list = asNode(bdm, "block_device_mapping")["mapping"];
  const nodes = list === undefined ? [] : Array.isArray(list) ? list : [list];
  if (nodes.length > 64) throw new Problem(`block_device_mapping has ${nodes.length} mappings; 64 is the most accepted`);
  return nodes.map((raw, i) => {
    const node = asNode(raw, `mapping ${i}`);
    const virtual = text(node, "virtual", `block_device_mapping/mapping ${i}`);
    const device = text(node, "device", `block_device_mapping/mapping ${i}`);
    if (virtual.length > 64 || device.length > 64) throw new Problem(`block_device_mapping/mapping ${i} has an over-long name`);
    return { virtual, device };
  });
}

function optionalId(machine: Node, key: string, prefix: string): string | undefined {
  if (machine[key] === undefined) return undefined;
  const id = text(machine, key, "machine_configuration");
  if (!new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(id)) {
    throw new Problem(`machine_configuration/${key} '${id}' is not an ${prefix}- id`);
  }
  return id;
}

function sha256(node: Node, where: string): string {
  const value = node["digest"];
  if (value === undefined) throw new Problem(`${where}/digest is missing`);
  if (Array.isArray(value)) throw new Problem(`${where}/digest appears more than once`);
  const digest = asNode(value, `${where}/digest`);
  const algorithm = digest["@_algorithm"];
  if (typeof algorithm !== "string" || algorithm.toUpperCase() !== "SHA256") {
    throw new Problem(`${where}/digest must have algorithm="SHA256" (found ${algorithm === undefined ? "none" : `'${String(algorithm)}'`})`);
  }
  const hex = digest["#text"];
  if (typeof hex !== "string" || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new Problem(`${where}/digest is not a SHA-256 digest (64 hex digits)`);
  }
  return hex.toLowerCase();
}

/** A non-negative whole number (a size, count or index) no bigger than a double holds exactly. */
function byteCount(node: Node, key: string, where: string, label = key): number {
  const value = text(node, key, where, label);
  if (!/^[0-9]{1,15}$/.test(value)) throw new Problem(`${where}/${label} '${value}' is not a whole number (digits only, at most 15)`);
  return Number(value);
}

/** The text of a leaf element (or attribute, labelled `@name`) that must appear exactly once. */
function text(node: Node, key: string, where: string, label = key): string {
  const at = where ? `${where}/${label}` : label;
  if (!Object.hasOwn(node, key)) throw new Problem(`${at} is missing`);
  const value = node[key];
  if (Array.isArray(value)) throw new Problem(`${at} appears more than once`);
  if (typeof value !== "string") throw new Problem(`${at} is not plain text`);
  const trimmed = value.trim();
  if (trimmed === "") throw new Problem(`${at} is empty`);
  return trimmed;
}

function child(node: Node, key: string, where: string): Node {
  const at = where ? `${where}/${key}` : key;
  if (!Object.hasOwn(node, key)) throw new Problem(where ? `${at} is missing` : `there is no <${key}> root element`);
  const value = node[key];
  if (Array.isArray(value)) throw new Problem(`${at} appears more than once`);
  return asNode(value, at);
}

function asNode(value: unknown, what: string): Node {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Problem(`${what} is not an element with children`);
  return value as Node;
}

export function invalidManifest(message: string, op: string): Ec2Error {
  return new Ec2Error("InvalidManifest", message, op);
}
