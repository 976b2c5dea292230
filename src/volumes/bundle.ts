import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { writeAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";

/**
 * Instance-store bundles: an image split into parts beside an
 * `image.manifest.xml`, as ec2-bundle-image lays them out. The manifest
 * follows the ec2-ami-tools 2007-10-10 layout, but real bundles are tarred,
 * gzipped, AES-encrypted and signed; ours are the plain image cut into parts,
 * with a SHA-256 digest per part and for the whole image. Nothing here is
 * secret, so there is nothing to encrypt; the digests are what a launch checks.
 */

/** ec2-ami-tools' part size. */
export const PART_SIZE = 10 * 1024 * 1024;
/** The largest image a manifest may describe: instance-store volumes live in memory. */
export const MAX_IMAGE_SIZE = 2 * 1024 * 1024 * 1024;
/** Enough parts for MAX_IMAGE_SIZE at PART_SIZE; more is a hostile manifest. */
export const MAX_PARTS = Math.ceil(MAX_IMAGE_SIZE / PART_SIZE);
/** A real manifest is a few KiB; refuse to read anything bigger than this. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

const MANIFEST_VERSION = "2007-10-10";
/** The bundler's name and the version of its bundle format (not the package's). */
const BUNDLER = { name: "amiboot", version: "1.0", release: "plain-sha256" };
const ARCHITECTURES = ["i386", "x86_64", "arm64"] as const;
/** The mappings ec2-bundle-image writes by default. */
const DEFAULT_MAPPINGS = [
  { virtual: "ami", device: "sda1" },
  { virtual: "root", device: "/dev/sda1" },
  { virtual: "ephemeral0", device: "sdb" },
];
/** Read and write in 1 MiB steps so a large image is never held in memory by createBundle. */
const CHUNK = 1024 * 1024;
/** Opening a part must not follow a symlink or block on a FIFO (constants are absent on Windows). */
const OPEN_READ = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

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

type Progress = (doneBytes: number, totalBytes: number) => void;

// ---------------------------------------------------------------------------
// Writing

/**
 * Cuts the image at `imagePath` into `<bucket>/<prefix>.part.N` and writes
 * `<bucket>/<prefix>.manifest.xml`, the location a user registers. The image
 * is streamed; every file is written under a temporary name, synced and then
 * renamed, and the manifest goes last, so a crash never leaves a manifest
 * that points to missing or half-written parts.
 */
export function createBundle(
  imagePath: string,
  options: { bucket: string; prefix: string; architecture?: "i386" | "x86_64" | "arm64"; onProgress?: Progress },
): { manifestPath: string; manifest: BundleManifest } {
  const op = "createBundle";
  const { bucket, prefix } = options;
  // v86 emulates a 32-bit CPU, so the images amiboot boots are i386 unless told otherwise.
  const architecture = options.architecture ?? "i386";
  if (!bucket) throw invalidParameter("the bucket (a directory) must not be empty", op);
  if (!isSafeName(prefix)) {
    throw invalidParameter(`prefix '${prefix}' must be 1-128 of A-Z a-z 0-9 . _ - (no '..'), starting with a letter, digit or '_'`, op);
  }
  if (!(ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw invalidParameter(`architecture '${architecture}' is not one of ${ARCHITECTURES.join(", ")}`, op);
  }

  const image = openImage(imagePath, op);
  try {
    const size = image.size;
    try {
      fs.mkdirSync(bucket, { recursive: true });
    } catch (err) {
      throw invalidParameter(`cannot use '${bucket}' as the bucket directory: ${(err as Error).message}`, op);
    }
    const manifestPath = path.join(bucket, `${prefix}.manifest.xml`);
    // An older bundle under this prefix loses its manifest first: its parts are about to change.
    removeIfPresent(manifestPath);

    const whole = createHash("sha256");
    const parts: BundleManifest["parts"] = [];
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size));
    let done = 0;
    for (let index = 0; done < size; index++) {
      const partSize = Math.min(PART_SIZE, size - done);
      const partHash = createHash("sha256");
      const filename = `${prefix}.part.${index}`;
      writeAtomically(path.join(bucket, filename), (fd) => {
        for (let left = partSize; left > 0; ) {
          const want = Math.min(buf.length, left);
          readFully(image.fd, buf, want, done, () => invalidParameter(`image '${imagePath}' shrank while it was being bundled`, op));
          const chunk = buf.subarray(0, want);
          whole.update(chunk);
          partHash.update(chunk);
          writeFully(fd, chunk);
          left -= want;
          done += want;
          options.onProgress?.(done, size);
        }
      });
      parts.push({ index, filename, digest: partHash.digest("hex"), size: partSize });
    }

    const manifest: BundleManifest = {
      name: prefix,
      architecture,
      size,
      digest: whole.digest("hex"),
      parts,
      blockDeviceMapping: DEFAULT_MAPPINGS.map((m) => ({ ...m })),
    };
    const xml = buildManifestXml(manifest);
    writeAtomically(manifestPath, (fd) => writeFully(fd, Buffer.from(xml, "utf8")));
    syncDirectory(bucket);
    removeStaleParts(bucket, prefix, parts.length);
    return { manifestPath, manifest };
  } catch (err) {
    // File-system failures become Ec2Errors; anything else (a throwing onProgress) passes through.
    if (err instanceof Ec2Error || !(err as NodeJS.ErrnoException).syscall) throw err;
    throw new Ec2Error("DiskIOError", `cannot write the bundle into '${bucket}': ${(err as Error).message}`, op);
  } finally {
    fs.closeSync(image.fd);
  }
}

function openImage(imagePath: string, op: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(imagePath, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw invalidParameter(`image '${imagePath}' does not exist`, op);
    throw invalidParameter(`cannot read image '${imagePath}': ${(err as Error).message}`, op);
  }
  const st = fs.fstatSync(fd);
  const problem = !st.isFile()
    ? `'${imagePath}' is not a regular file`
    : st.size === 0
      ? `image '${imagePath}' is empty (0 bytes)`
      : st.size > MAX_IMAGE_SIZE
        ? `image '${imagePath}' is ${st.size} bytes, over the ${MAX_IMAGE_SIZE} byte (2 GiB) limit for instance-store images`
        : undefined;
  if (problem) {
    fs.closeSync(fd);
    throw invalidParameter(problem, op);
  }
  return { fd, size: st.size };
}

function buildManifestXml(m: BundleManifest): string {
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

/** Makes the renames durable; directories cannot be opened for this on every platform. */
function syncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Best effort only.
  }
}

/** Parts left over from an older, longer bundle under the same prefix. */
function removeStaleParts(bucket: string, prefix: string, from: number): void {
  for (let i = from; removeIfPresent(path.join(bucket, `${prefix}.part.${i}`)); i++);
}

function removeIfPresent(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function writeFully(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
}

/** Reads exactly `length` bytes at `position` into `buf`, or throws what `short()` makes. */
function readFully(fd: number, buf: Uint8Array, length: number, position: number, short: () => Error): void {
  for (let off = 0; off < length; ) {
    const n = fs.readSync(fd, buf, off, length - off, position + off);
    if (n === 0) throw short();
    off += n;
  }
}

// ---------------------------------------------------------------------------
// Reading: the manifest and the parts come from users, so both are hostile.

/**
 * Reads and validates a manifest without touching its parts. Every problem
 * is an InvalidManifest error naming it; a manifest that comes back is
 * internally consistent (indexes 0..N-1, part sizes adding up to the image
 * size, sizes within the limits, file names that stay in the bucket).
 */
export function readManifest(manifestPath: string): BundleManifest {
  const op = "readManifest";
  const xml = readManifestText(manifestPath, op);
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

/**
 * Reads every part of the bundle, checking that each is a regular file in
 * the manifest's directory with the size and SHA-256 the manifest gives, and
 * that the whole image has its digest; returns the image. The declared size
 * is checked against MAX_IMAGE_SIZE before anything is allocated.
 */
export function unbundle(manifestPath: string, onProgress?: Progress): Uint8Array {
  const manifest = readManifest(manifestPath);
  const image = new Uint8Array(manifest.size);
  const check = partChecker(manifestPath, manifest, "unbundle");
  let offset = 0;
  for (const part of manifest.parts) {
    check.part(part, image.subarray(offset, offset + part.size));
    offset += part.size;
    onProgress?.(offset, manifest.size);
  }
  check.end();
  return image;
}

/**
 * Checks a bundle as `unbundle` does without keeping the image: one part in
 * memory at a time, yielding to the event loop between parts, so a server
 * can verify a bundle in the background while it answers requests.
 */
export async function verifyBundle(manifestPath: string): Promise<BundleManifest> {
  const manifest = readManifest(manifestPath);
  const check = partChecker(manifestPath, manifest, "verifyBundle");
  const buffer = new Uint8Array(Math.max(0, ...manifest.parts.map((p) => p.size)));
  for (const part of manifest.parts) {
    check.part(part, buffer.subarray(0, part.size));
    await new Promise((resolve) => setImmediate(resolve));
  }
  check.end();
  return manifest;
}

/** Reads each part into `into` and checks its size and digest, then the whole image's digest. */
function partChecker(manifestPath: string, manifest: BundleManifest, op: string) {
  const bucket = path.dirname(manifestPath);
  const whole = createHash("sha256");
  return {
    part(part: BundleManifest["parts"][number], into: Uint8Array): void {
      const where = `part ${part.index} ('${part.filename}')`;
      readPart(path.join(bucket, part.filename), where, part.size, into, op);
      const digest = createHash("sha256").update(into).digest("hex");
      if (digest !== part.digest) {
        throw invalidManifest(`${where} does not match its digest: SHA-256 ${digest}, the manifest says ${part.digest}`, op);
      }
      whole.update(into);
    },
    end(): void {
      const digest = whole.digest("hex");
      if (digest !== manifest.digest) {
        throw invalidManifest(`the parts are intact but the image digest does not match: SHA-256 ${digest}, the manifest says ${manifest.digest}`, op);
      }
    },
  };
}

function readManifestText(manifestPath: string, op: string): string {
  const fd = openRegularFile(manifestPath, `manifest ${manifestPath}`, op);
  try {
    const size = fs.fstatSync(fd).size;
    if (size > MAX_MANIFEST_BYTES) {
      throw invalidManifest(`manifest ${manifestPath} is ${size} bytes, too large for a bundle manifest (limit ${MAX_MANIFEST_BYTES})`, op);
    }
    const buf = Buffer.alloc(size);
    readFully(fd, buf, size, 0, () => invalidManifest(`manifest ${manifestPath} shrank while it was being read`, op));
    return buf.toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a part into `into`, which is exactly the size the manifest declares. */
function readPart(file: string, where: string, size: number, into: Uint8Array, op: string): void {
  const fd = openRegularFile(file, where, op);
  try {
    const actual = fs.fstatSync(fd).size;
    if (actual !== size) throw invalidManifest(`${where} is ${actual} bytes, the manifest says ${size}`, op);
    readFully(fd, into, size, 0, () => invalidManifest(`${where} shrank while it was being read`, op));
  } finally {
    fs.closeSync(fd);
  }
}

/** lstat for a clear message, then open without following symlinks and check again on the descriptor. */
function openRegularFile(file: string, what: string, op: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw invalidManifest(`${what} is missing (${file} does not exist)`, op);
    throw invalidManifest(`${what} cannot be read: ${(err as Error).message}`, op);
  }
  if (st.isSymbolicLink()) throw invalidManifest(`${what} is a symlink; bundle files must be regular files`, op);
  if (!st.isFile()) throw invalidManifest(`${what} is not a regular file`, op);
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_READ);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw invalidManifest(`${what} is a symlink; bundle files must be regular files`, op);
    if (code === "ENOENT") throw invalidManifest(`${what} is missing (${file} does not exist)`, op);
    throw invalidManifest(`${what} cannot be read: ${(err as Error).message}`, op);
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw invalidManifest(`${what} is not a regular file`, op);
  }
  return fd;
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

function isSafeName(name: string): boolean {
  return typeof name === "string" && /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(name) && !name.includes("..");
}

function invalidManifest(message: string, op: string): Ec2Error {
  return new Ec2Error("InvalidManifest", message, op);
}

function invalidParameter(message: string, op: string): Ec2Error {
  return new Ec2Error("InvalidParameterValue", message, op);
}
