import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bootPlan, planDirs } from "../../src/boot/plan.js";
import { amibootHome } from "../../src/home.js";
import { BootPool, type BootRun } from "../../src/pool/pool.js";
import { createBundle } from "../../src/volumes/bundle.js";
import { EbsVolume } from "../../src/volumes/ebs-volume.js";
import { VolumeStore } from "../../src/volumes/store.js";
import { image, tempDir } from "../helpers.js";

const pool = new BootPool({ maxThreads: 2 });
const dir = tempDir();
afterAll(async () => {
  await pool.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const DISKS = "AMIBOOT-DISKS-READY";
const PROMPT = "# \x1b[6n";

/**
 * Drives the guest's shell: each step waits for the disks to be up and a
 * fresh prompt after `mark` (a console position), then types its line.
 */
class Guest {
  text = "";
  private waiters: (() => void)[] = [];

  constructor(readonly run: BootRun) {
    run.on("console", (b) => {
      this.text += Buffer.from(b).toString("latin1");
      this.waiters.forEach((w) => w());
    });
  }

  /** Waits until the console after `from` contains `what`; returns where it ended. */
  until(what: string, from = 0): Promise<number> {
    return new Promise((resolve) => {
      const check = () => {
        const at = this.text.indexOf(what, from);
        if (at >= 0) {
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve(at + what.length);
        }
      };
      this.waiters.push(check);
      check();
    });
  }

  /** After the disks are up (counting from `from`), types `line` at the next prompt. */
  async shell(line: string, from = 0): Promise<number> {
    const ready = await this.until(DISKS, from);
    const prompt = await this.until(PROMPT, ready);
    this.run.send(`${line}\n`);
    return prompt;
  }
}

const write = (pattern: string) => `echo ${pattern} | dd of=/dev/sdb bs=512 seek=100 conv=fsync 2>/dev/null; sync; echo wrote-$((1+1))`;
const readBack = "echo read:$(dd if=/dev/sdb bs=512 skip=100 count=1 2>/dev/null | tr -d '\\000' | head -c 40):end";

describe("volumes seen by a real guest", () => {
  it("EBS: what the guest writes survives stop and start, and a snapshot -> new volume chain", async () => {
    const store = new VolumeStore(amibootHome());
    const root = store.createVolume({ snapshotId: store.importSnapshot(image("hvm-linux.img")).id });
    const data = store.createVolume({ sizeBytes: 16 * 1024 * 1024 });

    const first = new Guest(pool.boot(await bootPlan(root.id, "hvm", { timeoutSeconds: 170 }, [data.id], planDirs(amibootHome()))));
    await first.shell(`${write("ebs-pattern-7f3a")}; poweroff -f`);
    const r1 = await first.run.result;
    expect(r1.outcome).toBe("poweroff");
    expect(first.text).toContain("wrote-2");

    // Through the BlockDevice interface: the block the guest wrote.
    const vol = EbsVolume.open(amibootHome(), data.id);
    expect(Buffer.from(vol.read(100 * 512, 16)).toString()).toBe("ebs-pattern-7f3a");
    vol.close();

    // Start again: the guest reads its own data back.
    const second = new Guest(pool.boot(await bootPlan(root.id, "hvm", { timeoutSeconds: 170 }, [data.id], planDirs(amibootHome()))));
    await second.shell(`${readBack}; poweroff -f`);
    await second.run.result;
    expect(second.text).toContain("read:ebs-pattern-7f3a");

    // Snapshot the data volume: one changed block; a volume made from it holds the data.
    const snap = store.snapshotVolume(data.id);
    expect(snap.stats.changedBlocks).toBe(1);
    const copy = EbsVolume.open(amibootHome(), store.createVolume({ snapshotId: snap.id }).id);
    expect(Buffer.from(copy.read(100 * 512, 16)).toString()).toBe("ebs-pattern-7f3a");
    copy.close();
  });

  it("instance store: a bundle boots; ephemeral data survives a reboot but not a stop", async () => {
    const { manifestPath } = createBundle(image("hvm-linux.img"), { bucket: path.join(dir, "bucket"), prefix: "hvm" });
    const plan = await bootPlan(manifestPath, "hvm", { timeoutSeconds: 170 }, ["ephemeral:16"], planDirs(amibootHome()));
    expect(plan.disks.map((d) => d.kind)).toEqual(["instance-store", "ephemeral"]);

    const guest = new Guest(pool.boot(plan));
    const afterWrite = await guest.shell(write("ephemeral-5c1d"));
    await guest.until("wrote-2", afterWrite);
    guest.run.reboot();
    const rebooted = await guest.until("Linux version", afterWrite);
    await guest.shell(`${readBack}; poweroff -f`, rebooted);
    expect((await guest.run.result).outcome).toBe("poweroff");
    expect(guest.text.slice(rebooted)).toContain("read:ephemeral-5c1d");

    // A new boot (stop and start) gets a blank ephemeral disk.
    const fresh = new Guest(pool.boot(await bootPlan(manifestPath, "hvm", { timeoutSeconds: 170 }, ["ephemeral:16"], planDirs(amibootHome()))));
    await fresh.shell(`${readBack}; poweroff -f`);
    await fresh.run.result;
    expect(fresh.text).toContain("read::end");
  });

  it("refuses a bundle whose part was changed, before the guest sees any of it", async () => {
    const bucket = path.join(dir, "bad-bucket");
    const { manifestPath } = createBundle(image("mbr.img"), { bucket, prefix: "mbr" });
    fs.appendFileSync(path.join(bucket, "mbr.part.0"), "x");
    const r = await pool.boot(await bootPlan(manifestPath, "hvm", { timeoutSeconds: 30 }, [], planDirs(amibootHome()))).result;
    expect(r.outcome).toBe("error");
    expect(r.error?.code).toBe("InvalidManifest");
  });
});
