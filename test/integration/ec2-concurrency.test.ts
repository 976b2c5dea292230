import {
  CopyImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  ModifyImageAttributeCommand,
  RegisterImageCommand,
  type EC2Client,
  type Tag,
} from "@aws-sdk/client-ec2";
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../src/cloud/accounts.js";
import type { Cloud } from "../../src/cloud/cloud.js";
import { EbsVolume } from "../../src/volumes/ebs-volume.js";
import { ec2Error, TestEndpoint } from "../ec2.js";
import { image } from "../helpers.js";

/**
 * Many clients at once against one endpoint (real HTTP, real SDK): every
 * request is applied whole or refused with EC2's error, and what is stored
 * afterwards is what the accepted requests say.
 */
const endpoint = new TestEndpoint();
let cloud: Cloud;
let owner: Credentials;
/** The MBR disk as the owner's snapshot in us-east-1 (RegisterImage needs a snapshot of the caller's, in the region). */
let mbr: string;

beforeAll(async () => {
  ({ cloud } = await endpoint.start());
  owner = cloud.accounts.defaultAccount();
  mbr = snapshotOf(owner, "us-east-1");
});
afterAll(() => endpoint.dispose());

function snapshotOf(c: Credentials, region: string, file = "mbr.img"): string {
  return cloud.snapshots.importDisk(c.accountId, region, image(file)).snapshotId;
}

/** A client of its own (its own connections), as a separate program would have. */
const client = (c: Credentials = owner, region = "us-east-1"): EC2Client => endpoint.ec2(c, region);

const register = (ec2: EC2Client, name: string, snapshotId: string, tags: Tag[] = []) =>
  ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: "/dev/sda1",
      BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snapshotId } }],
      ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: "image", Tags: tags }] } : {}),
    }),
  );

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

/** Each call's outcome: its result, or the EC2 error code it failed with. */
async function settle<T>(calls: Promise<T>[]): Promise<Outcome<T>[]> {
  return Promise.all(
    calls.map((p) =>
      p.then(
        (value) => ({ ok: true as const, value }),
        (err: { name: string; message: string }) => ({ ok: false as const, code: err.name, message: err.message }),
      ),
    ),
  );
}

/** The image id a successful RegisterImage or CopyImage returned. */
function imageIdOf(r: Outcome<unknown> | undefined): string {
  if (!r?.ok) throw new Error(`expected success, got ${r?.code}: ${r?.message}`);
  return (r.value as { ImageId: string }).ImageId;
}

const imageIdsNamed = async (ec2: EC2Client, name: string) =>
  ((await ec2.send(new DescribeImagesCommand({ Owners: ["self"], Filters: [{ Name: "name", Values: [name] }] }))).Images ?? []).map((i) => i.ImageId);
const snapshotIds = async (ec2: EC2Client) => ((await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ["self"] }))).Snapshots ?? []).map((s) => s.SnapshotId!);
const manifests = () => new Set(cloud.volumes.listSnapshots().map((s) => s.id));

describe("concurrent clients of one endpoint", () => {
  it("RegisterImage with one name from 10 clients: one wins, the others get InvalidAMIName.Duplicate", async () => {
    // The same name by other accounts and in other regions is no conflict.
    const others = [cloud.accounts.create(), cloud.accounts.create(), cloud.accounts.create()];
    const elsewhere = ["eu-west-1", "us-west-2"];
    const own = Array.from({ length: 10 }, () => register(client(), "same-name", mbr));
    const theirs = others.map((c) => register(client(c), "same-name", snapshotOf(c, "us-east-1")));
    const regions = elsewhere.map((r) => register(client(owner, r), "same-name", snapshotOf(owner, r)));
    const results = await settle([...own, ...theirs, ...regions]);

    const mine = results.slice(0, 10);
    const winners = mine.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const winner = imageIdOf(winners[0]);
    for (const r of mine.filter((r) => !r.ok)) expect(r).toEqual({ ok: false, code: "InvalidAMIName.Duplicate", message: `AMI name same-name is already in use by AMI ${winner}` });
    expect(results.slice(10).every((r) => r.ok)).toBe(true);
    expect(await imageIdsNamed(client(), "same-name")).toEqual([winner]);
    for (const [i, c] of others.entries()) expect(await imageIdsNamed(client(c), "same-name")).toEqual([imageIdOf(results[10 + i])]);

    // Deregistered, the name is free again: for exactly one of the next 10.
    await client().send(new DeregisterImageCommand({ ImageId: winner }));
    const again = await settle(Array.from({ length: 10 }, () => register(client(), "same-name", mbr)));
    expect(again.filter((r) => r.ok)).toHaveLength(1);
    expect(again.filter((r) => !r.ok && r.code === "InvalidAMIName.Duplicate")).toHaveLength(9);
  });

  it("CreateTags past 50 from several clients: each request whole or TagLimitExceeded, never more than 50", async () => {
    const base = Array.from({ length: 40 }, (_, i) => ({ Key: `base-${i}`, Value: "0" }));
    const imageId = (await register(client(), "tagged", mbr, base)).ImageId!;
    const spare = (await register(client(), "tagged-spare", mbr)).ImageId!;
    const adds = Array.from({ length: 10 }, (_, c) => Array.from({ length: 5 }, (_, j) => ({ Key: `c${c}-${j}`, Value: `v${c}` })));
    const overwrites = Array.from({ length: 4 }, (_, c) => [{ Key: `base-${c}`, Value: `over-${c}` }]);
    const tagsOf = async (id: string) => (await client().send(new DescribeImagesCommand({ ImageIds: [id] }))).Images![0]!.Tags ?? [];
    const reads: Tag[][] = [];
    const results = await settle<unknown>([
      // The last two requests also tag a second image: it gets their tags only if the first image does.
      ...adds.map((tags, c) => client().send(new CreateTagsCommand({ Resources: c >= 8 ? [imageId, spare] : [imageId], Tags: tags }))),
      ...overwrites.map((tags) => client().send(new CreateTagsCommand({ Resources: [imageId], Tags: tags }))),
      ...Array.from({ length: 4 }, () => tagsOf(imageId).then((t) => reads.push(t))),
    ]);

    const added = results.slice(0, 10);
    // 40 tags leave room for exactly two requests of five new keys.
    expect(added.filter((r) => r.ok)).toHaveLength(2);
    for (const r of added.filter((r) => !r.ok)) expect(r).toMatchObject({ code: "TagLimitExceeded" });
    expect(results.slice(10).every((r) => r.ok)).toBe(true);

    const final = await tagsOf(imageId);
    expect(final).toHaveLength(50);
    const keys = new Set(final.map((t) => t.Key));
    for (const [c, r] of added.entries()) for (const t of adds[c]!) expect(keys.has(t.Key), `${t.Key} of request ${c} (${r.ok ? "accepted" : "refused"})`).toBe(r.ok);
    for (const [c] of overwrites.entries()) expect(final.find((t) => t.Key === `base-${c}`)?.Value).toBe(`over-${c}`);
    const spareKeys = (await tagsOf(spare)).map((t) => t.Key).sort();
    expect(spareKeys).toEqual(adds.flatMap((tags, c) => (c >= 8 && added[c]!.ok ? tags.map((t) => t.Key!) : [])).sort());
    // Reads during the writes saw whole requests only.
    for (const read of reads) {
      expect(read.length).toBeLessThanOrEqual(50);
      const seen = new Set(read.map((t) => t.Key));
      for (const tags of adds) expect(new Set(tags.map((t) => seen.has(t.Key))).size).toBe(1);
    }
  });

  it("ModifyImageAttribute from many clients for many accounts: the final launch permissions are the applied set", async () => {
    const imageId = (await register(client(), "shared", mbr)).ImageId!;
    const accounts = Array.from({ length: 24 }, () => cloud.accounts.create());
    const modify = (add: string[], remove: string[], group?: "add" | "remove") =>
      client().send(
        new ModifyImageAttributeCommand({
          ImageId: imageId,
          LaunchPermission: {
            Add: [...add.map((UserId) => ({ UserId })), ...(group === "add" ? [{ Group: "all" as const }] : [])],
            Remove: [...remove.map((UserId) => ({ UserId })), ...(group === "remove" ? [{ Group: "all" as const }] : [])],
          },
        }),
      );
    // Each account's own sequence runs in order; the sequences run side by side.
    const chains = accounts.map(async (a, i) => {
      await modify([a.accountId], []);
      if (i % 3 === 0) await modify([], [a.accountId]);
      if (i % 3 === 1) await modify([a.accountId], []);
    });
    const strangers: Promise<unknown>[] = [];
    // Accounts without the owner's rights cannot change the permissions, whatever they can see meanwhile.
    for (const a of accounts.slice(0, 6)) {
      strangers.push(
        ec2Error(client(a).send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: "999999999999" }, { Group: "all" }] } }))).then((e) =>
          expect(e.name).toMatch(/^(AuthFailure|InvalidAMIID\.NotFound)$/),
        ),
      );
    }
    const reads: string[][] = [];
    const readers = Array.from({ length: 4 }, async () => {
      const r = await client().send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: "launchPermission" }));
      reads.push((r.LaunchPermissions ?? []).map((p) => p.UserId ?? `group:${p.Group}`));
    });
    const publicly = (async () => {
      await modify([], [], "add");
      await modify([], [], "remove");
    })();
    await Promise.all([...chains, ...strangers, ...readers, publicly]);

    const expected = accounts.filter((_, i) => i % 3 !== 0).map((a) => a.accountId).sort();
    const final = await client().send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: "launchPermission" }));
    expect(final.LaunchPermissions).toEqual(expected.map((UserId) => ({ UserId })));
    const everyone = new Set(accounts.map((a) => a.accountId));
    for (const read of reads) for (const p of read) expect(everyone.has(p) || p === "group:all", p).toBe(true);
    // What each account may launch agrees with the attribute.
    for (const [i, a] of accounts.entries()) {
      const seen = await client(a).send(new DescribeImagesCommand({ ExecutableUsers: ["self"], Filters: [{ Name: "image-id", Values: [imageId] }] }));
      expect(seen.Images?.length ?? 0, `account ${i}`).toBe(i % 3 === 0 ? 0 : 1);
    }
  });

  it("CopyImage while the source is deregistered: each copy whole (own snapshot, every block) or InvalidAMIID.Unavailable", async () => {
    const targets = ["us-east-1", "eu-west-1", "us-west-2"];
    let copied = 0;
    let refused = 0;
    // The deregistration arrives before, between and after the copies.
    for (let round = 0; round <= targets.length; round++) {
      const sourceSnap = snapshotOf(owner, "us-east-1", "hvm-linux.img");
      const blocks = cloud.volumes.getSnapshot(sourceSnap).blocks;
      const source = (await register(client(), `copy-source-${round}`, sourceSnap)).ImageId!;
      const before = manifests();
      const calls: (() => Promise<unknown>)[] = targets.map(
        (region) => () => client(owner, region).send(new CopyImageCommand({ SourceImageId: source, SourceRegion: "us-east-1", Name: `copy-${round}-${region}` })),
      );
      calls.splice(round, 0, () => client().send(new DeregisterImageCommand({ ImageId: source, DeleteAssociatedSnapshots: true })));
      const results = await settle(calls.map((call) => call()));
      expect(results[round]).toMatchObject({ ok: true });
      results.splice(round, 1);

      const made: string[] = [];
      for (const [i, r] of results.entries()) {
        const region = targets[i]!;
        if (!r.ok) {
          expect(r).toMatchObject({ code: "InvalidAMIID.Unavailable" });
          expect(await imageIdsNamed(client(owner, region), `copy-${round}-${region}`)).toEqual([]);
          refused++;
          continue;
        }
        copied++;
        const copy = (await client(owner, region).send(new DescribeImagesCommand({ ImageIds: [imageIdOf(r)] }))).Images![0]!;
        expect(copy.State).toBe("available");
        const snap = copy.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
        expect(snap).not.toBe(sourceSnap);
        expect(await snapshotIds(client(owner, region))).toContain(snap);
        expect(cloud.volumes.getSnapshot(snap).blocks).toEqual(blocks);
        made.push(snap);
      }
      // The source's snapshot went with it (no other image uses it); its blocks stay for the copies.
      expect((await client().send(new DescribeImagesCommand({ ImageIds: [source] }))).Images![0]!.State).toBe("deregistered");
      expect(await snapshotIds(client())).not.toContain(sourceSnap);
      const after = manifests();
      expect([...after].filter((id) => !before.has(id)).sort()).toEqual(made.sort());
      expect(after.has(sourceSnap)).toBe(false);
      expect(cloud.volumes.verify().problems).toEqual([]);
      if (made.length > 0) {
        const vol = EbsVolume.open(endpoint.home, cloud.volumes.createVolume({ snapshotId: made[0]! }).id);
        expect(Buffer.from(vol.read(0, vol.size)).equals(fs.readFileSync(image("hvm-linux.img")))).toBe(true);
        vol.close();
      }
    }
    console.log(`CopyImage vs DeregisterImage: ${copied} copies made, ${refused} refused`);
    expect(copied + refused).toBe(targets.length * (targets.length + 1));
  });

  it("CopyImage to one name from several clients: one copy, the others leave no snapshot behind", async () => {
    const source = (await register(client(), "copy-me", snapshotOf(owner, "us-east-1", "hvm-linux.img"))).ImageId!;
    const before = manifests();
    const beforeRows = await snapshotIds(client(owner, "eu-west-1"));
    const results = await settle(
      Array.from({ length: 6 }, () => client(owner, "eu-west-1").send(new CopyImageCommand({ SourceImageId: source, SourceRegion: "us-east-1", Name: "the-copy" }))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const r of results.filter((r) => !r.ok)) expect(r).toMatchObject({ code: "InvalidAMIName.Duplicate" });
    const winner = imageIdOf(results.find((r) => r.ok));
    const copy = (await client(owner, "eu-west-1").send(new DescribeImagesCommand({ ImageIds: [winner] }))).Images![0]!;
    const snap = copy.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
    expect((await snapshotIds(client(owner, "eu-west-1"))).filter((id) => !beforeRows.includes(id))).toEqual([snap]);
    expect([...manifests()].filter((id) => !before.has(id))).toEqual([snap]);
  });

  it("DeregisterImage from several clients: one succeeds, the snapshot is deleted once", async () => {
    const snap = snapshotOf(owner, "us-east-1");
    const imageId = (await register(client(), "deregister-me", snap)).ImageId!;
    const results = await settle(Array.from({ length: 6 }, () => client().send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }))));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const r of results.filter((r) => !r.ok)) expect(r).toMatchObject({ code: "InvalidAMIID.Unavailable" });
    expect(await snapshotIds(client())).not.toContain(snap);
    expect(manifests().has(snap)).toBe(false);
  });

  it("DeleteSnapshot against RegisterImage with that snapshot: the image and its snapshot, or neither", async () => {
    const outcomes = { registered: 0, deleted: 0 };
    for (let round = 0; round < 10; round++) {
      const snap = snapshotOf(owner, "us-east-1");
      const name = `race-${round}`;
      const del = () => client().send(new DeleteSnapshotCommand({ SnapshotId: snap }));
      const reg = () => register(client(), name, snap);
      const [d, r] = round % 2 === 0 ? await settle<unknown>([del(), reg()]) : await settle<unknown>([reg(), del()]).then(([a, b]) => [b, a]);
      if (r?.ok) {
        const imageId = imageIdOf(r);
        expect(d).toEqual({ ok: false, code: "InvalidSnapshot.InUse", message: `The snapshot ${snap} is currently in use by ${imageId}` });
        expect(await imageIdsNamed(client(), name)).toEqual([imageId]);
        expect(await snapshotIds(client())).toContain(snap);
        expect(cloud.volumes.getSnapshot(snap).id).toBe(snap);
        outcomes.registered++;
      } else {
        expect(d).toMatchObject({ ok: true });
        expect(r).toEqual({ ok: false, code: "InvalidSnapshot.NotFound", message: `The snapshot '${snap}' does not exist.` });
        expect(await imageIdsNamed(client(), name)).toEqual([]);
        expect(await snapshotIds(client())).not.toContain(snap);
        expect(manifests().has(snap)).toBe(false);
        outcomes.deleted++;
      }
    }
    console.log(`DeleteSnapshot vs RegisterImage: ${outcomes.registered} registered, ${outcomes.deleted} deleted first`);
    expect(cloud.volumes.verify().problems).toEqual([]);
  });
});
