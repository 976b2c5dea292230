import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { awsClientEnv, image, listening, runCli, runProgram, serveWithKeys, stopProcess, tempDir, type CliResult } from "../helpers.js";

/**
 * The user's real workflow, with unchanged clients: Debian's aws CLI creates
 * a key pair and opens port 22 in the default security group, runs an
 * instance with --key-name and --user-data, the guest takes both from the
 * metadata service, and the system's ssh logs in with the key and finds
 * what the user data did. Revoking the rule and terminating close the port.
 */
const dir = tempDir();
const home = path.join(dir, "home");
const env = { ...process.env, AMIBOOT_HOME: home };
let server: ChildProcess;
let endpoint: string;
let keys: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  ({ server, endpoint, keys } = await serveWithKeys(env));
});
afterAll(async () => {
  await stopProcess(server);
  fs.rmSync(dir, { recursive: true, force: true });
});

type Run = CliResult;
const run = (file: string, args: string[], timeout = 90_000) =>
  runProgram(file, args, awsClientEnv(path.join(dir, "client"), { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey }), timeout);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function aws(...args: string[]): Promise<Run & { json?: any }> {
  const r = await run("/usr/bin/aws", ["ec2", ...args, "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"]);
  return { ...r, json: r.code === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

const keyFile = path.join(dir, "laptop.pem");
const ssh = (address: string, ...command: string[]) =>
  run("/usr/bin/ssh", ["-i", keyFile, "-p", "10022", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20", `root@${address}`, ...command], 60_000);

/** The instance's serial console (GetConsoleOutput: the running VM's). */
async function consoleOf(id: string): Promise<string> {
  return (await runCli(["console", id, "--endpoint", endpoint], { env, nodeFlags: [] })).stdout;
}

let imageId: string;

describe("run-instances --key-name --user-data, then ssh in (aws CLI, OpenSSH)", () => {
  it("configures the guest from the metadata service and lets the key's owner in on the instance's own address", async () => {
    const imported = await runCli(["image", "import", image("hvm-linux.img"), "--name", "ssh-hvm", "--json", "--endpoint", endpoint], { env, nodeFlags: [] });
    expect(imported.code, imported.stderr).toBe(0);
    imageId = JSON.parse(imported.stdout).imageId as string;

    const key = await aws("create-key-pair", "--key-name", "laptop", "--key-type", "ed25519");
    expect(key.code, key.stderr).toBe(0);
    fs.writeFileSync(keyFile, key.json.KeyMaterial.endsWith("\n") ? key.json.KeyMaterial : `${key.json.KeyMaterial}\n`, { mode: 0o600 });
    const open = await aws("authorize-security-group-ingress", "--group-name", "default", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0");
    expect(open.code, open.stderr).toBe(0);

    const script = path.join(dir, "user-data.sh");
    fs.writeFileSync(script, "#!/bin/sh\necho \"configured by user data on $(hostname)\" > /tmp/user-data-ran\n");
    const launched = await aws("run-instances", "--image-id", imageId, "--instance-type", "t2.micro", "--key-name", "laptop", "--user-data", `file://${script}`);
    expect(launched.code, launched.stderr).toBe(0);
    const id = launched.json.Instances[0].InstanceId as string;
    expect((await aws("wait", "instance-running", "--instance-ids", id)).code).toBe(0);

    const described = (await aws("describe-instances", "--instance-ids", id)).json.Reservations[0].Instances[0];
    expect(described).toMatchObject({
      KeyName: "laptop",
      PrivateIpAddress: expect.stringMatching(/^172\.31\.\d+\.\d+$/),
      PublicIpAddress: expect.stringMatching(/^127\.\d+\.\d+\.\d+$/),
      SecurityGroups: [{ GroupName: "default", GroupId: expect.stringMatching(/^sg-/) }],
      NetworkInterfaces: [{ MacAddress: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/), PrivateIpAddress: described.PrivateIpAddress }],
    });
    const address = described.PublicIpAddress as string;

    // The guest's sshd starts after its boot marker: ssh is retried as a user would.
    let got: Run = { code: -1, stdout: "", stderr: "" };
    await vi.waitFor(
      async () => {
        got = await ssh(address, "cat /tmp/user-data-ran");
        expect(got.code, got.stderr).toBe(0);
      },
      { timeout: 150_000, interval: 2_000 },
    );
    const hostname = described.PrivateDnsName.split(".")[0];
    expect(got.stdout).toBe(`configured by user data on ${hostname}\n`);

    // The guest sees its own identity through IMDS.
    const fromGuest = await ssh(address, "wget -q -O - http://169.254.169.254/latest/meta-data/instance-id");
    expect(fromGuest.stdout).toBe(id);

    // The guest's NIC has the instance's MAC and its DHCP lease the instance's private IP.
    const mac = described.NetworkInterfaces[0].MacAddress as string;
    expect(await consoleOf(id)).toContain(`AMIBOOT-NET-READY ip=${described.PrivateIpAddress} mac=${mac}`);

    // IMDSv2 required: a request without a token is refused (401), one with a token is answered; disabled: no answer.
    const imds = "wget -q -O - http://169.254.169.254/latest/meta-data/instance-id";
    const withToken = `t=$(printf 'PUT /latest/api/token HTTP/1.0\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' | nc 169.254.169.254 80 | sed -n '/^\\r*$/,$p' | tr -d '\\r\\n'); wget -q -O - --header "X-aws-ec2-metadata-token: $t" http://169.254.169.254/latest/meta-data/instance-id`;
    expect((await aws("modify-instance-metadata-options", "--instance-id", id, "--http-tokens", "required")).json.InstanceMetadataOptions).toMatchObject({ HttpTokens: "required", HttpEndpoint: "enabled" });
    const refused = await ssh(address, `${imds} 2>&1; echo rc=$?`);
    expect(refused.stdout).toMatch(/401 Unauthorized[\s\S]*rc=1/);
    expect((await ssh(address, withToken)).stdout).toBe(id);
    expect((await aws("modify-instance-metadata-options", "--instance-id", id, "--http-endpoint", "disabled")).code).toBe(0);
    expect((await ssh(address, `${imds} 2>&1; echo rc=$?`)).stdout).toMatch(/rc=1\n$/);
    expect((await aws("modify-instance-metadata-options", "--instance-id", id, "--http-endpoint", "enabled", "--http-tokens", "optional")).code).toBe(0);
    expect((await ssh(address, imds)).stdout).toBe(id);

    // amiboot ssh finds the address, port and key by itself (the key file named after KeyName, here).
    const viaAmiboot = await runCli(["ssh", id, "-i", keyFile, "--print", "--endpoint", endpoint], { env, nodeFlags: [] });
    expect(viaAmiboot.stdout).toContain(`-p 10022`);
    expect(viaAmiboot.stdout).toContain(`root@${address}`);

    // Revoking the rule closes the host port, and ssh is refused.
    expect((await aws("revoke-security-group-ingress", "--group-name", "default", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")).code).toBe(0);
    await vi.waitFor(async () => expect(await listening(address, 10022)).toBe(false), { timeout: 10_000, interval: 200 });
    expect((await ssh(address, "true")).stderr).toContain("Connection refused");

    // Stop and start keep the private IP and the MAC: the guest gets them again.
    expect((await aws("stop-instances", "--instance-ids", id)).code).toBe(0);
    expect((await aws("wait", "instance-stopped", "--instance-ids", id)).code).toBe(0);
    expect((await aws("start-instances", "--instance-ids", id)).code).toBe(0);
    expect((await aws("wait", "instance-running", "--instance-ids", id)).code).toBe(0);
    const again = (await aws("describe-instances", "--instance-ids", id)).json.Reservations[0].Instances[0];
    expect([again.PrivateIpAddress, again.NetworkInterfaces[0].MacAddress, again.PublicIpAddress]).toEqual([described.PrivateIpAddress, mac, address]);
    await vi.waitFor(async () => expect((await consoleOf(id)).split(`AMIBOOT-NET-READY ip=${described.PrivateIpAddress} mac=${mac}`).length).toBe(2), { timeout: 120_000, interval: 1_000 });

    // Terminating keeps the port closed.
    expect((await aws("terminate-instances", "--instance-ids", id)).code).toBe(0);
    expect((await aws("wait", "instance-terminated", "--instance-ids", id)).code).toBe(0);
    expect(await listening(address, 10022)).toBe(false);
  }, 360_000);

  it("gives two instances launched together their own address, MAC and identity; a guest flooding the metadata service disturbs neither the other nor the API", async () => {
    expect((await aws("authorize-security-group-ingress", "--group-name", "default", "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")).code).toBe(0);
    const launched = await aws("run-instances", "--image-id", imageId, "--instance-type", "t2.micro", "--key-name", "laptop", "--count", "2");
    expect(launched.code, launched.stderr).toBe(0);
    const ids = (launched.json.Instances as { InstanceId: string }[]).map((i) => i.InstanceId);
    expect(ids).toHaveLength(2);
    expect((await aws("wait", "instance-running", "--instance-ids", ...ids)).code).toBe(0);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const described: any[] = (await aws("describe-instances", "--instance-ids", ...ids)).json.Reservations.flatMap((r: any) => r.Instances);
    const byId = new Map(described.map((i) => [i.InstanceId as string, i]));
    const [a, b] = ids.map((id) => byId.get(id));
    for (const field of ["PrivateIpAddress", "PublicIpAddress", "PrivateDnsName"]) expect(a[field]).not.toBe(b[field]);
    expect(a.NetworkInterfaces[0].MacAddress).not.toBe(b.NetworkInterfaces[0].MacAddress);
    expect(described.map((i) => i.AmiLaunchIndex).sort()).toEqual([0, 1]);

    // Each guest reads its own identity from the metadata service, and its DHCP lease and NIC are its own.
    const identity = "for p in instance-id ami-launch-index mac local-ipv4; do wget -q -O - http://169.254.169.254/latest/meta-data/$p; echo; done; hostname";
    for (const i of [a, b]) {
      let got: Run = { code: -1, stdout: "", stderr: "" };
      await vi.waitFor(
        async () => {
          got = await ssh(i.PublicIpAddress, identity);
          expect(got.code, got.stderr).toBe(0);
        },
        { timeout: 150_000, interval: 2_000 },
      );
      expect(got.stdout.split("\n").slice(0, 5)).toEqual([i.InstanceId, String(i.AmiLaunchIndex), i.NetworkInterfaces[0].MacAddress, i.PrivateIpAddress, i.PrivateDnsName.split(".")[0]]);
      expect(await consoleOf(i.InstanceId)).toContain(`AMIBOOT-NET-READY ip=${i.PrivateIpAddress} mac=${i.NetworkInterfaces[0].MacAddress}`);
    }

    // Guest a sends headers far over the metadata service's limit on many connections at once:
    // each is answered 431 and closed; b's metadata, the API and the server's memory stay as they were.
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, "utf8"))![1]) / 1024;
    const before = rss();
    const big = "{ printf 'GET /latest/meta-data/ HTTP/1.1\\r\\nHost: x\\r\\nX-Big: '; head -c 262144 /dev/zero | tr '\\0' a; printf '\\r\\n\\r\\n'; } | nc 169.254.169.254 80";
    const flood = ssh(a.PublicIpAddress, `i=0; while [ $i -lt 16 ]; do (${big} > /tmp/flood.$i 2>&1) & i=$((i+1)); done; wait; cat /tmp/flood.* | grep -c '^HTTP/1.1 431'`);
    const during = await ssh(b.PublicIpAddress, "wget -q -O - http://169.254.169.254/latest/meta-data/instance-id");
    expect(during.stdout).toBe(b.InstanceId);
    expect((await aws("describe-instances", "--instance-ids", b.InstanceId)).code).toBe(0);
    const flooded = await flood;
    expect(flooded.code, flooded.stderr).toBe(0);
    expect(Number(flooded.stdout.trim())).toBeGreaterThanOrEqual(1);
    expect(rss() - before).toBeLessThan(128);
    // a's own metadata service still answers after the flood.
    expect((await ssh(a.PublicIpAddress, "wget -q -O - http://169.254.169.254/latest/meta-data/instance-id")).stdout).toBe(a.InstanceId);

    expect((await aws("terminate-instances", "--instance-ids", ...ids)).code).toBe(0);
    expect((await aws("wait", "instance-terminated", "--instance-ids", ...ids)).code).toBe(0);
  }, 360_000);
});
