/*
 * About 440 lines, on purpose: the image registry's EC2 rules (register,
 * copy, deregister, launch permissions, describe with its filters and
 * pages) in one place; filters, block device mappings and snapshots are
 * their own modules.
 */
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { Db } from "../store/db.js";
import { readManifest, verifyBundle } from "../volumes/bundle.js";
import { resolveMappings, validateMappings, type BlockDeviceMapping } from "./block-device-mappings.js";
import type { VolumeStore } from "../volumes/store.js";
import { checkMaxResults, decodeNextToken, encodeNextToken, type PageRequest } from "./filters.js";
import { filterMatcher, IN_LIST } from "./image-filters.js";
import type { Snapshots } from "./snapshots.js";
import type { Tags } from "./tags.js";

export type Architecture = "i386" | "x86_64" | "arm64";
export type VirtualizationType = "hvm" | "paravirtual";
export type ImageState = "pending" | "available" | "failed" | "deregistered";

/** An AMI as the control plane keeps it. */
export interface Image {
  imageId: string;
  region: string;
  ownerId: string;
  name: string;
  description?: string;
  state: ImageState;
  stateReason?: string;
  architecture: Architecture;
  virtualizationType: VirtualizationType;
  rootDeviceType: "ebs" | "instance-store";
  rootDeviceName: string;
  imageLocation?: string;
  blockDeviceMappings: BlockDeviceMapping[];
  isPublic: boolean;
  creationDate: string;
  tags: { key: string; value: string }[];
}

/** A launch permission: an account (`userId`), or everyone (`group: "all"`, a public image). */
export interface Permission {
  userId?: string;
  group?: string;
}

export interface RegisterImageRequest {
  name?: string;
  description?: string;
  architecture?: string;
  virtualizationType?: string;
  rootDeviceName?: string;
  blockDeviceMappings: BlockDeviceMapping[];
  imageLocation?: string;
}

export interface DescribeImagesRequest extends PageRequest {
  imageIds: string[];
  owners: string[];
  executableUsers: string[];
}

const NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;
const ARCHITECTURES = ["i386", "x86_64", "arm64"];
const VIRTUALIZATION = ["hvm", "paravirtual"];

interface Row {
  id: string;
  region: string;
  owner_id: string;
  name: string;
  description: string | null;
  state: ImageState;
  state_reason: string | null;
  architecture: Architecture;
  virtualization_type: VirtualizationType;
  root_device_type: "ebs" | "instance-store";
  root_device_name: string;
  image_location: string | null;
  block_device_mappings: string;
  is_public: number;
  created_at: string;
}

/**
 * AMIs: RegisterImage, DescribeImages, DeregisterImage with EC2's rules for
 * names, mappings, visibility (owner, launch permissions, public) and errors.
 */
export class Images {
  constructor(
    private readonly db: Db,
    private readonly volumes: VolumeStore,
    private readonly snapshots: Snapshots,
    private readonly tags: Tags,
    /** Where `bucket/key.manifest.xml` image locations live. */
    private readonly bucketsDir: string,
  ) {}

  /** Bundle verifications in flight, by image. */
  private readonly verifying = new Map<string, Promise<void>>();

  register(caller: string, region: string, r: RegisterImageRequest): Image {
    const op = "RegisterImage";
    this.checkName(caller, region, r.name, op);
    // EC2 documents i386 as the default architecture.
    const architecture = (r.architecture ?? "i386") as Architecture;
    if (!ARCHITECTURES.includes(architecture)) throw new Ec2Error("InvalidParameterValue", `Value (${architecture}) for parameter architecture is invalid. Expected: 'i386', 'x86_64', 'arm64'.`, op);
    const virtualizationType = (r.virtualizationType ?? "paravirtual") as VirtualizationType;
    if (!VIRTUALIZATION.includes(virtualizationType)) {
      throw new Ec2Error("InvalidParameterValue", `Value (${virtualizationType}) for parameter virtualizationType is invalid. Expected: 'hvm', 'paravirtual'.`, op);
    }
    validateMappings(r.blockDeviceMappings, op);
    for (const m of r.blockDeviceMappings) if (m.Ebs?.SnapshotId) this.snapshots.get(caller, region, m.Ebs.SnapshotId, op);
    const rootDeviceType = r.imageLocation !== undefined ? "instance-store" : "ebs";
    const rootDeviceName = r.rootDeviceName ?? (rootDeviceType === "ebs" ? undefined : "/dev/sda1");
    if (rootDeviceName === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter rootDeviceName", op);
    if (rootDeviceType === "instance-store") {
      // The manifest must parse now; every part is verified when an instance launches.
      this.withoutHostPaths(() => readManifest(this.manifestPath(r.imageLocation!)));
    }
    resolveMappings({ rootDeviceName, image: r.blockDeviceMappings, snapshotSizeGiB: this.volumes.snapshotSizeGiB, maxDisks: Number.POSITIVE_INFINITY, rootKind: rootDeviceType, op });
    const image: Image = {
      imageId: newId("ami"),
      region,
      ownerId: caller,
      name: r.name,
      ...(r.description !== undefined ? { description: r.description } : {}),
      // An instance-store image is pending until every part of its bundle has been verified.
      state: rootDeviceType === "instance-store" ? "pending" : "available",
      architecture,
      virtualizationType,
      rootDeviceType,
      rootDeviceName,
      ...(r.imageLocation !== undefined ? { imageLocation: r.imageLocation } : {}),
      blockDeviceMappings: r.blockDeviceMappings,
      isPublic: false,
      creationDate: new Date().toISOString(),
      tags: [],
    };
    this.db
      .prepare(
        `insert into images (id, region, owner_id, name, description, state, architecture, virtualization_type, root_device_type,
           root_device_name, image_location, block_device_mappings, is_public, created_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
      )
      .run(image.imageId, region, caller, image.name, image.description ?? null, image.state, architecture, virtualizationType, rootDeviceType, rootDeviceName, image.imageLocation ?? null, JSON.stringify(image.blockDeviceMappings), image.creationDate);
    if (image.state === "pending") void this.verify(image.imageId, image.imageLocation!);
    return image;
  }

  /**
   * Verifies a pending instance-store image's bundle in the background: it
   * becomes available, or failed with the reason. Also resumes images left
   * pending by a server that stopped (see `resumePending`). An image is
   * verified once at a time, whoever asks.
   */
  private verify(imageId: string, location: string): Promise<void> {
    let running = this.verifying.get(imageId);
    if (!running) {
      running = this.verifyOnce(imageId, location).finally(() => this.verifying.delete(imageId));
      this.verifying.set(imageId, running);
    }
    return running;
  }

  /** Resolves when the image's bundle verification, if one is running, has ended. */
  verified(imageId: string): Promise<void> {
    return this.verifying.get(imageId) ?? Promise.resolve();
  }

  private async verifyOnce(imageId: string, location: string): Promise<void> {
    let reason: string | undefined;
    try {
      await verifyBundle(this.manifestPath(location));
    } catch (err) {
      reason = this.hideHostPaths(err instanceof Ec2Error ? err.message : String(err));
    }
    try {
      this.db
        .prepare("update images set state = ?, state_reason = ? where id = ? and state = 'pending'")
        .run(reason === undefined ? "available" : "failed", reason ?? null, imageId);
    } catch {
      // The database was closed under us (shutdown): the image stays pending and is verified on the next start.
    }
  }

  /** Verifications a stopped server left unfinished; returns when they are all done. */
  async resumePending(): Promise<void> {
    const rows = this.db.prepare("select id, image_location from images where state = 'pending' and image_location is not null").all() as { id: string; image_location: string }[];
    await Promise.all(rows.map((r) => this.verify(r.id, r.image_location)));
  }

  /** EC2's rules for an AMI name: present, well-formed, not in use by another of the caller's images in the region. */
  checkName(caller: string, region: string, name: string | undefined, op: string): asserts name is string {
    if (name === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter name", op);
    if (!NAME.test(name)) {
      throw new Ec2Error(
        "InvalidAMIName.Malformed",
        `AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'`,
        op,
      );
    }
    const taken = this.db.prepare("select id from images where region = ? and owner_id = ? and name = ? and state != 'deregistered'").get(region, caller, name) as { id: string } | undefined;
    if (taken) throw new Ec2Error("InvalidAMIName.Duplicate", `AMI name ${name} is already in use by AMI ${taken.id}`, op);
  }

  describe(caller: string, region: string, r: DescribeImagesRequest): { images: Image[]; nextToken?: string } {
    const op = "DescribeImages";
    for (const id of r.imageIds) if (!isId(id, "ami")) throw new Ec2Error("InvalidAMIID.Malformed", `Invalid id: "${id}" (expecting "ami-...")`, op);
    // Every condition but the block-device-mapping.* filters is SQL, so only matching rows are read; lists travel as one JSON parameter.
    // Images asked by id are looked up by primary key, each once.
    const byId = r.imageIds.length > 0;
    const from = byId ? "json_each(?) asked cross join images i on i.id = asked.value" : "images i";
    const where = ["i.region = ?", "(i.owner_id = ? or i.is_public = 1 or i.id in (select image_id from launch_permissions where user_id = ?))"];
    const params: unknown[] = [...(byId ? [JSON.stringify([...new Set(r.imageIds)])] : []), region, caller, caller];
    if (byId) {
      const seen = new Set(this.db.prepare(`select i.id from ${from} where ${where.join(" and ")}`).pluck().all(...params) as string[]);
      const missing = r.imageIds.filter((id) => !seen.has(id));
      if (missing.length > 0) throw new Ec2Error("InvalidAMIID.NotFound", `The image id '[${missing.join(", ")}]' does not exist`, op);
    } else if (!r.filters.some((f) => f.name === "state")) {
      // Deregistered images leave listings; they stay visible by id for a while, as in EC2.
      where.push("i.state != 'deregistered'");
    }
    if (r.owners.length > 0) {
      where.push(IN_LIST("i.owner_id"));
      params.push(JSON.stringify(r.owners.map((o) => (o === "self" ? caller : o))));
    }
    if (r.executableUsers.length > 0) {
      // Any user but `all` may launch public images too, so this is: public, or owned by or granted to one of the users.
      const users = JSON.stringify(r.executableUsers.filter((u) => u !== "all").map((u) => (u === "self" ? caller : u)));
      where.push(`(i.is_public = 1 or ${IN_LIST("i.owner_id")} or exists (select 1 from launch_permissions lp where lp.image_id = i.id and ${IN_LIST("lp.user_id")}))`);
      params.push(users, users);
    }
    const onMappings: ((mappings: BlockDeviceMapping[]) => boolean)[] = [];
    for (const f of r.filters) {
      const m = filterMatcher(f, op);
      if (typeof m === "function") onMappings.push(m);
      else {
        where.push(m.sql);
        params.push(...m.params);
      }
    }
    const start = r.nextToken ? decodeNextToken(r.nextToken, op) : 0;
    // The matching ids in listing order, then whole rows, tags and mappings only for the page.
    // `+` keeps SQLite (which has no statistics here) from walking images_region only to skip the sort: the filters' indexes narrow far more.
    const matching = `from ${from} where ${where.join(" and ")} order by +i.created_at, i.id`;
    let ids: string[];
    if (onMappings.length === 0) ids = this.db.prepare(`select i.id ${matching}`).pluck().all(...params) as string[];
    else {
      const rows = this.db.prepare(`select i.id, i.block_device_mappings ${matching}`).all(...params) as Pick<Row, "id" | "block_device_mappings">[];
      ids = rows.filter((row) => onMappings.every((m) => m(JSON.parse(row.block_device_mappings) as BlockDeviceMapping[]))).map((row) => row.id);
    }
    const end = r.maxResults !== undefined ? start + checkMaxResults(r.maxResults, op) : ids.length;
    const page = ids.slice(start, end);
    const rows = this.db.prepare("select i.* from json_each(?) page cross join images i on i.id = page.value order by page.key").all(JSON.stringify(page)) as Row[];
    const tags = this.tags.ofMany(page);
    return { images: rows.map((row) => this.toImage(row, tags.get(row.id) ?? [])), ...(end < ids.length ? { nextToken: encodeNextToken(end) } : {}) };
  }

  deregister(caller: string, region: string, imageId: string): void {
    const op = "DeregisterImage";
    const image = this.owned(caller, region, imageId, op);
    if (image.state === "deregistered") throw new Ec2Error("InvalidAMIID.Unavailable", `The image ID '${imageId}' is no longer available`, op);
    this.db.prepare("update images set state = 'deregistered' where id = ?").run(imageId);
  }

  /** Adds or removes launch permissions (12-digit account ids, or the group `all`). Owner only. */
  modifyLaunchPermission(caller: string, region: string, imageId: string, change: { add: Permission[]; remove: Permission[] }): void {
    const op = "ModifyImageAttribute";
    const image = this.owned(caller, region, imageId, op);
    for (const p of [...change.add, ...change.remove]) {
      if (p.userId !== undefined && !/^\d{12}$/.test(p.userId)) {
        throw new Ec2Error("InvalidAMIAttributeItemValue", `Invalid attribute item value "${p.userId}" for userId item type.`, op);
      }
      if (p.group !== undefined && p.group !== "all") throw new Ec2Error("InvalidAMIAttributeItemValue", `Invalid attribute item value "${p.group}" for group item type.`, op);
    }
    this.db.transaction(() => {
      for (const p of change.add) {
        if (p.group) this.db.prepare("update images set is_public = 1 where id = ?").run(image.imageId);
        if (p.userId) this.db.prepare("insert or ignore into launch_permissions (image_id, user_id) values (?, ?)").run(image.imageId, p.userId);
      }
      for (const p of change.remove) {
        if (p.group) this.db.prepare("update images set is_public = 0 where id = ?").run(image.imageId);
        if (p.userId) this.db.prepare("delete from launch_permissions where image_id = ? and user_id = ?").run(image.imageId, p.userId);
      }
    })();
  }

  setDescription(caller: string, region: string, imageId: string, description: string): void {
    const image = this.owned(caller, region, imageId, "ModifyImageAttribute");
    this.db.prepare("update images set description = ? where id = ?").run(description, image.imageId);
  }

  /** Who may launch the image besides its owner. Owner only. */
  launchPermissions(caller: string, region: string, imageId: string): Permission[] {
    const image = this.owned(caller, region, imageId, "DescribeImageAttribute");
    const users = this.db.prepare("select user_id from launch_permissions where image_id = ? order by user_id").all(image.imageId) as { user_id: string }[];
    return [...(image.isPublic ? [{ group: "all" }] : []), ...users.map((u) => ({ userId: u.user_id }))];
  }

  resetLaunchPermission(caller: string, region: string, imageId: string): void {
    const image = this.owned(caller, region, imageId, "ResetImageAttribute");
    this.db.transaction(() => {
      this.db.prepare("delete from launch_permissions where image_id = ?").run(image.imageId);
      this.db.prepare("update images set is_public = 0 where id = ?").run(image.imageId);
    })();
  }

  /**
   * CopyImage: a new image in `region`, owned by the caller, from an image in
   * `sourceRegion` the caller owns or may launch; EBS snapshots are copied;
   * launch permissions are not; tags only when asked.
   */
  copy(caller: string, sourceRegion: string, region: string, r: { sourceImageId: string; name: string; description?: string; copyTags: boolean }): Image {
    const op = "CopyImage";
    const source = this.get(caller, sourceRegion, r.sourceImageId, op);
    if (source.state !== "available") throw new Ec2Error("InvalidAMIID.Unavailable", `The image ID '${source.imageId}' is not available for copying (state ${source.state})`, op);
    // The snapshots, the image and its tags in one transaction: a failure (or a crash) leaves no half copy.
    const copied: string[] = [];
    try {
      return this.db.transaction(() => {
        const mappings = source.blockDeviceMappings.map((m) => {
          if (!m.Ebs?.SnapshotId) return m;
          const snap = this.snapshots.copy(caller, region, m.Ebs.SnapshotId, `Copied for ${source.imageId} from ${sourceRegion}`);
          copied.push(snap.snapshotId);
          return { ...m, Ebs: { ...m.Ebs, SnapshotId: snap.snapshotId } };
        });
        const copy = this.register(caller, region, {
          name: r.name,
          description: r.description ?? source.description,
          architecture: source.architecture,
          virtualizationType: source.virtualizationType,
          rootDeviceName: source.rootDeviceName,
          blockDeviceMappings: mappings,
          ...(source.imageLocation !== undefined ? { imageLocation: source.imageLocation } : {}),
        });
        if (r.copyTags && source.tags.length > 0) this.tags.set([copy.imageId], source.tags, op);
        return { ...copy, tags: r.copyTags ? source.tags : [] };
      })();
    } catch (err) {
      // The rolled-back snapshot records' blocks: nothing refers to them now.
      for (const id of copied) this.volumes.deleteSnapshot(id);
      throw err;
    }
  }

  /** The images (not deregistered) whose mappings use a snapshot: it must not be deleted under them. */
  /** An image by id, whoever owns it and whatever its state (for the control plane's own use). */
  find(imageId: string): Image | undefined {
    const row = this.db.prepare("select * from images where id = ?").get(imageId) as Row | undefined;
    return row && this.toImage(row);
  }

  /** When an instance of the image was last launched (DescribeImageAttribute lastLaunchedTime). */
  lastLaunched(imageId: string): string | undefined {
    return (this.db.prepare("select max(launch_time) from instances where image_id = ?").pluck().get(imageId) as string | null) ?? undefined;
  }

  imagesUsingSnapshot(snapshotId: string): string[] {
    const rows = this.db.prepare("select id, block_device_mappings from images where state != 'deregistered'").all() as { id: string; block_device_mappings: string }[];
    return rows.filter((r) => (JSON.parse(r.block_device_mappings) as BlockDeviceMapping[]).some((m) => m.Ebs?.SnapshotId === snapshotId)).map((r) => r.id);
  }

  /** An image the caller owns, or EC2's error for it. */
  owned(caller: string, region: string, imageId: string, op: string): Image {
    const image = this.get(caller, region, imageId, op);
    if (image.ownerId !== caller) throw new Ec2Error("AuthFailure", `Not authorized for image:${imageId}`, op);
    return image;
  }

  /** An image the caller may see, or EC2's error for it. */
  get(caller: string, region: string, imageId: string, op: string): Image {
    if (!isId(imageId, "ami")) throw new Ec2Error("InvalidAMIID.Malformed", `Invalid id: "${imageId}" (expecting "ami-...")`, op);
    const row = this.db.prepare("select * from images where id = ? and region = ?").get(imageId, region) as Row | undefined;
    const image = row ? this.toImage(row) : undefined;
    if (!image || !this.canSee(caller, image)) throw new Ec2Error("InvalidAMIID.NotFound", `The image id '[${imageId}]' does not exist`, op);
    return image;
  }

  /** Bundle errors name files by their bucket location, not by where the server keeps buckets. */
  private hideHostPaths(message: string): string {
    return message.replaceAll(this.bucketsDir + path.sep, "");
  }

  private withoutHostPaths<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Ec2Error) throw new Ec2Error(err.code, this.hideHostPaths(err.message), err.op);
      throw err;
    }
  }

  /** Where an instance-store image's manifest lives on this machine. */
  manifestPath(location: string): string {
    const parts = location.split("/");
    if (parts.length < 2 || parts.some((p) => p === "" || p === "." || p === "..") || !location.endsWith(".manifest.xml")) {
      throw new Ec2Error("InvalidManifest", `ImageLocation '${location}' must be bucket/key.manifest.xml`, "RegisterImage");
    }
    return path.join(this.bucketsDir, ...parts);
  }

  private canSee(caller: string, i: Image): boolean {
    return this.executableBy(i, caller);
  }

  private executableBy(i: Image, user: string): boolean {
    if (user === "all") return i.isPublic;
    return i.ownerId === user || i.isPublic || this.db.prepare("select 1 from launch_permissions where image_id = ? and user_id = ?").get(i.imageId, user) !== undefined;
  }

  private toImage(row: Row, tags = this.tags.of(row.id)): Image {
    return {
      imageId: row.id,
      region: row.region,
      ownerId: row.owner_id,
      name: row.name,
      ...(row.description !== null ? { description: row.description } : {}),
      state: row.state,
      ...(row.state_reason !== null ? { stateReason: row.state_reason } : {}),
      architecture: row.architecture,
      virtualizationType: row.virtualization_type,
      rootDeviceType: row.root_device_type,
      rootDeviceName: row.root_device_name,
      ...(row.image_location !== null ? { imageLocation: row.image_location } : {}),
      blockDeviceMappings: JSON.parse(row.block_device_mappings) as BlockDeviceMapping[],
      isPublic: row.is_public === 1,
      creationDate: row.created_at,
      tags,
    };
  }
}
