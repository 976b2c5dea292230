import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { writeAtomically } from "../durable-file.js";
import { Ec2Error } from "../errors.js";
import { ARCHITECTURES, buildManifestXml, invalidManifest, MAX_IMAGE_SIZE, MAX_MANIFEST_BYTES, PART_SIZE, parseManifest, type BundleManifest } from "./bundle-manifest.js";

export { MAX_IMAGE_SIZE, MAX_PARTS, PART_SIZE, type BundleManifest } from "./bundle-manifest.js";

/**
 * Instance-store bundles: an image split into parts beside an
 * `image.manifest.xml`, as ec2-bundle-image lays them out. The manifest
 * follows the ec2-ami-tools 2007-10-10 layout, but real bundles are tarred,
 * gzipped, AES-encrypted and signed; ours are the plain image cut into parts,
 * with a SHA-256 digest per part and for the whole image. Nothing here is
 * secret, so there is nothing to encrypt; the digests are what a launch checks.
 */

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
  const op = "volumes.createBundle";
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

/**
 * Reads and validates a manifest without touching its parts (see
 * parseManifest); the file itself must be a regular file of sane size.
 */
export function readManifest(manifestPath: string): BundleManifest {
  const op = "volumes.readManifest";
  return parseManifest(readManifestText(manifestPath, op), manifestPath, op);
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

function isSafeName(name: string): boolean {
  return typeof name === "string" && /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(name) && !name.includes("..");
}

function invalidParameter(message: string, op: string): Ec2Error {
  return new Ec2Error("InvalidParameterValue", message, op);
}
