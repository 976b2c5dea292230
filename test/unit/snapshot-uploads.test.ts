import { createHash } from "node:crypto";
import fs from "node:fs";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { Cloud } from "../../src/cloud/cloud.js";
import { DISK_SIZE_TAG } from "../../src/cloud/snapshot-uploads.js";
import { CHUNK_SIZE } from "../../src/volumes/chunk-store.js";
import { tempDir } from "../helpers.js";

const home = tempDir();
const cloud = new Cloud(home);
const owner = cloud.accounts.defaultAccount().accountId;
afterAll(() => {
  cloud.close();
  fs.rmSync(home, { recursive: true, force: true });
});
afterEach(() => vi.useRealTimers());

describe("SnapshotUploads", () => {
  it("drops an upload not completed within its Timeout, and frees its blocks", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { snapshotId } = cloud.uploads.start(owner, "us-east-1", { volumeSize: 1, tags: [], timeout: 10 });
    cloud.uploads.put(owner, "us-east-1", snapshotId, 0, Buffer.alloc(CHUNK_SIZE, 5), { dataLength: CHUNK_SIZE, checksum: sha(Buffer.alloc(CHUNK_SIZE, 5)), algorithm: "SHA256" });
    expect(cloud.volumes.listUploads()).toEqual([snapshotId]);
    vi.advanceTimersByTime(9 * 60_000);
    expect(cloud.volumes.listUploads()).toEqual([snapshotId]);
    vi.advanceTimersByTime(60_000);
    expect(cloud.volumes.listUploads()).toEqual([]);
    expect(cloud.volumes.chunks.list()).toEqual([]);
    expect(() => cloud.uploads.complete(owner, "us-east-1", snapshotId, { changedBlocksCount: 1 })).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound" }));
  });

  it("checks StartSnapshot's parameters with exact messages", () => {
    const start = (r: Partial<Parameters<typeof cloud.uploads.start>[2]>) => () => cloud.uploads.start(owner, "us-east-1", { volumeSize: 1, tags: [], ...r });
    expect(start({ volumeSize: 65_537 })).toThrow("VolumeSize must be 1 to 65536 GiB, got 65537");
    expect(start({ timeout: 5 })).toThrow("Timeout must be 10 to 4320 minutes, got 5");
    expect(start({ tags: [{ key: DISK_SIZE_TAG, value: "1000" }] })).toThrow(/multiple of 512/);
    expect(start({ volumeSize: 2, tags: [{ key: DISK_SIZE_TAG, value: "512" }] })).toThrow(/rounds up to VolumeSize 2 GiB/);
    // An exact disk size bounds the blocks: 1 MiB is blocks 0 and 1.
    const { snapshotId } = start({ tags: [{ key: DISK_SIZE_TAG, value: String(1024 * 1024) }] })();
    const data = Buffer.alloc(CHUNK_SIZE, 1);
    expect(() => cloud.uploads.put(owner, "us-east-1", snapshotId, 2, data, { dataLength: CHUNK_SIZE, checksum: sha(data), algorithm: "SHA256" })).toThrow(
      "The block index 2 is outside the volume: its blocks are 0 to 1",
    );
  });
});

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("base64");
}
