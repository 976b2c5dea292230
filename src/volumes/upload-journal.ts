import fs from "node:fs";

/** One record: the block index (u32) and the SHA-256 of its 512 KiB (32 zero bytes: an all-zero block). */
const RECORD = 4 + 32;
const ZERO = Buffer.alloc(32);

/**
 * The blocks put so far into a snapshot being uploaded block by block (EBS
 * direct's PutSnapshotBlock), as an append-only file under
 * `uploads/<snap-id>`. The store's garbage collection reads it, so chunks of
 * an upload not yet completed are never freed; a later record for the same
 * index replaces an earlier one. Not synced: an upload a crash interrupts
 * is discarded, never completed.
 */
export function appendBlock(file: string, index: number, hash: string | undefined): void {
  const record = Buffer.alloc(RECORD);
  record.writeUInt32LE(index, 0);
  (hash === undefined ? ZERO : Buffer.from(hash, "hex")).copy(record, 4);
  fs.appendFileSync(file, record);
}

/** Block index -> chunk hash (undefined: the block was put all zeros), in the order they were put. */
export function readBlocks(file: string): Map<number, string | undefined> {
  const bytes = fs.readFileSync(file);
  const blocks = new Map<number, string | undefined>();
  // A record cut short (a crash while appending) is ignored.
  for (let at = 0; at + RECORD <= bytes.length; at += RECORD) {
    const hash = bytes.subarray(at + 4, at + RECORD);
    blocks.set(bytes.readUInt32LE(at), hash.equals(ZERO) ? undefined : hash.toString("hex"));
  }
  return blocks;
}
