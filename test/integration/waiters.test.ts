import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../src/cloud/accounts.js";
import { TestEndpoint } from "../ec2.js";
import { awsClientEnv, image, ROOT, runProgram } from "../helpers.js";

/**
 * boto3's EC2 waiters (Debian's python3-boto3) against a real lifecycle:
 * each one returns once its resource reaches the awaited state
 * (test/clients/boto3_waiters.py). The instance boots idle.img, which prints
 * the marker and idles, so the status waiters see `ok`.
 */
const endpoint = new TestEndpoint();
let owner: Credentials;
let snapshotId: string;

beforeAll(async () => {
  const { cloud } = await endpoint.start();
  owner = cloud.accounts.defaultAccount();
  snapshotId = cloud.snapshots.importDisk(owner.accountId, "us-east-1", image("idle.img")).snapshotId;
});
afterAll(() => endpoint.dispose());

describe("boto3's EC2 waiters", () => {
  it("each returns when its image, instance, volume, snapshot, key pair or security group gets there", async () => {
    const client = { endpoint: endpoint.server.url, accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey, snapshotId };
    const r = await runProgram("/usr/bin/python3", ["-I", path.join(ROOT, "test", "clients", "boto3_waiters.py")], awsClientEnv(path.join(endpoint.home, "py"), { AMIBOOT_CLIENT: JSON.stringify(client) }), 170_000);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).waiters).toEqual([
      "image_available",
      "image_exists",
      "key_pair_exists",
      "security_group_exists",
      "instance_exists",
      "instance_running",
      "instance_status_ok",
      "system_status_ok",
      "volume_available",
      "instance_stopped",
      "volume_in_use",
      "snapshot_completed",
      "volume_available",
      "volume_deleted",
      "instance_terminated",
    ]);
  });
});
