import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rng } from "../fuzz/harness.js";
import { CHUNK_SIZE } from "../../src/volumes/chunk-store.js";
import { EbsVolume } from "../../src/volumes/ebs-volume.js";
import { VolumeStore } from "../../src/volumes/store.js";
import { CLI, runCli, serveProcess, tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `amiboot ARGS` against `home` and SIGKILLs it after `killAfterMs` (if still running). */
function runAndKill(home: string, args: string[], killAfterMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AMIBOOT_HOME: home }, stdio: "ignore" });
    let killed = false;
    const t = setTimeout(() => {
      killed = child.kill("SIGKILL");
    }, killAfterMs);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ killed, code });
    });
  });
}

function checkStore(home: string): VolumeStore {
  const store = new VolumeStore(home);
  const v = store.verify();
  expect(v.problems).toEqual([]);
  return store;
}

/**
 * `amiboot snapshot import` through a fresh `amiboot serve` on `home`, the
 * store's only writer, which is SIGKILLed `killAfterMs` after the upload
 * began unless the upload ended first (then it is killed after). `killed`:
 * the kill came first.
 */
async function importKillingServer(home: string, image: string, killAfterMs: number): Promise<{ killed: boolean; code: number; ms: number }> {
  const env = { ...process.env, AMIBOOT_HOME: home };
  const { server, endpoint } = await serveProcess(env);
  const exited = new Promise((resolve) => server.once("exit", resolve));
  let killed = false;
  const t = setTimeout(() => (killed = server.kill("SIGKILL")), killAfterMs);
  const t0 = performance.now();
  const { code } = await runCli(["snapshot", "import", image, "--endpoint", endpoint], { env, nodeFlags: [] });
  const ms = performance.now() - t0;
  clearTimeout(t);
  server.kill("SIGKILL");
  await exited;
  return { killed, code, ms };
}

describe("the store survives kill -9 at any moment", () => {
  const image = path.join(dir, "big.img");
  // 192 MiB: random blocks with zero and repeated blocks between them.
  const BLOCKS = 384;
  const parts: Buffer[] = [];
  for (let i = 0; i < BLOCKS; i++) parts.push(i % 5 === 0 ? Buffer.alloc(CHUNK_SIZE) : i % 7 === 0 ? Buffer.alloc(CHUNK_SIZE, 7) : randomBytes(CHUNK_SIZE));
  fs.writeFileSync(image, Buffer.concat(parts));

  it("imports killed at random points leave only whole snapshots and valid chunks", async () => {
    const home = path.join(dir, "home-import");
    // How long a whole import takes here, to kill the others somewhere inside it.
    const timing = await importKillingServer(path.join(dir, "home-timing"), image, 120_000);
    expect(timing.code).toBe(0);
    const full = timing.ms;
    const r = rng(42);
    let killedMidway = 0;
    for (let i = 0; i < 8; i++) {
      const { killed, code } = await importKillingServer(home, image, Math.floor(full * (0.2 + 0.75 * r())));
      if (killed) killedMidway++;
      else expect(code).toBe(0);
      const store = checkStore(home);
      const nonZero = parts.filter((p) => p.some((b) => b !== 0)).length;
      for (const s of store.listSnapshots()) expect(Object.keys(s.blocks).length).toBe(nonZero);
    }
    expect(killedMidway).toBeGreaterThan(0);
    // The store still works: a clean import, a volume from it, byte-equal reads.
    const store = checkStore(home);
    const snap = store.importSnapshot(image);
    const vol = EbsVolume.open(home, store.createVolume({ snapshotId: snap.id }).id);
    expect(Buffer.from(vol.read(0, vol.size)).equals(fs.readFileSync(image))).toBe(true);
    vol.close();
  });

  it("deletes and volume snapshots killed midway leave the store consistent", async () => {
    const home = path.join(dir, "home-delete");
    const store = new VolumeStore(home);
    const keep = store.importSnapshot(image);
    const r = rng(7);
    for (let i = 0; i < 4; i++) {
      const victim = store.importSnapshot(image, { description: `victim ${i}` });
      const vol = EbsVolume.open(home, store.createVolume({ snapshotId: victim.id }).id);
      vol.write(i * CHUNK_SIZE * 3, randomBytes(CHUNK_SIZE * 2));
      vol.close();
      await runAndKill(home, ["volume", "snapshot", vol.record.id], 60 + Math.floor(r() * 300));
      await runAndKill(home, ["snapshot", "delete", victim.id], 60 + Math.floor(r() * 300));
      checkStore(home);
    }
    // The first snapshot is whole whatever happened to the others.
    const again = EbsVolume.open(home, new VolumeStore(home).createVolume({ snapshotId: keep.id }).id);
    expect(Buffer.from(again.read(0, again.size)).equals(fs.readFileSync(image))).toBe(true);
    again.close();
  });
});
