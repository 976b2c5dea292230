import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Accounts } from "../../src/cloud/accounts.js";
import { KeyPairs } from "../../src/cloud/key-pairs.js";
import { Tags } from "../../src/cloud/tags.js";
import { openDb } from "../../src/store/db.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "amiboot-keys-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = openDb(path.join(dir, "home"));
const tags = new Tags(db);
const keys = new KeyPairs(db, tags);
const owner = new Accounts(db).create().accountId;
const R = "us-east-1";

/** A digest openssl prints (`SHA1(stdin)= aa:bb:…` with -c) of what another openssl command writes. */
function opensslDigest(digest: "sha1" | "md5", args: string[], input?: string): string {
  const der = execFileSync("openssl", args, { stdio: ["pipe", "pipe", "ignore"], ...(input === undefined ? {} : { input }) });
  return execFileSync("openssl", [digest, "-c"], { input: der, encoding: "utf8" }).trim().split("= ")[1]!;
}

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
    // AWS's own check of a key it made: the SHA-1 of the PKCS#8 DER private key.
    expect(k.keyFingerprint).toBe(opensslDigest("sha1", ["pkcs8", "-inform", "PEM", "-outform", "DER", "-topk8", "-nocrypt"], k.keyMaterial));
  });

  it("fingerprints an imported rsa key as EC2 does: the MD5 of its DER public key, not of the SSH blob", () => {
    const file = path.join(dir, "imported-rsa");
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "me@laptop", "-f", file]);
    const line = fs.readFileSync(`${file}.pub`, "utf8").trim();
    const k = keys.import(owner, R, "imported-rsa", Buffer.from(`${line}\n`).toString("base64"), []);
    expect(k.keyType).toBe("rsa");
    expect(k.keyFingerprint).toBe(opensslDigest("md5", ["rsa", "-in", file, "-pubout", "-outform", "DER"]));
    const sshMd5 = execFileSync("ssh-keygen", ["-l", "-E", "md5", "-f", `${file}.pub`], { encoding: "utf8" });
    expect(sshMd5).not.toContain(k.keyFingerprint);
    expect(k.publicKey).toBe(`${line.split(" ").slice(0, 2).join(" ")} imported-rsa`);
    // The bare line (not base64) is taken too, as some clients send it.
    expect(keys.import(owner, R, "imported-rsa-line", line, []).keyFingerprint).toBe(k.keyFingerprint);
  });

  it("imports OpenSSH public keys, refuses what is not one, and keeps names unique", () => {
    const file = path.join(dir, "imported");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", file]);
    const line = fs.readFileSync(`${file}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const k = keys.import(owner, R, "imported", Buffer.from(`${line} me@laptop\n`).toString("base64"), []);
    expect(k.publicKey.split(" ").slice(0, 2).join(" ")).toBe(line);
    for (const bad of ["ssh-ed25519 AAAAnotakey", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "-----BEGIN PUBLIC KEY-----", `ssh-rsa ${line.split(" ")[1]}`]) {
      expect(() => keys.import(owner, R, "bad", Buffer.from(bad).toString("base64"), [])).toThrow(
        expect.objectContaining({ code: "InvalidKey.Format", message: "Key is not in valid OpenSSH public key format" }),
      );
    }
    expect(() => keys.create(owner, R, "laptop", "ed25519", [])).toThrow(expect.objectContaining({ code: "InvalidKeyPair.Duplicate", message: "The keypair 'laptop' already exists." }));
    expect(() => keys.get(owner, R, "nope", "RunInstances")).toThrow(expect.objectContaining({ code: "InvalidKeyPair.NotFound", message: "The key pair 'nope' does not exist" }));
    // Another region is another namespace.
    expect(keys.create(owner, "eu-west-1", "laptop", "ed25519", []).keyName).toBe("laptop");
    expect(keys.describe(owner, R, { keyNames: [], keyPairIds: [], filters: [{ name: "key-type", values: ["ed25519"] }] }).map((x) => x.keyName)).toEqual(["imported", "laptop"]);
    expect(keys.describe(owner, R, { keyNames: [], keyPairIds: [k.keyPairId], filters: [] }).map((x) => x.keyName)).toEqual(["imported"]);
    expect(keys.describe(owner, R, { keyNames: [], keyPairIds: [], filters: [{ name: "fingerprint", values: [k.keyFingerprint] }] }).map((x) => x.keyName)).toEqual(["imported"]);
    expect(() => keys.describe(owner, R, { keyNames: ["nope"], keyPairIds: [], filters: [] })).toThrow(expect.objectContaining({ code: "InvalidKeyPair.NotFound", message: "The key pair 'nope' does not exist" }));
    expect(keys.delete(owner, R, { keyName: "imported" }).keyPairId).toBe(k.keyPairId);
    expect(keys.delete(owner, R, { keyName: "imported" })).toEqual({});
    expect(keys.describe(owner, R, { keyNames: [], keyPairIds: [], filters: [{ name: "key-name", values: ["imported"] }] })).toEqual([]);
  });
});
