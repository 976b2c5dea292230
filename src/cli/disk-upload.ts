import { CompleteSnapshotCommand, PutSnapshotBlockCommand, StartSnapshotCommand } from "@aws-sdk/client-ebs";
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import { DISK_SIZE_TAG } from "../cloud/snapshot-uploads.js";
import { Ec2Error } from "../errors.js";
import { isZero, type Progress } from "../volumes/store.js";
import { ebs, type ClientFlags } from "./endpoint.js";

const BLOCK = 512 * 1024;
const SECTOR = 512;
const GiB = 1024 ** 3;
/** Blocks on the wire at once: enough to hide a request's latency, at 512 KiB of memory each. */
const IN_FLIGHT = 4;

/** What `amiboot snapshot import` reports. */
export interface UploadedDisk {
  id: string;
  /** Bytes (the file's size, rounded up to whole 512-byte sectors). */
  size: number;
  /** GiB, as EC2 states it. */
  volumeSize: number;
  blocksUploaded: number;
  zeroBlocksSkipped: number;
  ownerId: string;
  region: string;
  description?: string;
}

/**
 * Uploads a raw disk image as a snapshot of the caller's account in
 * `--region`, through the endpoint's EBS direct APIs, as any EBS-direct
 * client would: StartSnapshot, PutSnapshotBlock for each 512 KiB block that
 * is not all zeros (read from the file one block at a time, a few requests
 * in flight), CompleteSnapshot with the LINEAR aggregate checksum.
 */
export async function uploadDisk(o: ClientFlags, file: string, options: { description?: string; onProgress?: Progress } = {}): Promise<UploadedDisk> {
  const op = "cli.uploadDisk";
  let disk: fs.FileHandle;
  try {
    disk = await fs.open(file, "r");
  } catch (err) {
    throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': ${(err as Error).message}`, op);
  }
  try {
    const st = await disk.stat();
    if (!st.isFile()) throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': not a regular file`, op);
    if (st.size === 0) throw new Ec2Error("InvalidParameterValue", `cannot import '${file}': the file is empty`, op);
    const size = Math.ceil(st.size / SECTOR) * SECTOR;
    const volumeSize = Math.ceil(size / GiB);
    const client = ebs(o);
    const started = await client.send(
      new StartSnapshotCommand({
        VolumeSize: volumeSize,
        ClientToken: randomUUID(),
        ...(options.description ? { Description: options.description } : {}),
        // EBS direct speaks whole GiB; the exact size keeps the snapshot the disk's size.
        ...(size !== volumeSize * GiB ? { Tags: [{ Key: DISK_SIZE_TAG, Value: String(size) }] } : {}),
      }),
    );
    const snapshotId = started.SnapshotId!;
    const blocks = Math.ceil(st.size / BLOCK);
    const digests = new Map<number, Buffer>();
    let next = 0;
    let done = 0;
    let failed = false;
    const worker = async () => {
      const buf = Buffer.alloc(BLOCK);
      for (let index = next++; index < blocks && !failed; index = next++) {
        const { bytesRead } = await disk.read(buf, 0, BLOCK, index * BLOCK);
        buf.fill(0, bytesRead);
        if (!isZero(buf)) {
          const digest = createHash("sha256").update(buf).digest();
          digests.set(index, digest);
          await client.send(
            new PutSnapshotBlockCommand({
              SnapshotId: snapshotId,
              BlockIndex: index,
              BlockData: buf,
              DataLength: BLOCK,
              Checksum: digest.toString("base64"),
              ChecksumAlgorithm: "SHA256",
              Progress: Math.floor((100 * done) / blocks),
            }),
          );
        }
        done++;
        options.onProgress?.(Math.min(done * BLOCK, st.size), st.size);
      }
    };
    // The first failure stops the others; the file stays open until none is reading it.
    const ended = await Promise.allSettled(
      Array.from({ length: Math.min(IN_FLIGHT, blocks) }, () =>
        worker().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
    const failure = ended.find((r) => r.status === "rejected");
    if (failure) throw failure.reason;
    const aggregate = createHash("sha256");
    for (const index of [...digests.keys()].sort((a, b) => a - b)) aggregate.update(digests.get(index)!);
    await client.send(
      new CompleteSnapshotCommand({
        SnapshotId: snapshotId,
        ChangedBlocksCount: digests.size,
        Checksum: aggregate.digest("base64"),
        ChecksumAlgorithm: "SHA256",
        ChecksumAggregationMethod: "LINEAR",
      }),
    );
    return {
      id: snapshotId,
      size,
      volumeSize,
      blocksUploaded: digests.size,
      zeroBlocksSkipped: blocks - digests.size,
      ownerId: started.OwnerId!,
      region: o.region,
      ...(options.description ? { description: options.description } : {}),
    };
  } finally {
    await disk.close();
  }
}
