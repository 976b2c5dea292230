import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBundle, MAX_PARTS, PART_SIZE, readManifest, unbundle, type BundleManifest } from "../../src/volumes/bundle.js";
import { tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** ~25 MB: two full 10 MiB parts and a short third one. */
const IMAGE_SIZE = 25 * 1000 * 1000 + 7;
const imageFile = path.join(dir, "disk.img");
const bucket = path.join(dir, "bucket");
let image: Buffer;
let manifestPath: string;
let manifest: BundleManifest;
let baseXml: string;
let progress: [number, number][];

/** Deterministic pseudo-random bytes (xorshift32), so a failure reproduces. */
function pseudoRandom(size: number, seed = 0x2545f491): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, size);
}

const sha256sum = (file: string) => execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];

beforeAll(() => {
  image = pseudoRandom(IMAGE_SIZE);
  fs.writeFileSync(imageFile, image);
  progress = [];
  ({ manifestPath, manifest } = createBundle(imageFile, { bucket, prefix: "disk", onProgress: (d, t) => progress.push([d, t]) }));
  baseXml = fs.readFileSync(manifestPath, "utf8");
});

describe("createBundle and unbundle", () => {
  it("cuts the image into 10 MiB parts beside the manifest and puts it back together byte for byte", () => {
    expect(manifestPath).toBe(path.join(bucket, "disk.manifest.xml"));
    expect(fs.readdirSync(bucket).sort()).toEqual(["disk.manifest.xml", "disk.part.0", "disk.part.1", "disk.part.2"]);
    expect(manifest.size).toBe(IMAGE_SIZE);
    expect(manifest.parts.map((p) => [p.index, p.filename, p.size])).toEqual([
      [0, "disk.part.0", PART_SIZE],
      [1, "disk.part.1", PART_SIZE],
      [2, "disk.part.2", IMAGE_SIZE - 2 * PART_SIZE],
    ]);
    expect(manifest.digest).toBe(sha256sum(imageFile));
    for (const p of manifest.parts) expect(p.digest).toBe(sha256sum(path.join(bucket, p.filename)));
    expect(readManifest(manifestPath)).toEqual(manifest);

    const unbundled: [number, number][] = [];
    const back = unbundle(manifestPath, (d, t) => unbundled.push([d, t]));
    expect(back.length).toBe(IMAGE_SIZE);
    expect(Buffer.from(back.buffer, back.byteOffset, back.length).equals(image)).toBe(true);
    expect(unbundled).toEqual([
      [PART_SIZE, IMAGE_SIZE],
      [2 * PART_SIZE, IMAGE_SIZE],
      [IMAGE_SIZE, IMAGE_SIZE],
    ]);
  });

  it("reports progress that only grows and reaches the total", () => {
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.every(([d, t], i) => t === IMAGE_SIZE && d > (progress[i - 1]?.[0] ?? 0))).toBe(true);
    expect(progress.at(-1)).toEqual([IMAGE_SIZE, IMAGE_SIZE]);
  });

  it("writes an ec2-ami-tools style manifest", () => {
    const doc = new XMLParser({ ignoreAttributes: false, parseTagValue: false }).parse(baseXml);
    const m = doc.manifest;
    expect(Object.keys(m)).toEqual(["version", "bundler", "machine_configuration", "image"]);
    expect(m.version).toBe("2007-10-10");
    expect(m.bundler.name).toBe("amiboot");
    expect(m.bundler.version).toBeTruthy();
    expect(m.machine_configuration.architecture).toBe("i386");
    expect(m.machine_configuration.block_device_mapping.mapping).toEqual([
      { virtual: "ami", device: "sda1" },
      { virtual: "root", device: "/dev/sda1" },
      { virtual: "ephemeral0", device: "sdb" },
    ]);
    expect(m.image.name).toBe("disk");
    expect(m.image.type).toBe("machine");
    expect(m.image.digest).toEqual({ "@_algorithm": "SHA256", "#text": manifest.digest });
    expect(m.image.size).toBe(String(IMAGE_SIZE));
    expect(m.image.bundled_size).toBe(String(IMAGE_SIZE));
    expect(m.image.parts["@_count"]).toBe("3");
    expect(m.image.parts.part).toHaveLength(3);
    m.image.parts.part.forEach((p: Record<string, unknown>, i: number) => {
      expect(p["@_index"]).toBe(String(i));
      expect(p.filename).toBe(`disk.part.${i}`);
      expect(p.digest).toEqual({ "@_algorithm": "SHA256", "#text": manifest.parts[i]?.digest });
    });
  });

  it("records the architecture it is given and reads kernel and ramdisk ids", () => {
    const small = path.join(dir, "small.img");
    fs.writeFileSync(small, pseudoRandom(4096, 7));
    const b = createBundle(small, { bucket: path.join(dir, "arch"), prefix: "small", architecture: "x86_64" });
    expect(readManifest(b.manifestPath).architecture).toBe("x86_64");
    const xml = fs.readFileSync(b.manifestPath, "utf8").replace("</block_device_mapping>", "</block_device_mapping><kernel_id>aki-88aa75e1</kernel_id><ramdisk_id>ari-0123456789abcdef0</ramdisk_id>");
    fs.writeFileSync(b.manifestPath, xml);
    expect(readManifest(b.manifestPath)).toMatchObject({ kernelId: "aki-88aa75e1", ramdiskId: "ari-0123456789abcdef0" });
  });

  it("replaces an older bundle under the same prefix: manifest removed first, written last, stale parts gone", () => {
    const b = path.join(dir, "rebundle");
    const big = path.join(dir, "big.img");
    fs.writeFileSync(big, pseudoRandom(PART_SIZE + 1000, 11));
    const first = createBundle(big, { bucket: b, prefix: "img" });
    expect(first.manifest.parts).toHaveLength(2);

    const small = path.join(dir, "tiny.img");
    const bytes = pseudoRandom(1536, 12);
    fs.writeFileSync(small, bytes);
    const seen: boolean[] = [];
    const second = createBundle(small, { bucket: b, prefix: "img", onProgress: () => seen.push(fs.existsSync(first.manifestPath)) });
    expect(seen).toEqual([false]);
    expect(fs.readdirSync(b).sort()).toEqual(["img.manifest.xml", "img.part.0"]);
    expect(Buffer.from(unbundle(second.manifestPath)).equals(bytes)).toBe(true);
  });

  it("leaves no manifest and no temporary files when bundling stops half way", () => {
    const b = path.join(dir, "crash");
    expect(() =>
      createBundle(imageFile, {
        bucket: b,
        prefix: "img",
        onProgress: (done) => {
          if (done > PART_SIZE + 1) throw new Error("power cut");
        },
      }),
    ).toThrow("power cut");
    expect(fs.readdirSync(b)).toEqual(["img.part.0"]);
  });

  it("refuses missing, empty and non-file images and unsafe prefixes", () => {
    const empty = path.join(dir, "empty.img");
    fs.writeFileSync(empty, "");
    const refuse = (f: () => unknown, fragment: string) =>
      expect(f).toThrow(expect.objectContaining({ code: "InvalidParameterValue", message: expect.stringContaining(fragment) }));
    const out = { bucket: path.join(dir, "refused"), prefix: "x" };
    refuse(() => createBundle(path.join(dir, "nope.img"), out), "does not exist");
    refuse(() => createBundle(empty, out), "empty");
    refuse(() => createBundle(dir, out), "not a regular file");
    for (const prefix of ["", "a/b", "..", "../x", "a\\b", ".hidden"]) refuse(() => createBundle(imageFile, { ...out, prefix }), "prefix");
    refuse(() => createBundle(imageFile, { ...out, bucket: "" }), "bucket");
    refuse(() => createBundle(imageFile, { ...out, bucket: imageFile }), "bucket");
    refuse(() => createBundle(imageFile, { ...out, architecture: "sparc" as "i386" }), "architecture");
    expect(fs.existsSync(out.bucket)).toBe(false);
  });
});

describe("hostile manifests and parts", () => {
  let n = 0;
  /** A manifest beside the good parts, edited by `edit` (which must change something). */
  function variant(edit: (xml: string) => string): string {
    const xml = edit(baseXml);
    expect(xml).not.toBe(baseXml);
    const file = path.join(bucket, `variant-${n++}.manifest.xml`);
    fs.writeFileSync(file, xml);
    return file;
  }
  /** A manifest whose last part is `name`, which the caller makes. */
  const lastPartIs = (name: string) => variant((x) => x.replace("<filename>disk.part.2</filename>", `<filename>${name}</filename>`));
  const lastPart = () => fs.readFileSync(path.join(bucket, "disk.part.2"));
  const firstOnly = (x: string, from: string, to: string) => x.replace(from, to);
  const imageSize = String(IMAGE_SIZE);

  /** Both readers refuse it with InvalidManifest and a message naming the problem. */
  function rejectsManifest(file: string, fragment: string) {
    const invalid = expect.objectContaining({ code: "InvalidManifest", message: expect.stringContaining(fragment) });
    expect(() => readManifest(file)).toThrow(invalid);
    expect(() => unbundle(file)).toThrow(invalid);
  }
  /** The manifest is fine; the parts are not. */
  function rejectsParts(file: string, fragment: string) {
    expect(() => readManifest(file)).not.toThrow();
    expect(() => unbundle(file)).toThrow(expect.objectContaining({ code: "InvalidManifest", message: expect.stringContaining(fragment) }));
  }

  it("malformed XML", () => rejectsManifest(variant((x) => x.replace("</parts>", "")), "not well-formed XML"));
  it("a document that is not a manifest", () =>
    rejectsManifest(variant((x) => x.replace("<manifest>", "<manifesto>").replace("</manifest>", "</manifesto>")), "no <manifest> root"));
  it("a DOCTYPE (entity expansion)", () =>
    rejectsManifest(variant((x) => x.replace("?>", '?><!DOCTYPE manifest [<!ENTITY a "aaaaaaaa">]>')), "DOCTYPE"));
  it("an element named like a prototype", () => rejectsManifest(variant((x) => x.replace("<image>", "<image><__proto__>1</__proto__>")), "not well-formed XML"));
  it("an unknown manifest version", () => rejectsManifest(variant((x) => x.replace("<version>2007-10-10", "<version>2031-01-01")), "version"));
  it("an unknown architecture", () => rejectsManifest(variant((x) => x.replace(">i386<", ">sparc<")), "architecture 'sparc'"));
  it("a type other than machine", () => rejectsManifest(variant((x) => x.replace(">machine<", ">kernel<")), "image/type"));
  it("a malformed kernel id", () =>
    rejectsManifest(variant((x) => x.replace("</block_device_mapping>", "</block_device_mapping><kernel_id>../../etc</kernel_id>")), "kernel_id"));
  it("a mapping without a device", () => rejectsManifest(variant((x) => x.replace("<device>sdb</device>", "")), "device is missing"));

  it.each([
    ["image/name", (x: string) => x.replace("<name>disk</name>", ""), "image/name is missing"],
    ["image/digest", (x: string) => x.replace(/<digest[^>]*>[0-9a-f]+<\/digest>\s*<size>/, "<size>"), "image/digest is missing"],
    ["image/size", (x: string) => x.replace(`<size>${imageSize}</size>`, ""), "image/size is missing"],
    ["image/parts", (x: string) => x.replace(/<parts[\s\S]*<\/parts>/, ""), "image/parts is missing"],
    ["machine_configuration", (x: string) => x.replace(/<machine_configuration>[\s\S]*<\/machine_configuration>/, ""), "machine_configuration is missing"],
    ["a part's filename", (x: string) => x.replace("<filename>disk.part.1</filename>", ""), "part 1/filename is missing"],
    ["a part's size", (x: string) => x.replace("<size>10485760</size>", ""), "part 0/size is missing"],
    ["a part's index", (x: string) => x.replace(' index="2"', ""), "part 2/@index is missing"],
    ["the parts count", (x: string) => x.replace(' count="3"', ""), "image/parts/@count is missing"],
  ])("a missing element: %s", (_what, edit, fragment) => rejectsManifest(variant(edit), fragment));

  it("an element that appears twice", () =>
    rejectsManifest(variant((x) => x.replace(`<size>${imageSize}</size>`, `<size>${imageSize}</size><size>1</size>`)), "appears more than once"));

  it.each(["abc", "-5", "1.5", "0x10", "1e9", "99999999999999999999"])("a size that is not a whole number: %s", (bad) =>
    rejectsManifest(variant((x) => x.replace(`<size>${imageSize}</size>`, `<size>${bad}</size>`)), "is not a whole number"));
  it("a part size that is negative", () => rejectsManifest(variant((x) => x.replace("<size>10485760</size>", "<size>-10485760</size>")), "part 0/size '-10485760' is not a whole number"));
  it("an empty size", () => rejectsManifest(variant((x) => x.replace(`<size>${imageSize}</size>`, "<size></size>")), "image/size is empty"));

  it("a size over the 2 GiB limit, refused before anything is allocated", () =>
    rejectsManifest(variant((x) => x.replace(`<size>${imageSize}</size>`, `<size>${8 * 1024 ** 4}</size>`)), "2 GiB"));
  it("a parts count over the limit", () => rejectsManifest(variant((x) => x.replace('count="3"', 'count="100000"')), `more than the ${MAX_PARTS}`));
  it("more <part> elements than the limit, whatever count says", () => {
    const many = Array.from({ length: MAX_PARTS + 1 }, (_, i) => `<part index="${i}"/>`).join("");
    rejectsManifest(variant((x) => x.replace(/<parts[\s\S]*<\/parts>/, `<parts count="3">${many}</parts>`)), `more than ${MAX_PARTS}`);
  });
  it("a count that disagrees with the parts", () => rejectsManifest(variant((x) => x.replace('count="3"', 'count="4"')), 'count="4" but there are 3'));

  it("part indexes out of order", () =>
    rejectsManifest(variant((x) => x.replace('index="0"', 'index="X"').replace('index="1"', 'index="0"').replace('index="X"', 'index="1"')), "in order"));
  it("a duplicated part index", () => rejectsManifest(variant((x) => x.replace('index="1"', 'index="0"')), "index 0 appears twice"));
  it("part indexes that skip", () => rejectsManifest(variant((x) => x.replace('index="2"', 'index="3"')), "numbered 0..2 in order"));
  it("a part file named twice", () => rejectsManifest(variant((x) => x.replace("disk.part.1<", "disk.part.0<")), "reuses the file name"));

  it.each(["../disk.part.2", "sub/disk.part.2", "sub\\disk.part.2", "..", "/etc/passwd", "C:disk.part.2"])(
    "a part file name that escapes the bucket: %s",
    (name) => rejectsManifest(lastPartIs(name), "escapes the bucket"),
  );
  it("an absolute part file name, even one that exists", () => rejectsManifest(lastPartIs(path.join(bucket, "disk.part.2")), "escapes the bucket"));

  it("a part that is a symlink", () => {
    fs.symlinkSync(path.join(bucket, "disk.part.2"), path.join(bucket, "link.part.2"));
    rejectsParts(lastPartIs("link.part.2"), "symlink");
  });
  it("a part that is a directory", () => {
    fs.mkdirSync(path.join(bucket, "dir.part.2"));
    rejectsParts(lastPartIs("dir.part.2"), "not a regular file");
  });
  it("a missing part", () => rejectsParts(lastPartIs("gone.part.2"), "is missing"));
  it("a part of the wrong size", () => {
    fs.writeFileSync(path.join(bucket, "short.part.2"), lastPart().subarray(1));
    rejectsParts(lastPartIs("short.part.2"), `is ${IMAGE_SIZE - 2 * PART_SIZE - 1} bytes, the manifest says ${IMAGE_SIZE - 2 * PART_SIZE}`);
  });
  it("a part whose bytes do not match its digest", () => {
    const bytes = lastPart();
    bytes[1234] = (bytes[1234] ?? 0) ^ 1;
    fs.writeFileSync(path.join(bucket, "flipped.part.2"), bytes);
    rejectsParts(lastPartIs("flipped.part.2"), "part 2 ('flipped.part.2') does not match its digest");
  });
  it("a whole-image digest that does not match", () =>
    rejectsParts(variant((x) => firstOnly(x, manifest.digest, "0".repeat(64))), "image digest does not match"));

  it("a digest that is not SHA-256", () => rejectsManifest(variant((x) => firstOnly(x, 'algorithm="SHA256"', 'algorithm="SHA1"')), 'algorithm="SHA256"'));
  it("a digest that is not 64 hex digits", () => rejectsManifest(variant((x) => firstOnly(x, manifest.digest, "xyz")), "not a SHA-256 digest"));

  it("part sizes that do not add up to the image size", () => {
    rejectsManifest(variant((x) => x.replace(`<size>${imageSize}</size>`, `<size>${IMAGE_SIZE + 1}</size>`)), `add up to ${IMAGE_SIZE} bytes, not image/size ${IMAGE_SIZE + 1}`);
    rejectsManifest(variant((x) => x.replace(`<size>${imageSize}</size>`, `<size>${IMAGE_SIZE - 1}</size>`)), "add up to more than image/size");
  });

  it("a missing, symlinked or oversized manifest", () => {
    rejectsManifest(path.join(bucket, "absent.manifest.xml"), "is missing");
    const link = path.join(bucket, "link.manifest.xml");
    fs.symlinkSync(manifestPath, link);
    rejectsManifest(link, "symlink");
    const big = path.join(bucket, "big.manifest.xml");
    fs.writeFileSync(big, baseXml.replace("<manifest>", `<manifest><!--${"x".repeat(1024 * 1024)}-->`));
    rejectsManifest(big, "too large");
  });
});
