import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { Ec2Error } from "../errors.js";
import type { Db } from "../store/db.js";
import { filterPredicate, type Filter } from "./filters.js";
import type { Tag, Tags } from "./tags.js";

/**
 * Key pairs per account and region, as EC2 keeps them: only the public key
 * is stored (OpenSSH's one-line form); a created key's private half is
 * returned once and forgotten. Formats as EC2 gives them: RSA private keys
 * in PKCS#1 PEM, ed25519 in OpenSSH's own format; fingerprints as EC2
 * computes them (created RSA: SHA-1 of the PKCS#8 DER private key; imported
 * RSA: MD5 of the DER public key (SubjectPublicKeyInfo, what
 * `openssl rsa -pubout -outform DER | openssl md5 -c` prints: not ssh-keygen's
 * MD5 of the SSH blob); ed25519: base64 SHA-256 of the SSH public key blob,
 * padded, i.e. ssh-keygen's `SHA256:` fingerprint with a trailing `=`).
 */
export interface KeyPair {
  keyPairId: string;
  keyName: string;
  keyType: "rsa" | "ed25519";
  keyFingerprint: string;
  /** `ssh-ed25519 AAAA… NAME` */
  publicKey: string;
  createTime: string;
  tags: Tag[];
}

interface Row {
  id: string;
  name: string;
  key_type: "rsa" | "ed25519";
  fingerprint: string;
  public_key: string;
  created_at: string;
}

const FILTERS: Record<string, (k: KeyPair) => (string | undefined)[]> = {
  "key-name": (k) => [k.keyName],
  "key-pair-id": (k) => [k.keyPairId],
  fingerprint: (k) => [k.keyFingerprint],
  "key-type": (k) => [k.keyType],
};

export class KeyPairs {
  constructor(
    private readonly db: Db,
    private readonly tags: Tags,
  ) {}

  create(caller: string, region: string, name: string | undefined, type: string | undefined, tags: Tag[]): KeyPair & { keyMaterial: string } {
    const op = "CreateKeyPair";
    const keyName = checkName(name, op);
    const keyType = type ?? "rsa";
    if (keyType !== "rsa" && keyType !== "ed25519") throw new Ec2Error("InvalidParameterValue", `Value (${keyType}) for parameter keyType is invalid. Valid values are rsa and ed25519.`, op);
    this.checkFree(caller, region, keyName, op);
    let keyMaterial: string;
    let publicBlob: Buffer;
    let fingerprint: string;
    if (keyType === "rsa") {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      keyMaterial = privateKey.export({ type: "pkcs1", format: "pem" }) as string;
      const jwk = privateKey.export({ format: "jwk" });
      publicBlob = sshBlob(["ssh-rsa", mpint(b64url(jwk.e!)), mpint(b64url(jwk.n!))]);
      fingerprint = colonHex(createHash("sha1").update(privateKey.export({ type: "pkcs8", format: "der" })).digest());
    } else {
      const { privateKey } = generateKeyPairSync("ed25519");
      const jwk = privateKey.export({ format: "jwk" });
      const pk = b64url(jwk.x!);
      publicBlob = sshBlob(["ssh-ed25519", pk]);
      keyMaterial = openSshEd25519(b64url(jwk.d!), pk, publicBlob, keyName);
      fingerprint = sha256Fingerprint(publicBlob);
    }
    const pair = this.insert(caller, region, keyName, keyType, fingerprint, publicBlob, tags, op);
    return { ...pair, keyMaterial };
  }

  import(caller: string, region: string, name: string | undefined, material: string | undefined, tags: Tag[]): KeyPair {
    const op = "ImportKeyPair";
    const keyName = checkName(name, op);
    if (material === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter PublicKeyMaterial", op);
    // The Query API carries the key file's bytes in base64; a client may also send the line itself.
    const decoded = Buffer.from(material, "base64").toString("latin1");
    const line = /^ssh-(rsa|ed25519) /.test(decoded) ? decoded : material;
    const { type, blob } = parseOpenSsh(line.trim(), op);
    this.checkFree(caller, region, keyName, op);
    const fingerprint = type === "rsa" ? colonHex(createHash("md5").update(rsaPublicDer(blob)).digest()) : sha256Fingerprint(blob);
    return this.insert(caller, region, keyName, type, fingerprint, blob, tags, op);
  }

  describe(caller: string, region: string, r: { keyNames: string[]; keyPairIds: string[]; filters: Filter[] }): KeyPair[] {
    const op = "DescribeKeyPairs";
    const all = (this.db.prepare("select * from key_pairs where region = ? and owner_id = ? order by name").all(region, caller) as Row[]).map((row) => this.toKeyPair(row));
    for (const name of r.keyNames) if (!all.some((k) => k.keyName === name)) throw notFound(name, op);
    for (const id of r.keyPairIds) {
      if (!all.some((k) => k.keyPairId === id)) throw new Ec2Error("InvalidKeyPair.NotFound", `The key pair '${id}' does not exist`, op);
    }
    return all
      .filter((k) => (r.keyNames.length === 0 || r.keyNames.includes(k.keyName)) && (r.keyPairIds.length === 0 || r.keyPairIds.includes(k.keyPairId)))
      .filter(filterPredicate(FILTERS, (k) => k.tags, r.filters, op));
  }

  /** A key the caller launches with (`KeyName`). */
  get(caller: string, region: string, name: string, op: string): KeyPair {
    const row = this.db.prepare("select * from key_pairs where region = ? and owner_id = ? and name = ?").get(region, caller, name) as Row | undefined;
    if (!row) throw notFound(name, op);
    return this.toKeyPair(row);
  }

  /** Deleting a key that does not exist succeeds, as in EC2; instances keep the key they got. */
  delete(caller: string, region: string, r: { keyName?: string; keyPairId?: string }): { keyPairId?: string } {
    const op = "DeleteKeyPair";
    if (r.keyName === undefined && r.keyPairId === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter KeyName or KeyPairId", op);
    const row = (r.keyPairId !== undefined
      ? this.db.prepare("select * from key_pairs where region = ? and owner_id = ? and id = ?").get(region, caller, r.keyPairId)
      : this.db.prepare("select * from key_pairs where region = ? and owner_id = ? and name = ?").get(region, caller, r.keyName)) as Row | undefined;
    if (!row) return {};
    this.db.transaction(() => {
      this.db.prepare("delete from key_pairs where id = ?").run(row.id);
      this.tags.forget(row.id);
    })();
    return { keyPairId: row.id };
  }

  private checkFree(caller: string, region: string, name: string, op: string): void {
    if (this.db.prepare("select 1 from key_pairs where region = ? and owner_id = ? and name = ?").get(region, caller, name)) {
      throw new Ec2Error("InvalidKeyPair.Duplicate", `The keypair '${name}' already exists.`, op);
    }
  }

  private insert(caller: string, region: string, name: string, type: "rsa" | "ed25519", fingerprint: string, blob: Buffer, tags: Tag[], op: string): KeyPair {
    const id = `key-${randomBytes(9).toString("hex").slice(0, 17)}`;
    const now = new Date().toISOString();
    const publicKey = `ssh-${type} ${blob.toString("base64")} ${name}`;
    this.db.transaction(() => {
      this.db.prepare("insert into key_pairs (id, region, owner_id, name, key_type, fingerprint, public_key, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)").run(id, region, caller, name, type, fingerprint, publicKey, now);
      if (tags.length > 0) this.tags.set([id], tags, op);
    })();
    return { keyPairId: id, keyName: name, keyType: type, keyFingerprint: fingerprint, publicKey, createTime: now, tags };
  }

  private toKeyPair(row: Row): KeyPair {
    return { keyPairId: row.id, keyName: row.name, keyType: row.key_type, keyFingerprint: row.fingerprint, publicKey: row.public_key, createTime: row.created_at, tags: this.tags.of(row.id) };
  }
}

function checkName(name: string | undefined, op: string): string {
  if (name === undefined || name === "") throw new Ec2Error("MissingParameter", "The request must contain the parameter KeyName", op);
  if (name.length > 255 || !/^[\x20-\x7e]+$/.test(name)) throw new Ec2Error("InvalidParameterValue", `Value (${name.slice(0, 64)}) for parameter KeyName is invalid. Key names are up to 255 printable ASCII characters.`, op);
  return name;
}

function notFound(name: string, op: string): Ec2Error {
  return new Ec2Error("InvalidKeyPair.NotFound", `The key pair '${name}' does not exist`, op);
}

/** An OpenSSH public key line: its type and wire-format blob, checked to parse as that key type. */
export function parseOpenSsh(line: string, op: string): { type: "rsa" | "ed25519"; blob: Buffer } {
  const bad = () => new Ec2Error("InvalidKey.Format", "Key is not in valid OpenSSH public key format", op);
  const m = /^ssh-(rsa|ed25519) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/.exec(line);
  if (!m) throw bad();
  const blob = Buffer.from(m[2]!, "base64");
  const fields = blobFields(blob);
  if (!fields) throw bad();
  const type = m[1] as "rsa" | "ed25519";
  if (fields[0]?.toString("latin1") !== `ssh-${type}`) throw bad();
  if (type === "ed25519" && (fields.length !== 2 || fields[1]!.length !== 32)) throw bad();
  if (type === "rsa") {
    if (fields.length !== 3 || fields[2]!.length < 128) throw bad();
    try {
      rsaPublicDer(blob);
    } catch {
      throw bad();
    }
  }
  return { type, blob };
}

/** An ssh-rsa blob's key as DER SubjectPublicKeyInfo. */
function rsaPublicDer(blob: Buffer): Buffer {
  const [, e, n] = blobFields(blob)!;
  const jwk = { kty: "RSA", e: unsigned(e!).toString("base64url"), n: unsigned(n!).toString("base64url") };
  return createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "der" });
}

/** An mpint's magnitude without its sign byte. */
function unsigned(b: Buffer): Buffer {
  let start = 0;
  while (start < b.length - 1 && b[start] === 0) start++;
  return b.subarray(start);
}

/** The length-prefixed fields of an SSH wire-format blob (at most 4), or undefined when it does not parse. */
function blobFields(blob: Buffer): Buffer[] | undefined {
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length; ) {
    if (at + 4 > blob.length || fields.length > 3) return undefined;
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) return undefined;
    fields.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return fields;
}

function sshBlob(fields: (string | Buffer)[]): Buffer {
  return Buffer.concat(fields.flatMap((f) => {
    const b = typeof f === "string" ? Buffer.from(f, "latin1") : f;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return [len, b];
  }));
}

/** SSH's mpint: big-endian, with a 0 byte in front when the top bit is set. */
function mpint(bytes: Buffer): Buffer {
  const b = unsigned(bytes);
  return b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
}

/** OpenSSH's private key format (PROTOCOL.key), unencrypted, for one ed25519 key. */
function openSshEd25519(seed: Buffer, pk: Buffer, publicBlob: Buffer, comment: string): string {
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshBlob(["ssh-ed25519", pk, Buffer.concat([seed, pk]), comment])]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const body = Buffer.concat([Buffer.from("openssh-key-v1\0", "latin1"), sshBlob(["none", "none", ""]), count, sshBlob([publicBlob, priv])]);
  const lines = body.toString("base64").match(/.{1,70}/g)!;
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function b64url(s: string): Buffer {
  return Buffer.from(s, "base64url");
}

function colonHex(digest: Buffer): string {
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function sha256Fingerprint(blob: Buffer): string {
  return createHash("sha256").update(blob).digest("base64");
}
