/** What every read-only guest filesystem reader offers the PV-GRUB shim. */
export interface GuestFilesystem {
  readonly type: "ext2" | "ext3" | "ext4" | "fat12" | "fat16" | "fat32";
  readonly label: string;
  /** Size of the filesystem in bytes, as its superblock or BPB says. */
  readonly size: number;
  /** The file at an absolute path (symlinks followed); throws GuestFs.NotFound and friends. */
  readFile(path: string): Uint8Array;
  /** True when a regular file exists at the path. */
  isFile(path: string): boolean;
  /** Names in a directory (without . and ..). */
  list(path: string): string[];
}

/** Largest file the readers will load into memory (kernels and initrds are far smaller). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Splits a guest path into components (paths are taken from the root; empty and "." parts dropped). */
export function pathParts(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/** `check()`, with a missing path (or a file where a directory should be) answering false. */
export function falseIfMissing(check: () => boolean): boolean {
  try {
    return check();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "GuestFs.NotFound" || code === "GuestFs.NotADirectory") return false;
    throw err;
  }
}
