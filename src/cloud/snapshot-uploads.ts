import { createHash } from "node:crypto";
import { Ec2Error } from "../errors.js";
import { isId, newId } from "../ids.js";
import { SECTOR_SIZE } from "../volumes/block-device.js";
import { CHUNK_SIZE } from "../volumes/chunk-store.js";
import type { SnapshotManifest, VolumeStore } from "../volumes/store.js";
import type { Snapshots } from "./snapshots.js";
import { checkTags, type Tag } from "./tags.js";

const GiB = 1024 ** 3;
/** EBS's limits: volumes up to 64 TiB; an upload times out after 10 minutes to 3 days (default 1 hour). */
const MAX_VOLUME_GIB = 65_536;
const TIMEOUT_MINUTES = { min: 10, max: 4320, default: 60 };
const MAX_RESULTS = { min: 100, max: 10_000 };
/** ClientTokens remembered for idempotent StartSnapshot retries. */
const MAX_TOKENS = 10_000;
const ZERO_BLOCK_DIGEST = createHash("sha256").update(Buffer.alloc(CHUNK_SIZE)).digest();

/**
 * amiboot's own tag: the exact byte size of the disk an upload carries, when
 * it is not whole GiB (a raw image is any multiple of 512 bytes; EBS direct
 * speaks GiB only). The snapshot then has that size, as a local import has.
 */
export const DISK_SIZE_TAG = "amiboot:disk-size";

export interface StartSnapshotRequest {
  /** GiB. */
  volumeSize: number;
  parentSnapshotId?: string;
  description?: string;
  tags: Tag[];
  clientToken?: string;
  /** Minutes. */
  timeout?: number;
}

/** A snapshot as StartSnapshot answers it. */
export interface StartedSnapshot {
  snapshotId: string;
  ownerId: string;
  status: "pending";
  startTime: Date;
  volumeSize: number;
  blockSize: number;
  parentSnapshotId?: string;
  description?: string;
  tags: Tag[];
}

export interface BlockPage<T> {
  items: T[];
  volumeSize: number;
  blockSize: number;
  nextToken?: string;
}

export interface PageRequest {
  startingBlockIndex?: number;
  maxResults?: number;
  nextToken?: string;
}

interface Upload {
  started: StartedSnapshot;
  region: string;
  /** The snapshot's size in bytes. */
  size: number;
  newChunks: number;
  newBytes: number;
  timer: NodeJS.Timeout;
}

/**
 * EBS direct uploads (StartSnapshot, PutSnapshotBlock, CompleteSnapshot) and
 * reads (ListSnapshotBlocks, ListChangedBlocks, GetSnapshotBlock). A pending
 * snapshot lives in this server's memory, its blocks in the volume store as
 * they arrive; completion writes its manifest and records it as the caller's,
 * in the signed region. An upload not completed within its Timeout, or when
 * the server stops, is dropped and its blocks freed.
 */
export class SnapshotUploads {
  private readonly uploads = new Map<string, Upload>();
  private readonly tokens = new Map<string, { fingerprint: string; started: StartedSnapshot }>();

  constructor(
    private readonly volumes: VolumeStore,
    private readonly snapshots: Snapshots,
  ) {}

  start(caller: string, region: string, r: StartSnapshotRequest): StartedSnapshot {
    const op = "StartSnapshot";
    const fingerprint = JSON.stringify([region, r.volumeSize, r.parentSnapshotId, r.description, r.tags, r.timeout]);
    const key = r.clientToken !== undefined ? `${caller}/${r.clientToken}` : undefined;
    const earlier = key !== undefined ? this.tokens.get(key) : undefined;
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) throw new Ec2Error("IdempotentParameterMismatch", `The client token '${r.clientToken}' was used with different parameters`, op);
      return earlier.started;
    }
    if (!Number.isInteger(r.volumeSize) || r.volumeSize < 1 || r.volumeSize > MAX_VOLUME_GIB) {
      throw new Ec2Error("InvalidParameterValue", `VolumeSize must be 1 to ${MAX_VOLUME_GIB} GiB, got ${r.volumeSize}`, op);
    }
    const timeout = r.timeout ?? TIMEOUT_MINUTES.default;
    if (!Number.isInteger(timeout) || timeout < TIMEOUT_MINUTES.min || timeout > TIMEOUT_MINUTES.max) {
      throw new Ec2Error("InvalidParameterValue", `Timeout must be ${TIMEOUT_MINUTES.min} to ${TIMEOUT_MINUTES.max} minutes, got ${timeout}`, op);
    }
    if (r.description !== undefined && r.description.length > 255) throw new Ec2Error("InvalidParameterValue", "Description must be at most 255 characters", op);
    checkTags(r.tags, op);
    const size = diskSize(r, op);
    if (r.parentSnapshotId !== undefined) {
      const parent = this.readable(caller, region, r.parentSnapshotId, op);
      if (parent.size > size) {
        throw new Ec2Error("InvalidParameterValue", `VolumeSize ${r.volumeSize} GiB is smaller than the parent snapshot '${parent.id}' (${Math.ceil(parent.size / GiB)} GiB)`, op);
      }
    }
    const started: StartedSnapshot = {
      snapshotId: newId("snap"),
      ownerId: caller,
      status: "pending",
      startTime: new Date(),
      volumeSize: r.volumeSize,
      blockSize: CHUNK_SIZE,
      ...(r.parentSnapshotId !== undefined ? { parentSnapshotId: r.parentSnapshotId } : {}),
      ...(r.description !== undefined ? { description: r.description } : {}),
      tags: r.tags,
    };
    const id = started.snapshotId;
    this.volumes.beginUpload(id);
    const timer = setTimeout(() => this.drop(id), timeout * 60_000).unref();
    this.uploads.set(id, { started, region, size, newChunks: 0, newBytes: 0, timer });
    if (key !== undefined) {
      if (this.tokens.size >= MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value!);
      this.tokens.set(key, { fingerprint, started });
    }
    return started;
  }

  /** Stores one block: exactly 512 KiB, its base64 SHA-256 checked first; nothing is stored when anything is wrong. */
  put(caller: string, region: string, id: string, index: number, data: Buffer, h: { dataLength: number; checksum: string; algorithm: string; progress?: number }): { checksum: string } {
    const op = "PutSnapshotBlock";
    const upload = this.pending(caller, region, id, op);
    if (h.algorithm !== "SHA256") throw new Ec2Error("InvalidParameterValue", `ChecksumAlgorithm must be SHA256, got '${h.algorithm}'`, op);
    if (h.progress !== undefined && !(Number.isInteger(h.progress) && h.progress >= 0 && h.progress <= 100)) {
      throw new Ec2Error("InvalidParameterValue", `Progress must be 0 to 100, got ${h.progress}`, op);
    }
    const blocks = Math.ceil(upload.size / CHUNK_SIZE);
    if (!Number.isInteger(index) || index < 0 || index >= blocks) {
      throw new Ec2Error("InvalidBlock", `The block index ${index} is outside the volume: its blocks are 0 to ${blocks - 1}`, op);
    }
    if (h.dataLength !== data.length) throw new Ec2Error("InvalidBlock", `The DataLength header says ${h.dataLength} bytes but the body has ${data.length}`, op);
    if (data.length !== CHUNK_SIZE) throw new Ec2Error("InvalidBlock", `A block must be exactly ${CHUNK_SIZE} bytes (512 KiB), got ${data.length}`, op);
    const checksum = createHash("sha256").update(data).digest("base64");
    if (checksum !== h.checksum) throw new Ec2Error("InvalidBlock", `The checksum '${h.checksum}' does not match the block's SHA-256 '${checksum}'`, op);
    const stored = this.volumes.putUploadBlock(id, index, data);
    if (stored.newBytes > 0) {
      upload.newChunks++;
      upload.newBytes += stored.newBytes;
    }
    return { checksum };
  }

  /**
   * Seals the snapshot: the number of blocks put must match, and so must the
   * aggregate checksum when given (LINEAR: the SHA-256 of the blocks' SHA-256
   * digests in index order). Then it is `completed` and DescribeSnapshots,
   * RegisterImage and volumes see it.
   */
  complete(caller: string, region: string, id: string, r: { changedBlocksCount: number; checksum?: string; algorithm?: string; aggregationMethod?: string }): "completed" {
    const op = "CompleteSnapshot";
    const upload = this.pending(caller, region, id, op);
    const put = this.volumes.uploadBlocks(id);
    if (!Number.isInteger(r.changedBlocksCount) || r.changedBlocksCount !== put.size) {
      throw new Ec2Error("InvalidParameterValue", `ChangedBlocksCount is ${r.changedBlocksCount} but ${put.size} blocks were written to ${id}`, op);
    }
    if (r.checksum !== undefined) {
      if (r.algorithm !== "SHA256") throw new Ec2Error("InvalidParameterValue", `ChecksumAlgorithm must be SHA256, got '${r.algorithm ?? ""}'`, op);
      if (r.aggregationMethod !== "LINEAR") throw new Ec2Error("InvalidParameterValue", `ChecksumAggregationMethod must be LINEAR, got '${r.aggregationMethod ?? ""}'`, op);
      const aggregate = createHash("sha256");
      for (const index of [...put.keys()].sort((a, b) => a - b)) {
        const hash = put.get(index);
        aggregate.update(hash === undefined ? ZERO_BLOCK_DIGEST : Buffer.from(hash, "hex"));
      }
      const expected = aggregate.digest("base64");
      if (expected !== r.checksum) throw new Ec2Error("InvalidParameterValue", `The aggregate checksum '${r.checksum}' does not match the blocks written ('${expected}')`, op);
    }
    const { started } = upload;
    if (started.parentSnapshotId !== undefined) this.readable(caller, region, started.parentSnapshotId, op);
    const manifest = this.volumes.completeUpload(id, {
      size: upload.size,
      ...(started.parentSnapshotId !== undefined ? { parent: started.parentSnapshotId } : {}),
      ...(started.description !== undefined ? { description: started.description } : {}),
      newChunks: upload.newChunks,
      newBytes: upload.newBytes,
    });
    clearTimeout(upload.timer);
    this.uploads.delete(id);
    this.snapshots.adopt(caller, region, manifest, started.tags);
    return "completed";
  }

  /** The blocks holding data, in index order, each with the token GetSnapshotBlock asks for. */
  listBlocks(caller: string, region: string, id: string, page: PageRequest): BlockPage<{ index: number; token: string }> {
    const op = "ListSnapshotBlocks";
    const m = this.readable(caller, region, id, op);
    const indices = Object.keys(m.blocks).map(Number).sort((a, b) => a - b);
    return this.page(m, indices, page, op, (index) => ({ index, token: blockToken(m.blocks[index]!) }));
  }

  /**
   * The blocks that differ between two snapshots (every block holding data
   * in the second one without `firstSnapshotId`), with each side's token;
   * a side without a token holds zeros there.
   */
  changedBlocks(caller: string, region: string, secondId: string, firstId: string | undefined, page: PageRequest): BlockPage<{ index: number; firstToken?: string; secondToken?: string }> {
    const op = "ListChangedBlocks";
    const second = this.readable(caller, region, secondId, op);
    const first = firstId !== undefined ? this.readable(caller, region, firstId, op).blocks : {};
    const indices = [...new Set([...Object.keys(first), ...Object.keys(second.blocks)])]
      .filter((i) => first[i] !== second.blocks[i])
      .map(Number)
      .sort((a, b) => a - b);
    return this.page(second, indices, page, op, (index) => {
      const a = first[index];
      const b = second.blocks[index];
      return { index, ...(a ? { firstToken: blockToken(a) } : {}), ...(b ? { secondToken: blockToken(b) } : {}) };
    });
  }

  /** One block's bytes (verified against their hash) and base64 SHA-256; the token must be the one the lists gave. */
  getBlock(caller: string, region: string, id: string, index: number, token: string): { data: Uint8Array; checksum: string } {
    const op = "GetSnapshotBlock";
    const m = this.readable(caller, region, id, op);
    const hash = Number.isInteger(index) && index >= 0 ? m.blocks[index] : undefined;
    if (hash === undefined || blockToken(hash) !== token) throw new Ec2Error("InvalidBlockToken", `The block token is not valid for block ${index} of ${id}`, op);
    return { data: this.volumes.chunks.get(hash), checksum: blockToken(hash) };
  }

  /** Ends every upload's timer (the server is stopping; the next start sweeps what is left). */
  close(): void {
    for (const u of this.uploads.values()) clearTimeout(u.timer);
    this.uploads.clear();
  }

  /** An upload the caller may write to, or the error that says why not. */
  private pending(caller: string, region: string, id: string, op: string): Upload {
    checkId(id, op);
    const upload = this.uploads.get(id);
    if (upload && upload.region === region) {
      if (upload.started.ownerId !== caller) throw notYours(id, op);
      return upload;
    }
    const owner = this.snapshots.ownerOf(id);
    if (owner && owner.region === region) {
      if (owner.ownerId !== caller) throw notYours(id, op);
      throw new Ec2Error("IncorrectState", `The snapshot '${id}' is completed: blocks can only be written to a pending snapshot`, op);
    }
    throw notFound(id, op);
  }

  /** A completed snapshot the caller owns in the region: its manifest. */
  private readable(caller: string, region: string, id: string, op: string): SnapshotManifest {
    checkId(id, op);
    const upload = this.uploads.get(id);
    if (upload && upload.region === region) {
      if (upload.started.ownerId !== caller) throw notYours(id, op);
      throw new Ec2Error("IncorrectState", `The snapshot '${id}' is pending: complete it before reading its blocks`, op);
    }
    const owner = this.snapshots.ownerOf(id);
    if (!owner || owner.region !== region) throw notFound(id, op);
    if (owner.ownerId !== caller) throw notYours(id, op);
    return this.volumes.getSnapshot(id);
  }

  private page<T>(m: SnapshotManifest, indices: number[], r: PageRequest, op: string, item: (index: number) => T): BlockPage<T> {
    const max = r.maxResults ?? MAX_RESULTS.max;
    if (!Number.isInteger(max) || max < MAX_RESULTS.min || max > MAX_RESULTS.max) {
      throw new Ec2Error("InvalidParameterValue", `MaxResults must be ${MAX_RESULTS.min} to ${MAX_RESULTS.max}, got ${max}`, op);
    }
    let from = r.startingBlockIndex ?? 0;
    if (!Number.isInteger(from) || from < 0) throw new Ec2Error("InvalidParameterValue", `StartingBlockIndex must be a block index, got ${from}`, op);
    if (r.nextToken !== undefined) {
      // The token is the next block index to list, for this snapshot.
      const [tokenId, next] = Buffer.from(r.nextToken, "base64").toString("latin1").split(":");
      if (tokenId !== m.id || !/^\d{1,10}$/.test(next ?? "")) throw new Ec2Error("InvalidNextToken", "The NextToken is not one this snapshot's list gave", op);
      from = Math.max(from, Number(next));
    }
    const rest = indices.filter((i) => i >= from);
    const items = rest.slice(0, max);
    const next = rest.length > max ? Buffer.from(`${m.id}:${rest[max]}`, "latin1").toString("base64") : undefined;
    return { items: items.map(item), volumeSize: Math.max(1, Math.ceil(m.size / GiB)), blockSize: CHUNK_SIZE, ...(next ? { nextToken: next } : {}) };
  }

  /** Timeout: the upload and the blocks only it used go. */
  private drop(id: string): void {
    this.uploads.delete(id);
    try {
      this.volumes.abortUpload(id);
    } catch (err) {
      // The next server start sweeps it.
      console.error(`amiboot: could not drop the timed-out upload ${id} yet: ${(err as Error).message}`);
    }
  }
}

/** The snapshot's size in bytes: VolumeSize GiB, or the exact disk size amiboot's own tag gives. */
function diskSize(r: StartSnapshotRequest, op: string): number {
  const tag = r.tags.find((t) => t.key === DISK_SIZE_TAG);
  if (tag === undefined) return r.volumeSize * GiB;
  const bytes = Number(tag.value);
  if (!/^\d+$/.test(tag.value) || bytes <= 0 || bytes % SECTOR_SIZE !== 0 || bytes > r.volumeSize * GiB || bytes <= (r.volumeSize - 1) * GiB) {
    throw new Ec2Error("InvalidParameterValue", `The tag ${DISK_SIZE_TAG} must be a size in bytes, a multiple of ${SECTOR_SIZE}, that rounds up to VolumeSize ${r.volumeSize} GiB; got '${tag.value}'`, op);
  }
  return bytes;
}

/** A block's token: its SHA-256, base64 (what GetSnapshotBlock's checksum says too). */
function blockToken(hash: string): string {
  return Buffer.from(hash, "hex").toString("base64");
}

function checkId(id: string, op: string): void {
  if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, op);
}

function notFound(id: string, op: string): Ec2Error {
  return new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${id}' does not exist.`, op);
}

function notYours(id: string, op: string): Ec2Error {
  return new Ec2Error("UnauthorizedOperation", `You are not authorized to use the snapshot '${id}': it belongs to another account`, op);
}
