/**
 * Test disks made by the real tools (mke2fs -d, sfdisk, mkfs.fat, mcopy),
 * never by hand-written bytes: the readers must agree with what Linux makes.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export type Tree = Record<string, string | Uint8Array | { symlink: string } | { sparse: number }>;

/** Writes a tree of files into a fresh folder under `dir`. */
export function writeTree(dir: string, tree: Tree): string {
  const root = fs.mkdtempSync(path.join(dir, "tree-"));
  for (const [rel, content] of Object.entries(tree)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof content === "string" || content instanceof Uint8Array) fs.writeFileSync(p, content);
    else if ("symlink" in content) fs.symlinkSync(content.symlink, p);
    else {
      // A hole, then 4 KiB of data at the end: a sparse file.
      const fd = fs.openSync(p, "w");
      fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, content.sparse - 4096);
      fs.closeSync(fd);
    }
  }
  return root;
}

/** An ext2/3/4 filesystem image holding `tree`. */
export function makeExt(dir: string, name: string, type: "ext2" | "ext3" | "ext4", tree: Tree, opts: { sizeMiB?: number; extra?: string[] } = {}): string {
  const img = path.join(dir, name);
  const root = writeTree(dir, tree);
  execFileSync("mke2fs", ["-q", "-F", "-t", type, "-L", `t-${type}`, "-E", "root_owner=0:0", ...(opts.extra ?? []), "-d", root, img, `${opts.sizeMiB ?? 16}M`], { stdio: "pipe" });
  return img;
}

/** A disk with an sfdisk script's partitions and `contents` copied into them. */
export function makeDisk(dir: string, name: string, sizeMiB: number, script: string, contents: (string | undefined)[] = []): string {
  const img = path.join(dir, name);
  fs.writeFileSync(img, "");
  fs.truncateSync(img, sizeMiB * 1024 * 1024);
  execFileSync("sfdisk", ["--quiet", img], { input: script, stdio: ["pipe", "pipe", "pipe"] });
  const parts = JSON.parse(execFileSync("sfdisk", ["--json", img], { encoding: "utf8" })).partitiontable.partitions as { start: number; size: number; type: string }[];
  const data = parts.filter((p) => !["5", "f", "85"].includes(p.type));
  contents.forEach((src, i) => {
    if (!src) return;
    const p = data[i]!;
    if (fs.statSync(src).size > p.size * 512) throw new Error(`${src} does not fit partition ${i}`);
    execFileSync("dd", [`if=${src}`, `of=${img}`, "bs=512", `seek=${p.start}`, "conv=notrunc", "status=none"]);
  });
  return img;
}
