import { checkRegion } from "../cloud/regions.js";
import type { Snapshot } from "../cloud/snapshots.js";
import { Ec2Error } from "../errors.js";
import type { Handler } from "./call.js";
import { grantChanges, listParam, pageParams, stringParam, type Grant } from "./query.js";
import { tagsOf } from "./tag-specifications.js";

/** Snapshots: describe, copy, share (createVolumePermission), delete. CreateSnapshot is a volume action. */
export const SNAPSHOT_ACTIONS: Record<string, Handler> = {
  DescribeSnapshots: (cloud, { accountId, region, params }) => {
    const op = "DescribeSnapshots";
    const { snapshots, nextToken } = cloud.snapshots.describe(accountId, region, {
      snapshotIds: listParam(params, "SnapshotId", op),
      owners: listParam(params, "Owner", op),
      ...pageParams(params, op),
    });
    return { snapshotSet: snapshots.map(snapshotXml), nextToken };
  },

  CopySnapshot: (cloud, { accountId, region, params }) => {
    const op = "CopySnapshot";
    const sourceRegion = checkRegion(stringParam(params, "SourceRegion", { required: true, op })!, "SourceRegion");
    const sourceId = stringParam(params, "SourceSnapshotId", { required: true, op })!;
    const tags = tagsOf(params, "snapshot", op);
    cloud.snapshots.usable(accountId, sourceRegion, sourceId, op);
    const description = stringParam(params, "Description", { op }) ?? `[Copied ${sourceId} from ${sourceRegion}]`;
    return { snapshotId: cloud.copySnapshot(accountId, region, sourceId, description, tags).snapshotId, tagSet: tags };
  },

  ModifySnapshotAttribute: (cloud, { accountId, region, params }) => {
    const op = "ModifySnapshotAttribute";
    const attribute = stringParam(params, "Attribute", { op });
    if (attribute !== undefined && attribute !== "createVolumePermission") {
      throw new Ec2Error("InvalidParameterValue", `Value (${attribute}) for parameter attribute is invalid. Only createVolumePermission can be modified.`, op);
    }
    const { add, remove } = grantChanges(params, "CreateVolumePermission", "GroupName", op);
    if (add.length === 0 && remove.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter createVolumePermission", op);
    cloud.snapshots.modifyPermission(accountId, region, stringParam(params, "SnapshotId", { required: true, op })!, { add: add.map(grantee(op)), remove: remove.map(grantee(op)) });
    return { return: true };
  },

  DescribeSnapshotAttribute: (cloud, { accountId, region, params }) => {
    const op = "DescribeSnapshotAttribute";
    const snapshotId = stringParam(params, "SnapshotId", { required: true, op })!;
    const attribute = stringParam(params, "Attribute", { required: true, op })!;
    if (attribute === "productCodes") return { snapshotId, productCodes: [] };
    if (attribute !== "createVolumePermission") throw new Ec2Error("InvalidParameterValue", `Value (${attribute}) for parameter attribute is invalid. Expected createVolumePermission or productCodes.`, op);
    const grantees = cloud.snapshots.permissions(accountId, region, snapshotId, op);
    return { snapshotId, createVolumePermission: grantees.map((g) => (g === "all" ? { group: "all" } : { userId: g })) };
  },

  ResetSnapshotAttribute: (cloud, { accountId, region, params }) => {
    const op = "ResetSnapshotAttribute";
    const snapshotId = stringParam(params, "SnapshotId", { required: true, op })!;
    if (stringParam(params, "Attribute", { required: true, op }) !== "createVolumePermission") throw new Ec2Error("InvalidParameterValue", "Only createVolumePermission can be reset.", op);
    cloud.snapshots.modifyPermission(accountId, region, snapshotId, { add: [], remove: cloud.snapshots.permissions(accountId, region, snapshotId, op) });
    return { return: true };
  },

  DeleteSnapshot: (cloud, { accountId, region, params }) => {
    const op = "DeleteSnapshot";
    cloud.deleteSnapshot(accountId, region, stringParam(params, "SnapshotId", { required: true, op })!);
    return { return: true };
  },
};

/** A grant as stored: the account id, or `all`; any other group is EC2's error. */
const grantee = (op: string) => (g: Grant): string => {
  if (g.group !== undefined && g.group !== "all") throw new Ec2Error("InvalidParameterValue", `Value (${g.group}) for parameter group is invalid. Only 'all' is a group.`, op);
  const who = g.group ?? g.userId;
  if (who === undefined) throw new Ec2Error("MissingParameter", "A createVolumePermission needs a UserId or a Group", op);
  return who;
};

/** A snapshot in DescribeSnapshots' (and CreateSnapshot's) XML shape. */
export function snapshotXml(s: Snapshot): Record<string, unknown> {
  return {
    snapshotId: s.snapshotId,
    volumeId: "vol-ffffffff",
    status: s.state,
    startTime: s.startTime,
    progress: "100%",
    ownerId: s.ownerId,
    volumeSize: s.volumeSize,
    description: s.description ?? "",
    encrypted: false,
    storageTier: "standard",
    tagSet: s.tags,
  };
}
