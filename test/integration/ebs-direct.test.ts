import {
  CompleteSnapshotCommand,
  EBSClient,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  paginateListSnapshotBlocks,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
} from "@aws-sdk/client-ebs";
import { DescribeSnapshotsCommand, RegisterImageCommand } from "@aws-sdk/client-ec2";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../src/cloud/accounts.js";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "../../src/cli/endpoint.js";
import { TestEndpoint } from "../ec2.js";
import { ROOT } from "../helpers.js";

const BLOCK = 512 * 1024;
const endpoint = new TestEndpoint();
let owner: Credentials;
let other: Credentials;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  other = cloud.accounts.create();
});
afterAll(() => endpoint.dispose());

/** The real AWS SDK's EBS client, pointed at amiboot. */
const ebs = (c: Credentials, region = "us-east-1") =>
  new EBSClient({ endpoint: endpoint.server.url, region, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }, maxAttempts: 1 });

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
const block = (fill: number) => Buffer.alloc(BLOCK, fill);

function put(c: Credentials, snapshotId: string, index: number, data: Buffer, checksum = sha(data).toString("base64")) {
  return ebs(c).send(new PutSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: index, BlockData: data, DataLength: data.length, Checksum: checksum, ChecksumAlgorithm: "SHA256" }));
}

/** The EBS exception a call failed with: its name, HTTP status and Reason. */
async function ebsError(p: Promise<unknown>): Promise<{ name: string; status?: number; reason?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; Reason?: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message, ...(e.Reason ? { reason: e.Reason } : {}) };
  }
  throw new Error("expected an EBS exception");
}

/** Uploads blocks (index -> bytes) as a new snapshot and completes it with the LINEAR aggregate checksum. */
async function upload(blocks: Map<number, Buffer>, extra: { ParentSnapshotId?: string; VolumeSize?: number } = {}): Promise<string> {
  const s = await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: extra.VolumeSize ?? 1, ...extra }));
  const sorted = [...blocks.keys()].sort((a, b) => a - b);
  for (const i of sorted) await put(owner, s.SnapshotId!, i, blocks.get(i)!);
  const aggregate = sha(Buffer.concat(sorted.map((i) => sha(blocks.get(i)!)))).toString("base64");
  const done = await ebs(owner).send(
    new CompleteSnapshotCommand({ SnapshotId: s.SnapshotId!, ChangedBlocksCount: blocks.size, Checksum: aggregate, ChecksumAlgorithm: "SHA256", ChecksumAggregationMethod: "LINEAR" }),
  );
  expect(done.Status).toBe("completed");
  return s.SnapshotId!;
}

describe("EBS direct APIs through @aws-sdk/client-ebs", () => {
  it("starts, puts blocks, completes; the snapshot is the caller's and its blocks read back", async () => {
    const start = await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1, Description: "direct", Tags: [{ Key: "team", Value: "disk" }] }));
    expect(start).toMatchObject({ SnapshotId: expect.stringMatching(/^snap-[0-9a-f]{17}$/), OwnerId: owner.accountId, Status: "pending", VolumeSize: 1, BlockSize: BLOCK, Description: "direct", Tags: [{ Key: "team", Value: "disk" }] });
    expect(start.StartTime).toBeInstanceOf(Date);
    const id = start.SnapshotId!;
    const data = randomBytes(BLOCK);
    const r = await put(owner, id, 3, data);
    expect(r).toMatchObject({ Checksum: sha(data).toString("base64"), ChecksumAlgorithm: "SHA256" });
    await put(owner, id, 0, block(7));
    await put(owner, id, 5, block(0));
    const chunksBefore = endpoint.cloud.volumes.chunks.list().length;

    // Pending: not yet a snapshot anyone sees.
    expect(await ebsError(ebs(owner).send(new ListSnapshotBlocksCommand({ SnapshotId: id })))).toMatchObject({ name: "ValidationException", status: 400 });
    expect((await endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots!.map((s) => s.SnapshotId)).not.toContain(id);

    expect(await ebsError(ebs(owner).send(new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: 2 })))).toMatchObject({ name: "ValidationException", status: 400, reason: "INVALID_PARAMETER_VALUE" });
    const wrongAggregate = { SnapshotId: id, ChangedBlocksCount: 3, Checksum: sha(Buffer.from("no")).toString("base64"), ChecksumAlgorithm: "SHA256" as const, ChecksumAggregationMethod: "LINEAR" as const };
    expect(await ebsError(ebs(owner).send(new CompleteSnapshotCommand(wrongAggregate)))).toMatchObject({ name: "ValidationException", message: expect.stringMatching(/aggregate checksum/) });
    const aggregate = sha(Buffer.concat([sha(block(7)), sha(data), sha(block(0))])).toString("base64");
    expect((await ebs(owner).send(new CompleteSnapshotCommand({ ...wrongAggregate, Checksum: aggregate }))).Status).toBe("completed");

    const described = (await endpoint.ec2(owner).send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots![0]!;
    expect(described).toMatchObject({ SnapshotId: id, OwnerId: owner.accountId, State: "completed", VolumeSize: 1, Description: "direct", Tags: [{ Key: "team", Value: "disk" }] });

    const list = await ebs(owner).send(new ListSnapshotBlocksCommand({ SnapshotId: id }));
    expect(list).toMatchObject({ VolumeSize: 1, BlockSize: BLOCK });
    expect(list.Blocks!.map((b) => b.BlockIndex)).toEqual([0, 3]);
    const got = await ebs(owner).send(new GetSnapshotBlockCommand({ SnapshotId: id, BlockIndex: 3, BlockToken: list.Blocks![1]!.BlockToken! }));
    expect(got).toMatchObject({ DataLength: BLOCK, Checksum: sha(data).toString("base64"), ChecksumAlgorithm: "SHA256" });
    expect(Buffer.from(await got.BlockData!.transformToByteArray()).equals(data)).toBe(true);
    expect(await ebsError(ebs(owner).send(new GetSnapshotBlockCommand({ SnapshotId: id, BlockIndex: 0, BlockToken: list.Blocks![1]!.BlockToken! })))).toMatchObject({
      name: "ValidationException",
      reason: "INVALID_BLOCK_TOKEN",
    });

    // Completed: no more blocks, nothing changes.
    expect(await ebsError(put(owner, id, 1, block(9)))).toMatchObject({ name: "ValidationException", status: 400 });
    expect(endpoint.cloud.volumes.chunks.list().length).toBe(chunksBefore);
    // The snapshot registers as an image like any other.
    const img = await endpoint.ec2(owner).send(new RegisterImageCommand({ Name: "from-ebs-direct", RootDeviceName: "/dev/sda1", BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: id } }] }));
    expect(img.ImageId).toMatch(/^ami-/);
    expect(endpoint.cloud.volumes.verify().problems).toEqual([]);
  });

  it("refuses bad blocks, other accounts and unknown ids with EBS's exceptions, and stores nothing", async () => {
    const id = (await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    const chunks = endpoint.cloud.volumes.chunks.list().length;
    const data = block(42);
    expect(await ebsError(put(owner, id, 0, data, sha(block(43)).toString("base64")))).toMatchObject({ name: "ValidationException", status: 400, reason: "INVALID_BLOCK", message: expect.stringMatching(/checksum/) });
    const small = Buffer.alloc(4096, 1);
    expect(await ebsError(put(owner, id, 0, small))).toMatchObject({ name: "ValidationException", reason: "INVALID_BLOCK", message: expect.stringMatching(/exactly 524288 bytes/) });
    // 1 GiB is blocks 0 to 2047.
    expect(await ebsError(put(owner, id, 2048, data))).toMatchObject({ name: "ValidationException", reason: "INVALID_BLOCK", message: expect.stringMatching(/outside the volume/) });
    expect(await ebsError(put(other, id, 0, data))).toMatchObject({ name: "AccessDeniedException", status: 403, reason: "UNAUTHORIZED_ACCOUNT" });
    expect(await ebsError(put(owner, "snap-00000000000000000", 0, data))).toMatchObject({ name: "ResourceNotFoundException", status: 404, reason: "SNAPSHOT_NOT_FOUND" });
    expect(await ebsError(put(owner, "snap-nope", 0, data))).toMatchObject({ name: "ValidationException", reason: "INVALID_SNAPSHOT_ID" });
    // Another region is another EBS: the snapshot is not there.
    expect(await ebsError(ebs(owner, "eu-west-1").send(new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: 0 })))).toMatchObject({ name: "ResourceNotFoundException" });
    expect(endpoint.cloud.volumes.chunks.list().length).toBe(chunks);
    expect(endpoint.cloud.volumes.uploadBlocks(id).size).toBe(0);

    expect(await ebsError(ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 0 })))).toMatchObject({ name: "ValidationException", status: 400 });
    expect(await ebsError(ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1, Encrypted: true })))).toMatchObject({ name: "ValidationException" });
    expect(await ebsError(ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1, ParentSnapshotId: "snap-00000000000000000" })))).toMatchObject({ name: "ResourceNotFoundException" });
    // A retry with the same ClientToken gets the same snapshot; other parameters with it are a conflict.
    const a = await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: "retry-1" }));
    const b = await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: "retry-1" }));
    expect(b.SnapshotId).toBe(a.SnapshotId);
    expect(await ebsError(ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 2, ClientToken: "retry-1" })))).toMatchObject({ name: "ConflictException", status: 409 });
  });

  it("a child of ParentSnapshotId keeps the parent's blocks it did not put; ListChangedBlocks and paging", async () => {
    const parentBlocks = new Map<number, Buffer>();
    for (let i = 0; i < 150; i++) parentBlocks.set(i, block(1 + (i % 3)));
    const parent = await upload(parentBlocks);
    const child = await upload(
      new Map([
        [0, block(0)],
        [5, block(99)],
        [200, block(4)],
      ]),
      { ParentSnapshotId: parent },
    );
    const pages: number[][] = [];
    for await (const page of paginateListSnapshotBlocks({ client: ebs(owner), pageSize: 100 }, { SnapshotId: child })) pages.push(page.Blocks!.map((b) => b.BlockIndex!));
    expect(pages.map((p) => p.length)).toEqual([100, 50]);
    expect(pages.flat()).toEqual([...Array.from({ length: 149 }, (_, i) => i + 1), 200]);

    const changed = await ebs(owner).send(new ListChangedBlocksCommand({ FirstSnapshotId: parent, SecondSnapshotId: child }));
    expect(changed.ChangedBlocks!.map((b) => [b.BlockIndex, Boolean(b.FirstBlockToken), Boolean(b.SecondBlockToken)])).toEqual([
      [0, true, false],
      [5, true, true],
      [200, false, true],
    ]);
    const five = changed.ChangedBlocks![1]!;
    const read = async (id: string, token: string) => Buffer.from(await (await ebs(owner).send(new GetSnapshotBlockCommand({ SnapshotId: id, BlockIndex: 5, BlockToken: token }))).BlockData!.transformToByteArray());
    expect((await read(parent, five.FirstBlockToken!)).equals(block(3))).toBe(true);
    expect((await read(child, five.SecondBlockToken!)).equals(block(99))).toBe(true);
    expect(await ebsError(ebs(other).send(new ListChangedBlocksCommand({ FirstSnapshotId: parent, SecondSnapshotId: child })))).toMatchObject({ name: "AccessDeniedException" });
    expect(await ebsError(ebs(owner).send(new ListSnapshotBlocksCommand({ SnapshotId: child, NextToken: "AAAA" })))).toMatchObject({ name: "ValidationException", reason: "INVALID_PAGE_TOKEN" });
    expect(endpoint.cloud.volumes.verify().problems).toEqual([]);
  });

  it("an upload never completed is dropped at the next server start, its blocks freed", async () => {
    const id = (await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    const unique = randomBytes(BLOCK);
    await put(owner, id, 0, unique);
    const hash = sha(unique).toString("hex");
    expect(endpoint.cloud.volumes.chunks.has(hash)).toBe(true);
    // A collection meanwhile keeps the pending upload's chunks.
    endpoint.cloud.volumes.abortUpload("snap-00000000000000000");
    expect(endpoint.cloud.volumes.chunks.has(hash)).toBe(true);
    await endpoint.restart();
    expect(endpoint.cloud.volumes.listUploads()).toEqual([]);
    expect(endpoint.cloud.volumes.chunks.has(hash)).toBe(false);
    expect(await ebsError(put(owner, id, 1, unique))).toMatchObject({ name: "ResourceNotFoundException" });
  });
});

/** A request signed by hand, to try what the SDK never sends. */
async function raw(method: string, p: string, o: { service?: string; headers?: Record<string, string>; body?: Buffer | string } = {}) {
  const url = new URL(endpoint.server.url);
  const signer = new SignatureV4({ credentials: { accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey }, region: "us-east-1", service: o.service ?? "ebs", sha256: Sha256 });
  const signed = await signer.sign({ method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: p, headers: { host: url.host, ...o.headers }, ...(o.body ? { body: o.body } : {}) });
  const res = await fetch(new URL(p, url), { method, headers: signed.headers as Record<string, string>, ...(o.body ? { body: o.body } : {}) });
  return { status: res.status, type: res.headers.get("x-amzn-errortype"), json: (await res.json()) as { Message?: string } };
}

describe("EBS direct requests the SDK never sends", () => {
  it("answers a wrong service scope, an unknown route and an unsigned body with EBS's error shapes", async () => {
    expect(await raw("POST", "/snapshots", { service: "ec2", body: '{"VolumeSize":1}' })).toMatchObject({ status: 403, type: "InvalidSignatureException", json: { Message: expect.stringMatching(/'ebs'/) } });
    expect(await raw("DELETE", "/snapshots/snap-00000000000000000")).toMatchObject({ status: 404, type: "UnknownOperationException" });
    expect(await raw("POST", "/snapshots", { headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }, body: '{"VolumeSize":1}' })).toMatchObject({ status: 400, type: "IncompleteSignatureException" });
    expect(await raw("POST", "/snapshots", { body: "{not json" })).toMatchObject({ status: 400, type: "ValidationException" });
  });

  it("takes a block sent UNSIGNED-PAYLOAD when its checksum header is signed", async () => {
    const id = (await ebs(owner).send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    const data = block(77);
    const headers = { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-data-length": String(BLOCK), "x-amz-checksum-algorithm": "SHA256", "x-amz-checksum": sha(data).toString("base64") };
    expect(await raw("PUT", `/snapshots/${id}/blocks/0`, { headers, body: data })).toMatchObject({ status: 201 });
    // The body is then covered by the checksum alone: another body is refused.
    expect(await raw("PUT", `/snapshots/${id}/blocks/1`, { headers, body: block(78) })).toMatchObject({ status: 400, type: "ValidationException" });
    expect([...endpoint.cloud.volumes.uploadBlocks(id).keys()]).toEqual([0]);
  });
});

describe("EBS direct through Debian's python3-boto3", () => {
  const python = "/usr/bin/python3";
  const hasBoto3 = fs.existsSync(python) && fs.existsSync("/usr/lib/python3/dist-packages/boto3");
  it.skipIf(!hasBoto3)("boto3's ebs client uploads a snapshot that DescribeSnapshots then shows", async () => {
    const env = {
      PATH: "/usr/bin:/bin",
      HOME: endpoint.home,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ACCESS_KEY_ID: owner.accessKeyId,
      AWS_SECRET_ACCESS_KEY: owner.secretAccessKey,
      AMIBOOT_ENDPOINT: endpoint.server.url,
    };
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(python, ["-I", path.join(ROOT, "test", "clients", "boto3_ebs_upload.py")], { env, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })),
    );
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r).toMatchObject({ status: "completed", blocks: [0, 2], described: { State: "completed", OwnerId: owner.accountId, VolumeSize: 1 } });
  });
});
