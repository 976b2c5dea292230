import { EC2Client } from "@aws-sdk/client-ec2";
import fs from "node:fs";
import { Ec2Server } from "../src/api/server.js";
import type { Credentials } from "../src/cloud/accounts.js";
import { Cloud } from "../src/cloud/cloud.js";
import { tempDir } from "./helpers.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

/** An EC2 endpoint on a fresh data directory, in this process, for SDK-driven tests. */
export class TestEndpoint {
  cloud!: Cloud;
  server!: Ec2Server;
  readonly home = tempDir();

  constructor(private readonly options: ConstructorParameters<typeof Cloud>[1] = {}) {}

  async start(): Promise<this> {
    this.cloud = new Cloud(this.home, this.options);
    this.server = await Ec2Server.start(this.cloud, { port: 0 });
    return this;
  }

  /** Stops and starts the server on the same data directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.server.close();
    await this.cloud.shutdown();
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.home, { recursive: true, force: true });
  }

  /** The real AWS SDK for JavaScript, pointed at amiboot. */
  ec2(c: Credentials, region = "us-east-1", secret = c.secretAccessKey): EC2Client {
    return new EC2Client({ endpoint: this.server.url, region, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: secret }, maxAttempts: 1 });
  }
}

/** The EC2 error a call failed with (its code as `name`), or a test failure if it succeeded. */
export async function ec2Error(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error("expected an EC2 error");
}
