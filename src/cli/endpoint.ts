import { EBSClient } from "@aws-sdk/client-ebs";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SignatureV4 } from "@smithy/signature-v4";
import { XMLParser } from "fast-xml-parser";
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import type { Command } from "commander";
import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";
import { Accounts } from "../cloud/accounts.js";
import { Cloud } from "../cloud/cloud.js";
import { Ec2Error, relayedCode } from "../errors.js";
import { amibootHome } from "../home.js";
import { parseEndpoint } from "./parse.js";

/** The options of every command that talks to the EC2 endpoint. */
export interface ClientFlags {
  endpoint: string;
  region: string;
  json?: boolean;
}

export function clientOptions(cmd: Command): Command {
  return cmd
    .option("--endpoint <url>", "the EC2 endpoint", parseEndpoint, process.env.AMIBOOT_ENDPOINT ?? "http://127.0.0.1:8773")
    .option("--region <region>", "region", process.env.AWS_REGION ?? "us-east-1")
    .option("--json", "print JSON");
}

/** The control plane's data directory opened locally, for commands that work on this machine's files. */
export function withCloud<T>(fn: (cloud: Cloud) => T): T {
  const cloud = new Cloud(amibootHome());
  try {
    return fn(cloud);
  } finally {
    cloud.close();
  }
}

/** AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment, else the local default account's keys. */
export function credentials(): { accessKeyId: string; secretAccessKey: string } {
  if (process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) {
    return { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
  }
  // Read-only while the data directory exists: a client never writes the server's database.
  const file = path.join(amibootHome(), "amiboot.sqlite");
  const c = fs.existsSync(file) ? readOnly(file, (db) => new Accounts(db).defaultAccount()) : withCloud((cloud) => cloud.accounts.defaultAccount());
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
}

function readOnly<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The SDK pointed at the endpoint. */
export function ec2(o: ClientFlags): EC2Client {
  // amiboot supports Node 20; the SDK's notice about its future Node 22 floor is not the user's business here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new EC2Client({ endpoint: o.endpoint, region: o.region, credentials: credentials(), maxAttempts: 1 });
}

/** The SDK's EBS client pointed at the endpoint: EBS direct shares its port and keys. Block puts are idempotent, so retried. */
export function ebs(o: ClientFlags): EBSClient {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new EBSClient({ endpoint: o.endpoint, region: o.region, credentials: credentials(), maxAttempts: 3 });
}

/** SHA-256 and HMAC-SHA-256 from node:crypto, in the shape SignatureV4 takes. */
export class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * An action of amiboot's own (no AWS SDK command exists for it), signed with
 * SigV4 as the SDK signs, POSTed form-encoded; EC2 errors come back as EC2
 * errors.
 */
export async function callAction(o: ClientFlags, action: string, params: Record<string, string>): Promise<string> {
  const url = new URL(o.endpoint);
  const body = new URLSearchParams({ Action: action, Version: "2016-11-15", ...params }).toString();
  const signer = new SignatureV4({ credentials: credentials(), region: o.region, service: "ec2", sha256: Sha256 });
  const signed = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    path: url.pathname,
    headers: { host: url.host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body,
  });
  const res = await fetch(new URL(url.pathname, url), { method: "POST", headers: signed.headers as Record<string, string>, body });
  const text = await res.text();
  if (!res.ok) {
    // EC2's error envelope: <Response><Errors><Error><Code/><Message/></Error></Errors>…
    let error: { Code?: string; Message?: string } | undefined;
    try {
      error = (new XMLParser({ parseTagValue: false }).parse(text) as { Response?: { Errors?: { Error?: { Code?: string; Message?: string } } } }).Response?.Errors?.Error;
    } catch {
      // Not XML: the status and the start of the body say what happened.
    }
    throw new Ec2Error(relayedCode(error?.Code ?? `HTTP${res.status}`), error?.Message ?? text.slice(0, 200), action);
  }
  return text;
}
