import type { Volume, VolumeAttachment } from "../cloud/volumes.js";
import type { Handler } from "./call.js";
import { intParam, listParam, pageParams, stringParam } from "./query.js";
import { snapshotXml } from "./snapshot-actions.js";
import { tagsOf } from "./tag-specifications.js";

/** EBS volumes: create, describe, attach, detach, modify, delete, and snapshots of them. */
export const VOLUME_ACTIONS: Record<string, Handler> = {
  CreateVolume: (cloud, { accountId, region, params }) => {
    const op = "CreateVolume";
    const v = cloud.ebsVolumes.create(accountId, region, {
      availabilityZone: stringParam(params, "AvailabilityZone", { op }),
      snapshotId: stringParam(params, "SnapshotId", { op }),
      size: intParam(params, "Size", { op }),
      volumeType: stringParam(params, "VolumeType", { op }),
      iops: intParam(params, "Iops", { op }),
      tags: tagsOf(params, "volume", op),
    });
    // EC2 answers CreateVolume with the volume's fields at the top level.
    const { volumeId, size, snapshotId, availabilityZone, status, createTime, volumeType, iops, encrypted, tagSet } = volumeXml(v);
    return { volumeId, size, snapshotId, availabilityZone, status, createTime, volumeType, iops, encrypted, tagSet };
  },
  DescribeVolumes: (cloud, { accountId, region, params }) => {
    const op = "DescribeVolumes";
    const { volumes, nextToken } = cloud.ebsVolumes.describe(accountId, region, {
      volumeIds: listParam(params, "VolumeId", op),
      ...pageParams(params, op),
    });
    return { volumeSet: volumes.map(volumeXml), nextToken };
  },
  DeleteVolume: (cloud, { accountId, region, params }) => {
    const op = "DeleteVolume";
    cloud.ebsVolumes.delete(accountId, region, stringParam(params, "VolumeId", { required: true, op })!, op);
    return { return: true };
  },
  AttachVolume: (cloud, { accountId, region, params }) => {
    const op = "AttachVolume";
    const a = cloud.ebsVolumes.attach(accountId, region, {
      volumeId: stringParam(params, "VolumeId", { required: true, op })!,
      instanceId: stringParam(params, "InstanceId", { required: true, op })!,
      device: stringParam(params, "Device", { required: true, op })!,
    });
    return attachmentXml(a);
  },
  DetachVolume: (cloud, { accountId, region, params }) => {
    const op = "DetachVolume";
    const a = cloud.ebsVolumes.detach(accountId, region, {
      volumeId: stringParam(params, "VolumeId", { required: true, op })!,
      instanceId: stringParam(params, "InstanceId", { op }),
      device: stringParam(params, "Device", { op }),
    });
    return { ...attachmentXml(a), status: "detached" };
  },
  ModifyVolume: (cloud, { accountId, region, params }) => {
    const op = "ModifyVolume";
    const volumeId = stringParam(params, "VolumeId", { required: true, op })!;
    const { before, after } = cloud.ebsVolumes.modify(accountId, region, volumeId, {
      size: intParam(params, "Size", { op }),
      volumeType: stringParam(params, "VolumeType", { op }),
      iops: intParam(params, "Iops", { op }),
    });
    // The change is made at once: the modification is complete when it is answered.
    return {
      volumeModification: {
        volumeId,
        modificationState: "completed",
        targetSize: after.size,
        targetVolumeType: after.volumeType,
        targetIops: after.iops,
        originalSize: before.size,
        originalVolumeType: before.volumeType,
        originalIops: before.iops,
        progress: 100,
        startTime: new Date().toISOString(),
        endTime: new Date().toISOString(),
      },
    };
  },
  CreateSnapshot: (cloud, { accountId, region, params }) => {
    const op = "CreateSnapshot";
    const volumeId = stringParam(params, "VolumeId", { required: true, op })!;
    const s = cloud.snapshotVolume(accountId, region, volumeId, stringParam(params, "Description", { op }), tagsOf(params, "snapshot", op));
    return { ...snapshotXml(s), volumeId };
  },
};

function attachmentXml(a: VolumeAttachment): Record<string, unknown> {
  return { volumeId: a.volumeId, instanceId: a.instanceId, device: a.device, status: a.state, attachTime: a.attachTime, deleteOnTermination: a.deleteOnTermination };
}

function volumeXml(v: Volume): Record<string, unknown> {
  return {
    volumeId: v.volumeId,
    size: v.size,
    snapshotId: v.snapshotId ?? "",
    availabilityZone: v.availabilityZone,
    status: v.state,
    createTime: v.createTime,
    attachmentSet: v.attachments.map(attachmentXml),
    volumeType: v.volumeType,
    iops: v.iops,
    encrypted: false,
    multiAttachEnabled: false,
    tagSet: v.tags,
  };
}
