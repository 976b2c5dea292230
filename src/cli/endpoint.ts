import { EC2Client } from "@aws-sdk/client-ec2";
import type { Command } from "commander";
import { Cloud } from "../cloud/cloud.js";
import { Ec2Error } from "../errors.js";
import { amibootHome } from "../home.js";

/** The options of every command that talks to the EC2 endpoint. */
export interface ClientFlags {
  endpoint: string;
  region: string;
  json?: boolean;
}

export function clientOptions(cmd: Command): Command {
  return cmd
    .option("--endpoint <url>", "the EC2 endpoint", process.env.AMIBOOT_ENDPOINT ?? "http://127.0.0.1:8773")
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
  return withCloud((cloud) => {
    const c = cloud.accounts.defaultAccount();
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  });
}

/** The account whose keys this command uses, checked as the endpoint would check them. */
export function callerAccount(cloud: Cloud, op: string): string {
  const c = credentials();
  const account = cloud.accounts.secretOf(c.accessKeyId) === c.secretAccessKey ? cloud.accounts.accountOf(c.accessKeyId) : undefined;
  if (!account) throw new Ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials", op);
  return account;
}

/** The SDK pointed at the endpoint. */
export function ec2(o: ClientFlags): EC2Client {
  // amiboot supports Node 20; the SDK's notice about its future Node 22 floor is not the user's business here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new EC2Client({ endpoint: o.endpoint, region: o.region, credentials: credentials(), maxAttempts: 1 });
}
