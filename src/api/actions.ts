import type { Cloud } from "../cloud/cloud.js";
import type { Image } from "../cloud/images.js";
import { REGIONS } from "../cloud/regions.js";
import { Ec2Error } from "../errors.js";
import { blockDeviceMappings, filters, intParam, listParam, stringParam, type QueryParams } from "./query.js";

export interface Call {
  accountId: string;
  region: string;
  params: QueryParams;
}

type Handler = (cloud: Cloud, call: Call) => Record<string, unknown>;

/** Each supported Action: parameters in, the control plane's answer out, in EC2's element names. */
const ACTIONS: Record<string, Handler> = {
  DescribeRegions: (_cloud, { params }) => {
    const wanted = listParam(params, "RegionName");
    return {
      regionInfo: REGIONS.filter((r) => wanted.length === 0 || wanted.includes(r)).map((r) => ({
        regionName: r,
        regionEndpoint: `ec2.${r}.amazonaws.com`,
        optInStatus: "opt-in-not-required",
      })),
    };
  },

  RegisterImage: (cloud, { accountId, region, params }) => {
    const op = "RegisterImage";
    const image = cloud.images.register(accountId, region, {
      name: stringParam(params, "Name", { op }),
      description: stringParam(params, "Description", { op }),
      architecture: stringParam(params, "Architecture", { op }),
      virtualizationType: stringParam(params, "VirtualizationType", { op }),
      rootDeviceName: stringParam(params, "RootDeviceName", { op }),
      imageLocation: stringParam(params, "ImageLocation", { op }),
      blockDeviceMappings: blockDeviceMappings(params),
    });
    return { imageId: image.imageId };
  },

  DescribeImages: (cloud, { accountId, region, params }) => {
    const { images, nextToken } = cloud.images.describe(accountId, region, {
      imageIds: listParam(params, "ImageId"),
      owners: listParam(params, "Owner"),
      executableUsers: listParam(params, "ExecutableBy"),
      filters: filters(params),
      maxResults: intParam(params, "MaxResults", { op: "DescribeImages" }),
      nextToken: stringParam(params, "NextToken", { op: "DescribeImages" }),
    });
    return { imagesSet: images.map(imageXml), nextToken };
  },

  DeregisterImage: (cloud, { accountId, region, params }) => {
    cloud.images.deregister(accountId, region, stringParam(params, "ImageId", { required: true, op: "DeregisterImage" })!);
    return { return: true };
  },
};

export function dispatch(cloud: Cloud, action: string, call: Call): Record<string, unknown> {
  const handler = ACTIONS[action];
  if (!handler) throw new Ec2Error("InvalidAction", `The action ${action} is not valid for this web service.`, "dispatch");
  return handler(cloud, call);
}

/** An image in DescribeImages' XML shape. */
function imageXml(i: Image): Record<string, unknown> {
  return {
    imageId: i.imageId,
    imageLocation: i.imageLocation ?? `${i.ownerId}/${i.name}`,
    imageState: i.state,
    imageOwnerId: i.ownerId,
    creationDate: i.creationDate,
    isPublic: i.isPublic,
    architecture: i.architecture,
    imageType: "machine",
    name: i.name,
    description: i.description,
    rootDeviceType: i.rootDeviceType,
    rootDeviceName: i.rootDeviceName,
    blockDeviceMapping: i.blockDeviceMappings.map((m) => ({
      deviceName: m.DeviceName,
      virtualName: m.VirtualName,
      noDevice: m.NoDevice,
      ebs: m.Ebs
        ? {
            snapshotId: m.Ebs.SnapshotId,
            volumeSize: m.Ebs.VolumeSize,
            deleteOnTermination: m.Ebs.DeleteOnTermination ?? m.DeviceName === i.rootDeviceName,
            volumeType: m.Ebs.VolumeType ?? "gp2",
            iops: m.Ebs.Iops,
            encrypted: m.Ebs.Encrypted ?? false,
          }
        : undefined,
    })),
    virtualizationType: i.virtualizationType,
    hypervisor: "xen",
    tagSet: i.tags,
    stateReason: i.stateReason ? { code: "Client.InvalidManifest", message: i.stateReason } : undefined,
  };
}
