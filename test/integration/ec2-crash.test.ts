import {
  CopyImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeRegionsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RegisterImageCommand,
} from "@aws-sdk/client-ec2";
import Database from "better-sqlite3";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { VolumeStore } from "../../src/volumes/store.js";
// Sets the SDK's Node-version notice off.
import "../ec2.js";
import { rng } from "../fuzz/harness.js";
import { CLI, image, runCli, tempDir } from "../helpers.js";

/**
 * `kill -9` of `amiboot serve` in the middle of a stream of RegisterImage,
 * CopyImage (within and across regions) and DeregisterImage: after a restart
 * on the same $AMIBOOT_HOME there is no half image, no snapshot record without
 * its blocks, and every write the server acknowledged is still there.
 */
const dir = tempDir();
const home = path.join(dir, "home");
/** The server running now, stopped whatever happens to the test. */
let current: Served | undefined;
afterAll(() => {
  if (current?.child.exitCode === null && current.child.signalCode === null) current.child.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

const REGIONS = ["us-east-1", "eu-west-1", "us-west-2"];
const ROUNDS = 12;
const WORKERS = 8;
const SEED = 20_251_125;

/** The local default account's keys only: nothing of the user's AWS setup. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, AMIBOOT_HOME: home };
  for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"]) delete e[k];
  return e;
}

interface Served {
  child: ChildProcess;
  url: string;
  accountId: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** `amiboot serve --port 0` as a user starts it; resolves once it printed its endpoint and keys. */
function serve(): Promise<Served> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0"], { env: env(), stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const url = /EC2 endpoint (http:\/\/\S+)/.exec(out)?.[1];
      const accountId = /default account (\d{12}):/.exec(out)?.[1];
      const accessKeyId = /AWS_ACCESS_KEY_ID=(\S+)\n/.exec(out)?.[1];
      const secretAccessKey = /AWS_SECRET_ACCESS_KEY=(\S+)\n/.exec(out)?.[1];
      if (url && accountId && accessKeyId && secretAccessKey) resolve((current = { child, url, accountId, credentials: { accessKeyId, secretAccessKey }, exit, stderr: () => err }));
    });
    void exit.then((e) => reject(new Error(`amiboot serve exited (${e.code ?? e.signal}) before answering: ${out}${err}`)));
  });
}

/**
 * One SDK client per region. A call that waits 20 s fails: a restarted
 * server must not hang on what the killed one left (the store's lock is taken
 * over from a dead holder at once, or after 5 s when it has no pid yet).
 */
function clients(s: Served): Record<string, EC2Client> {
  return Object.fromEntries(
    REGIONS.map((r) => [r, new EC2Client({ endpoint: s.url, region: r, credentials: s.credentials, maxAttempts: 1, requestHandler: { requestTimeout: 20_000, throwOnRequestTimeout: true } })]),
  );
}

const ms = (t: number) => `${Math.round(t)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
/** A root device and, with a second snapshot, a data disk: CopyImage copies each. */
const mapping = (...snapshotIds: string[]) => snapshotIds.map((SnapshotId, i) => ({ DeviceName: i === 0 ? "/dev/sda1" : `/dev/sd${"bcd"[i - 1]}`, Ebs: { SnapshotId } }));

/** What the test knows for sure: only acknowledged writes count. */
interface Known {
  region: string;
  name: string;
}
const registered = new Map<string, Known>();
const copies = new Map<string, Known>();
/** Deregistrations sent (acknowledged or not): those images' fate is open, except for `deregistered`. */
const deregisterSent = new Set<string>();
const deregistered = new Set<string>();
/** EC2 errors the workload did not expect, and connection failures seen before the kill. */
const unexpected: string[] = [];

/** The snapshots of the volume store on disk, by id. */
function manifestIds(): Set<string> {
  return new Set(fs.readdirSync(path.join(home, "snapshots")).filter((n) => /^snap-[0-9a-f]{17}\.json$/.test(n)).map((n) => n.slice(0, -5)));
}

/**
 * The data directory of a server that is not running, read as it was left:
 * SQLite's own check, then the rows against each other and against the
 * volume store. Returns the orphan manifests (blocks without a record).
 */
function checkOffline(): Set<string> {
  const db = new Database(path.join(home, "amiboot.sqlite"), { readonly: true });
  try {
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(db.pragma("foreign_key_check")).toEqual([]);
    const store = new VolumeStore(home);
    const snaps = db.prepare("select id, region, owner_id from snapshots").all() as { id: string; region: string; owner_id: string }[];
    for (const s of snaps) expect(() => store.getSnapshot(s.id), `snapshot row ${s.id} has its manifest`).not.toThrow();
    const snapKey = new Set(snaps.map((s) => `${s.id} ${s.region} ${s.owner_id}`));
    const images = db.prepare("select id, region, owner_id, name, state, block_device_mappings from images").all() as {
      id: string;
      region: string;
      owner_id: string;
      name: string;
      state: string;
      block_device_mappings: string;
    }[];
    for (const i of images.filter((i) => i.state !== "deregistered")) {
      expect(i.state, `${i.id} (${i.name})`).toBe("available");
      const maps = JSON.parse(i.block_device_mappings) as { Ebs?: { SnapshotId?: string } }[];
      expect(maps.length).toBeGreaterThan(0);
      for (const m of maps) expect(snapKey.has(`${m.Ebs?.SnapshotId} ${i.region} ${i.owner_id}`), `${i.id}'s snapshot ${m.Ebs?.SnapshotId} is its owner's in ${i.region}`).toBe(true);
    }
    expect(db.prepare("select region, owner_id, name, count(*) as n from images where state != 'deregistered' group by region, owner_id, name having n > 1").all()).toEqual([]);
    // A snapshot CopyImage made exists only with its image (which may have been deregistered since).
    const used = new Set(images.flatMap((i) => (JSON.parse(i.block_device_mappings) as { Ebs?: { SnapshotId?: string } }[]).map((m) => m.Ebs?.SnapshotId)));
    const copied = db.prepare("select id from snapshots where description like 'Copied for %'").all() as { id: string }[];
    for (const { id } of copied) expect(used.has(id), `snapshot ${id} of a CopyImage without its image`).toBe(true);
    const byId = new Map(images.map((i) => [i.id, i]));
    for (const [id, k] of registered) {
      expect(byId.get(id), `acknowledged RegisterImage ${id} (${k.name})`).toMatchObject({ name: k.name, region: k.region, state: "available" });
    }
    for (const [id, k] of copies) {
      const want = deregistered.has(id) ? "deregistered" : deregisterSent.has(id) ? expect.stringMatching(/^(available|deregistered)$/) : "available";
      expect(byId.get(id), `acknowledged CopyImage ${id} (${k.name})`).toMatchObject({ name: k.name, region: k.region, state: want });
    }
    const rows = new Set(snaps.map((s) => s.id));
    return new Set([...manifestIds()].filter((id) => !rows.has(id)));
  } finally {
    db.close();
  }
}

/** The same data directory through a restarted server, as a client sees it. */
async function checkOnline(s: Served, orphans: Set<string>): Promise<void> {
  const ec2 = clients(s);
  const store = new VolumeStore(home);
  expect((await ec2["us-east-1"]!.send(new DescribeRegionsCommand({}))).Regions?.length).toBeGreaterThan(0);
  for (const region of REGIONS) {
    const images = (await ec2[region]!.send(new DescribeImagesCommand({ Owners: ["self"] }))).Images ?? [];
    const snaps = new Set(((await ec2[region]!.send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots ?? []).map((x) => x.SnapshotId!));
    for (const id of snaps) expect(orphans.has(id), `orphan manifest ${id} listed by DescribeSnapshots`).toBe(false);
    const names = new Set<string>();
    for (const i of images) {
      expect(i.State, `${i.ImageId} (${i.Name}) in ${region}`).toBe("available");
      expect(i.OwnerId).toBe(s.accountId);
      expect(names.has(i.Name!), `name ${i.Name} twice in ${region}`).toBe(false);
      names.add(i.Name!);
      // Tags come with the image (RegisterImage's TagSpecifications, CopyImageTags) or not at all.
      expect(i.Tags?.filter((t) => t.Key === "origin").map((t) => t.Value), `${i.ImageId}'s tags`).toEqual([expect.stringMatching(/^reg-/)]);
      for (const m of i.BlockDeviceMappings ?? []) {
        const id = m.Ebs!.SnapshotId!;
        expect(snaps.has(id), `${i.ImageId}'s snapshot ${id} in DescribeSnapshots (${region})`).toBe(true);
        expect(store.getSnapshot(id).id).toBe(id);
      }
    }
    const listed = new Set(images.map((i) => i.ImageId));
    for (const [id, k] of [...registered, ...copies]) {
      if (k.region !== region) continue;
      if (deregistered.has(id)) expect(listed.has(id), `deregistered ${id} listed`).toBe(false);
      else if (!deregisterSent.has(id)) expect(listed.has(id), `acknowledged ${id} (${k.name}) listed in ${region}`).toBe(true);
    }
  }
  // The server writes again, the volume store's lock included (its holder may have been killed).
  const seed = [...registered].find(([, k]) => k.name === "reg-seed")![0];
  const copy = await ec2["us-west-2"]!.send(new CopyImageCommand({ SourceImageId: seed, SourceRegion: "us-east-1", Name: `after-restart-${Date.now()}`, CopyImageTags: true }));
  await ec2["us-west-2"]!.send(new DeregisterImageCommand({ ImageId: copy.ImageId!, DeleteAssociatedSnapshots: true }));
}

/** Workers sending RegisterImage, CopyImage and DeregisterImage until the server dies under them. */
function workload(s: Served, round: number, bases: Record<string, string[]>, random: () => number) {
  const ec2 = clients(s);
  const stats = { sent: 0, ok: 0, ec2Errors: 0, cut: 0, inFlight: new Map<string, number>() };
  let killed = false;
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;

  async function call<T>(op: string, send: () => Promise<T>, allowed: string[] = []): Promise<T | undefined> {
    stats.sent++;
    stats.inFlight.set(op, (stats.inFlight.get(op) ?? 0) + 1);
    try {
      const r = await send();
      stats.ok++;
      return r;
    } catch (err) {
      const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
      if (e.$metadata?.httpStatusCode !== undefined) {
        stats.ec2Errors++;
        if (!allowed.includes(e.name)) unexpected.push(`${op}: ${e.name}: ${e.message}`);
      } else {
        stats.cut++;
        if (!killed) unexpected.push(`${op} failed before the kill: ${e.name}: ${e.message}`);
      }
      return undefined;
    } finally {
      stats.inFlight.set(op, stats.inFlight.get(op)! - 1);
    }
  }

  async function worker(w: number): Promise<void> {
    for (let n = 0; !killed; n++) {
      const name = `r${round}-w${w}-${n}`;
      const sources = [...registered, ...copies].filter(([id]) => !deregisterSent.has(id));
      const owned = [...copies].filter(([id]) => !deregisterSent.has(id));
      const dice = random();
      if (dice < 0.4 && sources.length > 0) {
        const [sourceId, source] = pick(sources);
        const region = pick(REGIONS);
        const r = await call(
          "CopyImage",
          () => ec2[region]!.send(new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: source.region, Name: `copy-${name}`, CopyImageTags: true })),
          // The source may be a copy whose deregistration was sent (and cut) just before.
          ["InvalidAMIID.Unavailable"],
        );
        if (r) copies.set(r.ImageId!, { region, name: `copy-${name}` });
      } else if (dice < 0.55 && owned.length > 0) {
        const [id, k] = pick(owned);
        deregisterSent.add(id);
        // The copy's snapshots go too: the volume store's garbage collection runs under its lock.
        const r = await call("DeregisterImage", () => ec2[k.region]!.send(new DeregisterImageCommand({ ImageId: id, DeleteAssociatedSnapshots: true })));
        if (r) deregistered.add(id);
      } else if (dice < 0.65 && registered.size > 0) {
        const [, k] = pick([...registered]);
        const region = k.region;
        await call(
          "RegisterImage (taken name)",
          async () => {
            await ec2[region]!.send(new RegisterImageCommand({ Name: k.name, RootDeviceName: "/dev/sda1", BlockDeviceMappings: mapping(bases[region]![0]!) }));
            unexpected.push(`RegisterImage accepted the taken name ${k.name} in ${region}`);
          },
          ["InvalidAMIName.Duplicate"],
        );
      } else {
        const region = pick(Object.keys(bases));
        const r = await call("RegisterImage", () =>
          ec2[region]!.send(
            new RegisterImageCommand({
              Name: `reg-${name}`,
              Architecture: "i386",
              VirtualizationType: "hvm",
              RootDeviceName: "/dev/sda1",
              BlockDeviceMappings: random() < 0.75 ? mapping(...bases[region]!) : mapping(pick(bases[region]!)),
              TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "origin", Value: `reg-${name}` }] }],
            }),
          ),
        );
        if (r) registered.set(r.ImageId!, { region, name: `reg-${name}` });
      }
    }
  }

  const done = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return {
    stats,
    /** SIGKILLs the server; returns the calls it had not answered yet, by action. */
    kill(): Map<string, number> {
      killed = true;
      s.child.kill("SIGKILL");
      return new Map([...stats.inFlight].filter(([, n]) => n > 0));
    },
    done,
  };
}

describe("kill -9 of the EC2 endpoint during RegisterImage and CopyImage", () => {
  it("leaves no half image, keeps every acknowledged write, and starts again", async () => {
    // Snapshots of the default account, imported through the endpoint as a user would.
    let served = await serve();
    const imported = async (file: string, region: string) => {
      const r = await runCli(["snapshot", "import", image(file), "--region", region, "--endpoint", served.url, "--json"], { env: env(), nodeFlags: [] });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).id as string;
    };
    const bases: Record<string, string[]> = {
      "us-east-1": [await imported("mbr.img", "us-east-1"), await imported("hvm-linux.img", "us-east-1")],
      "eu-west-1": [await imported("hvm-linux.img", "eu-west-1"), await imported("mbr.img", "eu-west-1")],
    };
    const random = rng(SEED);
    const log: string[] = [];
    const account = served.accountId;
    // One image known before any kill: the source of the copy each restart makes.
    const seed = await clients(served)["us-east-1"]!.send(
      new RegisterImageCommand({
        Name: "reg-seed",
        RootDeviceName: "/dev/sda1",
        BlockDeviceMappings: mapping(bases["us-east-1"]![1]!),
        TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "origin", Value: "reg-seed" }] }],
      }),
    );
    registered.set(seed.ImageId!, { region: "us-east-1", name: "reg-seed" });
    let interrupted = 0;
    let orphans = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const load = workload(served, round, bases, random);
      const delay = 20 + Math.floor(random() * 280);
      await sleep(delay);
      const cut = load.kill();
      const inFlight = [...cut.values()].reduce((a, b) => a + b, 0);
      expect(await served.exit).toEqual({ code: null, signal: "SIGKILL" });
      await load.done;
      interrupted += inFlight;
      expect(served.stderr(), "the server logged an internal error").toBe("");

      const t0 = performance.now();
      orphans = checkOffline();
      const t1 = performance.now();
      // Every manifest's chunks are there and match their hash (what `amiboot snapshot verify` checks; the command runs at the end).
      expect(new VolumeStore(home).verify().problems).toEqual([]);
      const t2 = performance.now();
      served = await serve();
      expect(served.accountId, "the default account after a restart").toBe(account);
      // The restarted server deleted the manifests its killed predecessor wrote but never recorded.
      const left = manifestIds();
      for (const id of orphans) expect(left.has(id), `orphan manifest ${id} swept at start`).toBe(false);
      const t3 = performance.now();
      await checkOnline(served, orphans);
      const t4 = performance.now();
      const { sent, ok, ec2Errors } = load.stats;
      const during = [...cut].map(([op, n]) => `${n} ${op}`).join(", ");
      log.push(`round ${round}: killed after ${delay} ms; ${sent} calls (${ok} ok, ${ec2Errors} EC2 errors), killed during ${during}; ${orphans.size} orphan manifests; checks ${ms(t1 - t0)} + verify ${ms(t2 - t1)}, restart ${ms(t3 - t2)}, online checks ${ms(t4 - t3)}`);
    }
    // A clean stop at the end, and the directory it leaves.
    served.child.kill("SIGTERM");
    expect(await served.exit).toEqual({ code: 0, signal: null });
    orphans = checkOffline();
    const verify = await runCli(["snapshot", "verify", "--json"], { env: env(), nodeFlags: [] });
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ problems: [], snapshots: expect.any(Number) });
    console.log(`${log.join("\n")}\n${registered.size} images registered, ${copies.size} copied, ${deregistered.size} deregistered (acknowledged); ${orphans.size} orphan manifests at the end`);
    expect(unexpected).toEqual([]);
    // The kills landed in the middle of work, not between calls.
    expect(interrupted).toBeGreaterThan(ROUNDS);
    expect(copies.size).toBeGreaterThan(0);
    expect(deregistered.size).toBeGreaterThan(0);
  });
});
