import { InstanceNetworks } from "./instance-network.js";
import { KeyPairs } from "./key-pairs.js";
import { SecurityGroups } from "./security-groups.js";
import path from "node:path";
import { Ec2Error } from "../errors.js";
import { openDb, type Db } from "../store/db.js";
import { VolumeStore } from "../volumes/store.js";
import { Accounts } from "./accounts.js";
import { ClientTokens } from "./client-tokens.js";
import { Images, type Image, type RegisterImageRequest } from "./images.js";
import { instancesOptions } from "./instance-options.js";
import { Instances, type InstancesOptions } from "./instances.js";
import { SnapshotUploads } from "./snapshot-uploads.js";
import { Snapshots, type Snapshot } from "./snapshots.js";
import { checkTags, Tags, type Tag } from "./tags.js";
import { Volumes } from "./volumes.js";

/** A tag as DescribeTags lists it. */
export interface ResourceTag extends Tag {
  resourceId: string;
  resourceType: "image" | "snapshot" | "instance" | "volume";
}

/**
 * The control plane over one data directory: accounts, images, snapshots,
 * tags, the volume store. Operations that span several of them live here.
 */
export class Cloud {
  readonly db: Db;
  readonly accounts: Accounts;
  readonly volumes: VolumeStore;
  readonly tags: Tags;
  readonly snapshots: Snapshots;
  /** EBS volumes as EC2 resources (their blocks are in `volumes`, the store). */
  readonly ebsVolumes: Volumes;
  readonly uploads: SnapshotUploads;
  readonly images: Images;
  readonly instances: Instances;
  readonly keyPairs: KeyPairs;
  readonly clientTokens: ClientTokens;
  readonly securityGroups: SecurityGroups;

  constructor(
    readonly home: string,
    options: { instances?: Partial<InstancesOptions> } = {},
  ) {
    // Bad options fail before anything is opened.
    const instanceOptions = instancesOptions(options.instances);
    this.db = openDb(home);
    this.accounts = new Accounts(this.db);
    this.volumes = new VolumeStore(home);
    this.tags = new Tags(this.db);
    this.snapshots = new Snapshots(this.db, this.volumes, this.tags);
    this.ebsVolumes = new Volumes(this.db, this.volumes, this.snapshots, this.tags);
    this.uploads = new SnapshotUploads(this.volumes, this.snapshots);
    this.images = new Images(this.db, this.volumes, this.snapshots, this.tags, path.join(home, "buckets"));
    this.keyPairs = new KeyPairs(this.db, this.tags);
    this.clientTokens = new ClientTokens(this.db);
    this.securityGroups = new SecurityGroups(this.db, this.tags, (groupId) => this.instances.rulesChanged(groupId));
    const networks = new InstanceNetworks(this.db, this.keyPairs, this.securityGroups);
    this.instances = new Instances(this.db, this.ebsVolumes, this.images, this.snapshots, this.tags, networks, path.join(home, "consoles"), path.join(home, "states"), instanceOptions);
  }

  /**
   * The work a server left unfinished when it stopped: snapshots it wrote
   * but never recorded are deleted; instances whose VMs were running stop
   * (EBS) or terminate (instance store); bundles still pending are verified
   * again (in the background).
   */
  resume(): void {
    try {
      this.snapshots.sweepOrphans();
    } catch (err) {
      // Only a leak: the next start tries again. The server must start anyway.
      console.error(`amiboot: could not delete unrecorded snapshots yet: ${(err as Error).message}`);
    }
    this.ebsVolumes.adoptUnrecorded();
    this.instances.recover();
    void this.images.resumePending();
  }

  /** Ends every running VM (their instances settle as after a server stop), then closes the database. */
  async shutdown(): Promise<void> {
    await this.instances.shutdown();
    this.close();
  }

  /** RegisterImage with its TagSpecifications: both or neither. */
  registerImage(caller: string, region: string, r: RegisterImageRequest, tags: Tag[] = []): Image {
    const op = "RegisterImage";
    checkTags(tags, op);
    return this.db.transaction(() => {
      const image = this.images.register(caller, region, r);
      if (tags.length > 0) this.tags.set([image.imageId], tags, op);
      return { ...image, tags };
    })();
  }

  /**
   * DeregisterImage; with `deleteSnapshots`, its snapshots that no other
   * image uses go too. The image and the snapshot records change in one
   * transaction; the snapshots' blocks are freed after it.
   */
  deregisterImage(caller: string, region: string, imageId: string, deleteSnapshots: boolean): void {
    const image = this.images.owned(caller, region, imageId, "DeregisterImage");
    const gone = this.db.transaction(() => {
      this.images.deregister(caller, region, imageId);
      if (!deleteSnapshots) return [];
      // One snapshot may back several devices of the image.
      const snaps = [...new Set(image.blockDeviceMappings.flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])))];
      const unused = snaps.filter((snap) => this.images.imagesUsingSnapshot(snap).length === 0);
      for (const snap of unused) this.snapshots.forget(snap);
      return unused;
    })();
    for (const snap of gone) this.volumes.deleteSnapshot(snap);
  }

  /**
   * CreateSnapshot of one of the caller's volumes, with its tags. A volume
   * in use by a running VM gives a crash-consistent snapshot: the blocks
   * written so far, as EC2's snapshot of an attached volume.
   */
  snapshotVolume(caller: string, region: string, volumeId: string, description: string | undefined, tags: Tag[]): Snapshot {
    const op = "CreateSnapshot";
    this.ebsVolumes.get(caller, region, volumeId, op);
    checkTags(tags, op);
    if (description !== undefined && description.length > 255) throw new Ec2Error("InvalidParameterValue", "The description must be 255 characters or fewer", op);
    return this.snapshots.adopt(caller, region, this.volumes.snapshotVolume(volumeId, description !== undefined ? { description } : {}), tags);
  }

  /** CopySnapshot into `region` of a snapshot the caller may use (its own or shared with it): the copy is the caller's, with its tags. */
  copySnapshot(caller: string, region: string, sourceId: string, description: string, tags: Tag[]): Snapshot {
    checkTags(tags, "CopySnapshot");
    return this.snapshots.adopt(caller, region, this.volumes.copySnapshot(sourceId, description), tags);
  }

  deleteSnapshot(caller: string, region: string, snapshotId: string): void {
    this.snapshots.delete(caller, region, snapshotId, this.images.imagesUsingSnapshot(snapshotId));
  }

  createTags(caller: string, region: string, resourceIds: string[], tags: Tag[]): void {
    const op = "CreateTags";
    if (resourceIds.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter resourceIdSet", op);
    checkTags(tags, op);
    for (const id of resourceIds) this.ownedResource(caller, region, id, op);
    this.tags.set(resourceIds, tags, op);
  }

  deleteTags(caller: string, region: string, resourceIds: string[], tags: { key: string; value?: string }[]): void {
    const op = "DeleteTags";
    if (resourceIds.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter resourceIdSet", op);
    for (const id of resourceIds) this.ownedResource(caller, region, id, op);
    this.tags.remove(resourceIds, tags);
  }

  /** The tags of every resource the caller can see in the region: images, snapshots, instances, then their volumes. */
  describeTags(caller: string, region: string): ResourceTag[] {
    const { images } = this.images.describe(caller, region, { imageIds: [], owners: [], executableUsers: [], filters: [] });
    const { snapshots } = this.snapshots.describe(caller, region, { snapshotIds: [], owners: [], filters: [] });
    const instances = this.instances.describe(caller, region, { instanceIds: [], filters: [] });
    const volumeTags = this.tags.ofMany(this.ebsVolumes.ids(caller, region));
    return [
      ...images.flatMap((i) => i.tags.map((t) => ({ resourceId: i.imageId, resourceType: "image" as const, ...t }))),
      ...snapshots.flatMap((s) => s.tags.map((t) => ({ resourceId: s.snapshotId, resourceType: "snapshot" as const, ...t }))),
      ...instances.flatMap((i) => i.tags.map((t) => ({ resourceId: i.instanceId, resourceType: "instance" as const, ...t }))),
      ...[...volumeTags].flatMap(([id, tags]) => tags.map((t) => ({ resourceId: id, resourceType: "volume" as const, ...t }))),
    ];
  }

  /** Checks that a taggable resource exists and is the caller's. */
  private ownedResource(caller: string, region: string, id: string, op: string): void {
    if (id.startsWith("ami-")) this.images.owned(caller, region, id, op);
    else if (id.startsWith("snap-")) this.snapshots.get(caller, region, id, op);
    else if (id.startsWith("i-")) this.instances.get(caller, region, id, op);
    else if (id.startsWith("vol-")) this.ebsVolumes.get(caller, region, id, op);
    else throw new Ec2Error("InvalidID", `The ID '${id}' is not valid (amiboot tags images, snapshots, instances and volumes)`, op);
  }

  close(): void {
    this.uploads.close();
    this.db.close();
  }
}
