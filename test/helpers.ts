import Database from "better-sqlite3";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Accounts } from "../src/cloud/accounts.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const IMAGES = process.env.AMIBOOT_IMAGES ?? path.join(ROOT, "images", "build");
export const image = (name: string) => path.join(IMAGES, name);
export const CLI = path.join(ROOT, "bin", "amiboot.js");
export const MARKER = "AMIBOOT-USERSPACE-READY";

/** A fresh temporary directory, removed by the caller's afterAll. */
export function tempDir(prefix = "amiboot-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the amiboot command as a user would and returns its exit code and output. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; nodeFlags?: string[]; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...(options.nodeFlags ?? ["--v8-pool-size=1"]), CLI, ...args],
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 170_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `amiboot serve --port 0` as a user starts it; resolves with the process and the endpoint it printed. */
export function serveProcess(env: NodeJS.ProcessEnv): Promise<{ server: ChildProcess; endpoint: string }> {
  const server = spawn(process.execPath, [CLI, "serve", "--port", "0"], { env, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /EC2 endpoint (http:\/\/\S+)/.exec(out);
      if (m) resolve({ server, endpoint: m[1]! });
    });
    server.on("exit", () => reject(new Error(`serve exited: ${out}`)));
  });
}

/** `serveProcess` on `$AMIBOOT_HOME` of `env`, with the default account's keys for clients (read from its database). */
export async function serveWithKeys(env: NodeJS.ProcessEnv): Promise<{ server: ChildProcess; endpoint: string; keys: { accessKeyId: string; secretAccessKey: string } }> {
  const { server, endpoint } = await serveProcess(env);
  const db = new Database(path.join(env.AMIBOOT_HOME!, "amiboot.sqlite"), { readonly: true, fileMustExist: true });
  try {
    return { server, endpoint, keys: new Accounts(db).defaultAccount() };
  } finally {
    db.close();
  }
}

/** Stops a server process and waits for it to exit. */
export async function stopProcess(server: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill();
  await exited;
}

/**
 * An environment for AWS clients (the aws CLI, boto3) with nothing of the
 * user's: no AWS_PROFILE, no ~/.aws, no pyenv; its HOME and empty AWS config
 * files are made under `dir`.
 */
export function awsClientEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  fs.mkdirSync(path.join(dir, "home"), { recursive: true });
  for (const f of ["aws-config", "aws-credentials"]) if (!fs.existsSync(path.join(dir, f))) fs.writeFileSync(path.join(dir, f), "");
  return {
    PATH: "/usr/bin:/bin",
    HOME: path.join(dir, "home"),
    LANG: "C.UTF-8",
    AWS_CONFIG_FILE: path.join(dir, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "aws-credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_PAGER: "",
    AWS_MAX_ATTEMPTS: "1",
    ...extra,
  };
}

/** Runs a program without blocking the event loop (an in-process endpoint answers meanwhile). */
export function runProgram(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Whether something listens on the host at address:port. */
export function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
