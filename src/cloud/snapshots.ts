import { Ec2Error } from "../errors.js";
import { isId } from "../ids.js";
import type { Db } from "../store/db.js";
import type { Progress, SnapshotManifest, VolumeStore } from "../volumes/store.js";
import { filterPredicate, paginate, type PageRequest } from "./filters.js";
import type { Tag, Tags } from "./tags.js";

const GiB = 1024 ** 3;
/** The descriptions the server gives the snapshots it makes (see Images.copy and Instances.createImage). */
const SERVER_MADE = /^(Copied for ami-[0-9a-f]{17} from |Created by CreateImage\(i-[0-9a-f]{17}\) )/;

/** An EBS snapshot as DescribeSnapshots shows it. */
export interface Snapshot {
  snapshotId: string;
  region: string;
  ownerId: string;
  /** GiB, rounded up, as EC2 states a snapshot's volume size. */
  volumeSize: number;
  description?: string;
  state: "completed";
  startTime: string;
  tags: Tag[];
}

export interface DescribeSnapshotsRequest extends PageRequest {
  snapshotIds: string[];
  owners: string[];
}

interface Row {
  id: string;
  region: string;
  owner_id: string;
  volume_size: number;
  description: string | null;
  state: "completed";
  created_at: string;
}

/** SQL: the snapshot (`snapshots.id`) is shared with the account bound to `?`, or with all. */
const GRANTED = "exists (select 1 from snapshot_permissions p where p.snapshot_id = snapshots.id and p.grantee in (?, 'all'))";

const FIELDS: Record<string, (s: Snapshot) => (string | undefined)[]> = {
  "snapshot-id": (s) => [s.snapshotId],
  "owner-id": (s) => [s.ownerId],
  "volume-size": (s) => [String(s.volumeSize)],
  status: (s) => [s.state],
  description: (s) => [s.description],
  "start-time": (s) => [s.startTime],
};

/**
 * Snapshot ownership: the volume store holds a snapshot's blocks, this holds
 * whose it is and in which region. A snapshot is its owner's; its
 * createVolumePermission shares it with accounts or with all, who may then
 * see it, make volumes from it and copy it. Images shared with others still
 * launch from their owner's snapshots.
 */
export class Snapshots {
  constructor(
    private readonly db: Db,
    private readonly volumes: VolumeStore,
    private readonly tags: Tags,
  ) {}

  /** A raw disk on this machine becomes a snapshot of `owner` in `region` (in-process: the bench, tests; the CLI uploads through EBS direct). */
  importDisk(owner: string, region: string, file: string, options: { description?: string; onProgress?: Progress } = {}): Snapshot {
    return this.adopt(owner, region, this.volumes.importSnapshot(file, options));
  }

  /** A full copy (CopyImage, CopySnapshot): new manifest, shared chunks. */
  copy(owner: string, region: string, sourceId: string, description?: string): Snapshot {
    return this.adopt(owner, region, this.volumes.copySnapshot(sourceId, description));
  }

  /** An incremental snapshot of an EBS volume (CreateImage). */
  ofVolume(owner: string, region: string, volumeId: string, description?: string): Snapshot {
    return this.adopt(owner, region, this.volumes.snapshotVolume(volumeId, description ? { description } : {}));
  }

  /**
   * Records a snapshot just written to the volume store, with its tags, in
   * one transaction; if that fails its manifest is deleted again, so no
   * snapshot exists without an owner.
   */
  adopt(owner: string, region: string, m: SnapshotManifest, tags: Tag[] = []): Snapshot {
    try {
      this.db.transaction(() => {
        this.db
          .prepare("insert into snapshots (id, region, owner_id, volume_size, description, state, created_at) values (?, ?, ?, ?, ?, 'completed', ?)")
          .run(m.id, region, owner, Math.max(1, Math.ceil(m.size / GiB)), m.description ?? null, m.createdAt);
        if (tags.length > 0) this.tags.set([m.id], tags, "cloud.adoptSnapshot");
      })();
    } catch (err) {
      this.volumes.deleteSnapshot(m.id);
      throw err;
    }
    return this.get(owner, region, m.id, "cloud.adoptSnapshot");
  }

  /** Whose a recorded snapshot is and where, whoever asks (EBS direct tells "not yours" from "no such snapshot"). */
  ownerOf(id: string): { ownerId: string; region: string } | undefined {
    const row = this.db.prepare("select owner_id, region from snapshots where id = ?").get(id) as { owner_id: string; region: string } | undefined;
    return row && { ownerId: row.owner_id, region: row.region };
  }

  /** A snapshot the caller owns in `region`, or EC2's error for it. */
  get(caller: string, region: string, id: string, op: string): Snapshot {
    if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, op);
    const row = this.db.prepare("select * from snapshots where id = ? and region = ? and owner_id = ?").get(id, region, caller) as Row | undefined;
    if (!row) throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${id}' does not exist.`, op);
    return toSnapshot(row, this.tags.of(id));
  }

  /**
   * A snapshot the caller may make volumes from (CreateVolume, CopySnapshot):
   * its own, or one shared with it or with all (createVolumePermission).
   */
  usable(caller: string, region: string, id: string, op: string): Snapshot {
    if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, op);
    const row = this.db.prepare(`select * from snapshots where id = ? and region = ? and (owner_id = ? or ${GRANTED})`).get(id, region, caller, caller) as Row | undefined;
    if (!row) throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${id}' does not exist.`, op);
    return toSnapshot(row, this.tags.of(id));
  }

  /** ModifySnapshotAttribute createVolumePermission (the owner only): grant or revoke accounts, or `all`. */
  modifyPermission(caller: string, region: string, id: string, change: { add: string[]; remove: string[] }): void {
    const op = "ModifySnapshotAttribute";
    this.get(caller, region, id, op);
    for (const g of [...change.add, ...change.remove]) {
      if (g !== "all" && !/^\d{12}$/.test(g)) throw new Ec2Error("InvalidParameterValue", `Value (${g}) for parameter userId is invalid. Expected a 12-digit account id (or the group all).`, op);
    }
    this.db.transaction(() => {
      for (const g of change.add) this.db.prepare("insert or ignore into snapshot_permissions (snapshot_id, grantee) values (?, ?)").run(id, g);
      for (const g of change.remove) this.db.prepare("delete from snapshot_permissions where snapshot_id = ? and grantee = ?").run(id, g);
    })();
  }

  /** DescribeSnapshotAttribute createVolumePermission (the owner only): the grantees, accounts then `all`. */
  permissions(caller: string, region: string, id: string, op: string): string[] {
    this.get(caller, region, id, op);
    return this.db.prepare("select grantee from snapshot_permissions where snapshot_id = ? order by grantee = 'all', grantee").pluck().all(id) as string[];
  }

  describe(caller: string, region: string, r: DescribeSnapshotsRequest): { snapshots: Snapshot[]; nextToken?: string } {
    const op = "DescribeSnapshots";
    for (const id of r.snapshotIds) if (!isId(id, "snap")) throw new Ec2Error("InvalidSnapshotID.Malformed", `Invalid id: "${id}" (expecting "snap-...")`, op);
    // The caller's own, and those shared with it or with all (as EC2 lists them by default).
    const rows = this.db.prepare(`select * from snapshots where region = ? and (owner_id = ? or ${GRANTED}) order by created_at, id`).all(region, caller, caller) as Row[];
    const tags = this.tags.ofMany(rows.map((row) => row.id));
    let list = rows.map((row) => toSnapshot(row, tags.get(row.id) ?? []));
    if (r.snapshotIds.length > 0) {
      const missing = r.snapshotIds.filter((id) => !list.some((s) => s.snapshotId === id));
      if (missing.length > 0) throw new Ec2Error("InvalidSnapshot.NotFound", `The snapshot '${missing.join(", ")}' does not exist.`, op);
      list = list.filter((s) => r.snapshotIds.includes(s.snapshotId));
    }
    if (r.owners.length > 0) list = list.filter((s) => r.owners.some((o) => o === "self" || o === s.ownerId));
    list = list.filter(filterPredicate(FIELDS, (s) => s.tags, r.filters, op));
    const page = paginate(list, r.maxResults, r.nextToken, op);
    return { snapshots: page.items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  /**
   * Deletes a snapshot the caller owns. The record goes first, then the
   * blocks: a crash in between leaves unreferenced blocks, never a record
   * without its blocks. `inUseBy` names the images still using it.
   */
  delete(caller: string, region: string, id: string, inUseBy: string[]): void {
    const op = "DeleteSnapshot";
    this.get(caller, region, id, op);
    if (inUseBy.length > 0) throw new Ec2Error("InvalidSnapshot.InUse", `The snapshot ${id} is currently in use by ${inUseBy[0]}`, op);
    this.db.transaction(() => this.forget(id))();
    this.volumes.deleteSnapshot(id);
  }

  /**
   * At server start: deletes the snapshots the server itself made (CopyImage,
   * CreateImage) whose record never committed because the server died in
   * between, and the EBS direct uploads it never completed (their state died
   * with it); their blocks are freed. Snapshots made by the local CLI without
   * an owner (`amiboot volume snapshot`) are left alone.
   */
  sweepOrphans(): number {
    const known = this.db.prepare("select 1 from snapshots where id = ?").pluck();
    let swept = 0;
    for (const id of this.volumes.listUploads()) {
      this.volumes.abortUpload(id);
      swept++;
    }
    for (const m of this.volumes.listSnapshots()) {
      if (SERVER_MADE.test(m.description ?? "") && known.get(m.id) === undefined) {
        this.volumes.deleteSnapshot(m.id);
        swept++;
      }
    }
    return swept;
  }

  /** Deletes a snapshot's record and tags (inside the caller's transaction); its blocks go with `volumes.deleteSnapshot` after. */
  forget(id: string): void {
    this.db.prepare("delete from snapshots where id = ?").run(id);
    this.tags.forget(id);
  }
}

function toSnapshot(row: Row, tags: Tag[]): Snapshot {
  return {
    snapshotId: row.id,
    region: row.region,
    ownerId: row.owner_id,
    volumeSize: row.volume_size,
    ...(row.description !== null ? { description: row.description } : {}),
    state: row.state,
    startTime: row.created_at,
    tags,
  };
}
