import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Accounts } from "../../src/cloud/accounts.js";
import { InstanceNetworks } from "../../src/cloud/instance-network.js";
import { KeyPairs } from "../../src/cloud/key-pairs.js";
import { SecurityGroups } from "../../src/cloud/security-groups.js";
import { Tags } from "../../src/cloud/tags.js";
import { openDb } from "../../src/store/db.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-keys-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = openDb(path.join(dir, "home"));
const tags = new Tags(db);
const keys = new KeyPairs(db, tags);
const owner = new Accounts(db).create().accountId;
const R = "us-east-1";

/** What OpenSSH's own ssh-keygen makes of a private key: its public key line. */
function publicOf(privateKey: string): string {
  const file = path.join(dir, `k-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, privateKey, { mode: 0o600 });
  return execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
}

describe("key pairs", () => {
  it("creates ed25519 keys in OpenSSH's format that ssh-keygen reads back as the stored public key", () => {
    const k = keys.create(owner, R, "laptop", "ed25519", []);
    expect(k.keyMaterial).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n$/);
    expect(k.keyPairId).toMatch(/^key-[0-9a-f]{17}$/);
    const [type, blob] = k.publicKey.split(" ");
    expect(publicOf(k.keyMaterial)).toMatch(new RegExp(`^${type} ${blob!.replace(/[+/]/g, "\\$&")}`));
    expect(k.keyFingerprint).toBe(createHash("sha256").update(Buffer.from(blob!, "base64")).digest("base64"));
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", "-"], { input: `${k.publicKey}\n`, encoding: "utf8" });
    expect(fingerprint).toContain(`SHA256:${k.keyFingerprint.replace(/=+$/, "")}`);
  });

  it("creates rsa keys in PKCS#1 PEM with EC2's SHA-1 fingerprint; ssh-keygen agrees on the public key", () => {
    const k = keys.create(owner, R, "rsa-key", undefined, []);
    expect(k.keyType).toBe("rsa");
    expect(k.keyMaterial.startsWith("-----BEGIN RSA PRIVATE KEY-----\n")).toBe(true);
    expect(k.keyFingerprint).toMatch(/^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
    expect(publicOf(k.keyMaterial)).toBe(k.publicKey.split(" ").slice(0, 2).join(" "));
  });

  it("imports OpenSSH public keys, refuses what is not one, and keeps names unique", () => {
    const file = path.join(dir, "imported");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", file]);
    const line = fs.readFileSync(`${file}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const k = keys.import(owner, R, "imported", Buffer.from(`${line} me@laptop\n`).toString("base64"), []);
    expect(k.publicKey.split(" ").slice(0, 2).join(" ")).toBe(line);
    expect(() => keys.import(owner, R, "bad", Buffer.from("ssh-ed25519 AAAAnotakey").toString("base64"), [])).toThrow(
      expect.objectContaining({ code: "InvalidKey.Format", message: "Key is not in valid OpenSSH public key format" }),
    );
    expect(() => keys.create(owner, R, "laptop", "ed25519", [])).toThrow(expect.objectContaining({ code: "InvalidKeyPair.Duplicate", message: "The keypair 'laptop' already exists." }));
    expect(() => keys.get(owner, R, "nope", "RunInstances")).toThrow(expect.objectContaining({ code: "InvalidKeyPair.NotFound", message: "The key pair 'nope' does not exist" }));
    // Another region is another namespace.
    expect(keys.create(owner, "eu-west-1", "laptop", "ed25519", []).keyName).toBe("laptop");
    expect(keys.describe(owner, R, { keyNames: [], keyPairIds: [], filters: [{ name: "key-type", values: ["ed25519"] }] }).map((x) => x.keyName)).toEqual(["imported", "laptop"]);
    expect(keys.delete(owner, R, { keyName: "imported" }).keyPairId).toBe(k.keyPairId);
    expect(keys.delete(owner, R, { keyName: "imported" })).toEqual({});
  });
});

describe("security groups and port forwards", () => {
  const groups = new SecurityGroups(db, tags);
  const networks = new InstanceNetworks(db, keys, groups);

  it("opens a host port for each TCP port the host (127.0.0.1) may reach, on the instance's own address", () => {
    const g = groups.create(owner, R, { name: "web", description: "web", tags: [] });
    groups.authorize(owner, R, { groupId: g.groupId }, [
      { protocol: "tcp", fromPort: 22, toPort: 22, source: "0.0.0.0/0" },
      { protocol: "tcp", fromPort: 8000, toPort: 8001, source: "127.0.0.0/8" },
      { protocol: "tcp", fromPort: 9000, toPort: 9000, source: "10.0.0.0/8" },
      { protocol: "udp", fromPort: 53, toPort: 53, source: "0.0.0.0/0" },
    ]);
    const network = { publicIp: "127.77.0.9", groups: [{ id: g.groupId, name: "web" }] } as Parameters<typeof networks.forwards>[0];
    expect(networks.forwards(network)).toEqual([
      { guestPort: 22, hostAddress: "127.77.0.9", hostPort: 10022 },
      { guestPort: 8000, hostAddress: "127.77.0.9", hostPort: 8000 },
      { guestPort: 8001, hostAddress: "127.77.0.9", hostPort: 8001 },
    ]);
    groups.revoke(owner, R, { groupName: "web" }, [{ protocol: "tcp", fromPort: 22, toPort: 22, source: "0.0.0.0/0" }]);
    expect(networks.forwards(network).map((f) => f.guestPort)).toEqual([8000, 8001]);
  });

  it("answers EC2's errors for duplicates, missing rules, reserved and default groups", () => {
    expect(() => groups.create(owner, R, { name: "web", description: "again", tags: [] })).toThrow(expect.objectContaining({ code: "InvalidGroup.Duplicate" }));
    expect(() => groups.create(owner, R, { name: "default", description: "x", tags: [] })).toThrow(expect.objectContaining({ code: "InvalidGroup.Reserved" }));
    const rule = { protocol: "tcp", fromPort: 8000, toPort: 8001, source: "127.0.0.0/8" };
    expect(() => groups.authorize(owner, R, { groupName: "web" }, [rule])).toThrow(expect.objectContaining({ code: "InvalidPermission.Duplicate" }));
    expect(() => groups.revoke(owner, R, { groupName: "web" }, [{ ...rule, toPort: 8002 }])).toThrow(expect.objectContaining({ code: "InvalidPermission.NotFound" }));
    expect(() => groups.authorize(owner, R, { groupName: "web" }, [{ ...rule, source: "300.0.0.0/8" }])).toThrow(expect.objectContaining({ code: "InvalidParameterValue" }));
    const def = groups.ensureDefault(owner, R);
    expect(def.rules).toEqual([{ protocol: "-1", fromPort: -1, toPort: -1, source: def.groupId }]);
    expect(() => groups.delete(owner, R, { groupId: def.groupId })).toThrow(expect.objectContaining({ code: "CannotDelete" }));
    expect(() => groups.find(owner, R, { groupId: "sg-00000000000000000" }, "x")).toThrow(expect.objectContaining({ code: "InvalidGroup.NotFound" }));
    expect(groups.delete(owner, R, { groupName: "web" })).toMatch(/^sg-/);
  });
});
