import { execFileSync } from "node:child_process";
import { gunzipSync } from "node:zlib";
import { throughCache } from "./unpack-cache.js";

/**
 * Work the host does faster than the guest, for PV boots: unpacking the
 * kernel and the initramfs.
 *
 * The kernel: host-side decompression. A bzImage carries the real
 * kernel (an ELF vmlinux) compressed, and its decompressor stub spends about
 * half of a cold boot unpacking it inside the emulator. The host unpacks it
 * in a fraction of that, so the shim hands v86 an equivalent bzImage: the
 * same real-mode setup code, and as protected-mode code a two-instruction
 * jump followed by the vmlinux segments already at their load addresses.
 * The setup code jumps to 1 MiB with %esi = boot_params as usual; the jump
 * lands on the kernel's own startup_32, exactly where the decompressor would
 * have gone (nokaslr: the kernel runs at its link address, nothing relocates).
 */
export interface UnpackedKernel {
  /** The bzImage to boot: original setup, pre-placed vmlinux. */
  bzImage: Uint8Array;
  compression: "xz" | "gzip";
  /** Size of the vmlinux the payload held. */
  vmlinuxBytes: number;
  ms: number;
}

const PM_BASE = 0x100000;
/** v86 puts the initrd at 64 MiB: the kernel, its BSS included, must end below. */
const LIMIT = 64 * 1024 * 1024;
const EM_386 = 3;
const PT_LOAD = 1;
const STUB_BYTES = 16;
/** xz runs as a child process; a stream built to take forever is cut off (and left to the guest). */
const XZ_TIMEOUT_MS = 60_000;

/**
 * unpackKernel through a cache in `dir` keyed by the bzImage's SHA-256 (see
 * unpack-cache.ts): an image booted again skips the decompression.
 */
export function unpackKernelCached(bzImage: Uint8Array, dir: string): (UnpackedKernel & { cached: boolean }) | { reason: string } {
  const r = throughCache(dir, bzImage, "bzimage", () => {
    const k = unpackKernel(bzImage);
    return "reason" in k ? k : { bytes: k.bzImage, facts: { compression: k.compression, vmlinuxBytes: k.vmlinuxBytes, ms: k.ms } };
  });
  if ("reason" in r) return r;
  return { ...r.facts, bzImage: r.bytes, cached: r.cached, ms: r.cached ? 0 : r.facts.ms };
}

/** Unpacks the kernel, or says why the guest must decompress it itself. */
export function unpackKernel(bzImage: Uint8Array): UnpackedKernel | { reason: string } {
  const t0 = performance.now();
  const k = Buffer.from(bzImage.buffer, bzImage.byteOffset, bzImage.byteLength);
  const protocol = k.readUInt16LE(0x206);
  if (protocol < 0x0208) return { reason: `boot protocol ${protocol >> 8}.${String(protocol & 0xff).padStart(2, "0")} has no payload fields` };
  const setupBytes = ((k[0x1f1] || 4) + 1) * 512;
  const offset = setupBytes + k.readUInt32LE(0x248);
  const length = k.readUInt32LE(0x24c);
  if (offset + length > k.length || length < 16) return { reason: "payload lies outside the file" };
  const payload = k.subarray(offset, offset + length);

  let vmlinux: Buffer;
  let compression: UnpackedKernel["compression"];
  try {
    if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
      compression = "xz";
      // The kernel build appends the unpacked size after the xz stream.
      const expected = payload.readUInt32LE(length - 4);
      vmlinux = execFileSync("xz", ["--decompress", "--stdout", "--single-stream"], { input: payload.subarray(0, length - 4), maxBuffer: LIMIT, stdio: ["pipe", "pipe", "pipe"], timeout: XZ_TIMEOUT_MS });
      if (vmlinux.length !== expected) return { reason: `xz gave ${vmlinux.length} bytes, the kernel says ${expected}` };
    } else if (payload[0] === 0x1f && payload[1] === 0x8b) {
      compression = "gzip";
      vmlinux = gunzipSync(payload, { maxOutputLength: LIMIT });
    } else {
      return { reason: `payload compression ${payload.subarray(0, 4).toString("hex")} is not xz or gzip` };
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") return { reason: "the xz command is missing (apt-get install xz-utils)" };
    return { reason: `decompression failed: ${(e.stderr?.toString().trim() || e.message).split("\n")[0]}` };
  }

  const placed = placeSegments(vmlinux);
  if ("reason" in placed) return placed;
  const out = new Uint8Array(setupBytes + placed.image.length);
  out.set(k.subarray(0, setupBytes));
  out.set(placed.image, setupBytes);
  // syssize: the protected-mode part in 16-byte paragraphs.
  new DataView(out.buffer).setUint32(0x1f4, Math.ceil(placed.image.length / 16), true);
  return { bzImage: out, compression, vmlinuxBytes: vmlinux.length, ms: Math.round(performance.now() - t0) };
}

/** The protected-mode image: a jump to the entry point, then each PT_LOAD segment at its physical address. */
function placeSegments(elf: Buffer): { image: Uint8Array } | { reason: string } {
  if (elf.length < 52 || elf.readUInt32BE(0) !== 0x7f454c46) return { reason: "payload is not an ELF vmlinux" };
  if (elf[4] !== 1 || elf[5] !== 1 || elf.readUInt16LE(18) !== EM_386) return { reason: "vmlinux is not a 32-bit little-endian i386 ELF" };
  const entry = elf.readUInt32LE(24);
  const phoff = elf.readUInt32LE(28);
  const phentsize = elf.readUInt16LE(42);
  const phnum = elf.readUInt16LE(44);
  if (phentsize < 32 || phnum === 0 || phnum > 32 || phoff + phnum * phentsize > elf.length) return { reason: "vmlinux program headers are invalid" };
  const segments: { offset: number; paddr: number; filesz: number }[] = [];
  let end = PM_BASE + STUB_BYTES;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (elf.readUInt32LE(p) !== PT_LOAD) continue;
    const s = { offset: elf.readUInt32LE(p + 4), paddr: elf.readUInt32LE(p + 12), filesz: elf.readUInt32LE(p + 16) };
    const memsz = elf.readUInt32LE(p + 20);
    if (s.paddr < PM_BASE + STUB_BYTES || s.paddr + memsz > LIMIT || s.offset + s.filesz > elf.length || memsz < s.filesz) {
      return { reason: `segment ${i} (physical ${hex(s.paddr)}, ${memsz} bytes) does not fit between 1 MiB and 64 MiB` };
    }
    segments.push(s);
    end = Math.max(end, s.paddr + s.filesz);
  }
  if (!segments.some((s) => entry >= s.paddr && entry < s.paddr + s.filesz)) return { reason: `entry point ${hex(entry)} is in no segment` };
  const image = new Uint8Array(end - PM_BASE);
  // mov eax, entry ; jmp eax  (%esi still holds boot_params)
  image.set([0xb8, entry & 0xff, (entry >>> 8) & 0xff, (entry >>> 16) & 0xff, entry >>> 24, 0xff, 0xe0]);
  for (const s of segments) image.set(elf.subarray(s.offset, s.offset + s.filesz), s.paddr - PM_BASE);
  return { image };
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The initramfs: the kernel accepts an uncompressed newc cpio as well as a
 * compressed one, and gunzipping in the emulated guest is slow. A gzip or xz
 * initrd is unpacked on the host when it is one compressed stream that
 * holds a cpio archive; anything else (early microcode prepended, other
 * compressors) is left as it is.
 */
export function unpackInitrd(initrd: Uint8Array, limit: number): { initrd: Uint8Array; compression: "gzip" | "xz" } | { reason: string } {
  const b = Buffer.from(initrd.buffer, initrd.byteOffset, initrd.byteLength);
  let out: Buffer;
  let compression: "gzip" | "xz";
  try {
    if (b[0] === 0x1f && b[1] === 0x8b) {
      compression = "gzip";
      out = gunzipSync(b, { maxOutputLength: limit });
    } else if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
      compression = "xz";
      out = execFileSync("xz", ["--decompress", "--stdout"], { input: b, maxBuffer: limit, stdio: ["pipe", "pipe", "pipe"], timeout: XZ_TIMEOUT_MS });
    } else {
      return { reason: "not a gzip or xz initramfs" };
    }
  } catch (err) {
    return { reason: `decompression failed: ${(err as Error).message.split("\n")[0]}` };
  }
  if (out.subarray(0, 6).toString("latin1") !== "070701") return { reason: "the unpacked initramfs is not a newc cpio archive" };
  return { initrd: out, compression };
}

/**
 * unpackInitrd through a cache in `dir` keyed by the compressed initrd's
 * SHA-256. An entry larger than `limit` is not used: the unpacking then
 * fails exactly as it would without the cache.
 */
export function unpackInitrdCached(initrd: Uint8Array, limit: number, dir: string): { initrd: Uint8Array; compression: "gzip" | "xz"; cached: boolean } | { reason: string } {
  const r = throughCache(dir, initrd, "cpio", () => {
    const u = unpackInitrd(initrd, limit);
    return "reason" in u ? u : { bytes: u.initrd, facts: { compression: u.compression } };
  });
  if ("reason" in r) return r;
  if (r.bytes.length > limit) {
    const u = unpackInitrd(initrd, limit);
    return "reason" in u ? u : { ...u, cached: false };
  }
  return { initrd: r.bytes, compression: r.facts.compression, cached: r.cached };
}
