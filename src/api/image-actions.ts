import type { Image } from "../cloud/images.js";
import { checkRegion, REGIONS } from "../cloud/regions.js";
import { Ec2Error } from "../errors.js";
import type { Handler } from "./call.js";
import { blockDeviceMappings, boolParam, grantChanges, listParam, pageParams, stringParam, tagSpecifications } from "./query.js";

/** Regions and images: parameters in, the control plane's answer out, in EC2's element names. */
export const IMAGE_ACTIONS: Record<string, Handler> = {
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
    const tags = tagSpecifications(params, op).filter((t) => t.resourceType === "image").flatMap((t) => t.tags);
    const image = cloud.registerImage(accountId, region, {
      name: stringParam(params, "Name", { op }),
      description: stringParam(params, "Description", { op }),
      architecture: stringParam(params, "Architecture", { op }),
      virtualizationType: stringParam(params, "VirtualizationType", { op }),
      rootDeviceName: stringParam(params, "RootDeviceName", { op }),
      imageLocation: stringParam(params, "ImageLocation", { op }),
      blockDeviceMappings: blockDeviceMappings(params),
    }, tags);
    return { imageId: image.imageId };
  },

  DescribeImages: (cloud, { accountId, region, params }) => {
    const { images, nextToken } = cloud.images.describe(accountId, region, {
      imageIds: listParam(params, "ImageId"),
      owners: listParam(params, "Owner"),
      executableUsers: listParam(params, "ExecutableBy"),
      ...pageParams(params, "DescribeImages"),
    });
    return { imagesSet: images.map(imageXml), nextToken };
  },

  ModifyImageAttribute: (cloud, { accountId, region, params }) => {
    const op = "ModifyImageAttribute";
    const imageId = stringParam(params, "ImageId", { required: true, op })!;
    const description = stringParam(params, "Description.Value", { op }) ?? (stringParam(params, "Attribute", { op }) === "description" ? stringParam(params, "Value", { op }) : undefined);
    if (description !== undefined) {
      cloud.images.setDescription(accountId, region, imageId, description);
      return { return: true };
    }
    const { add, remove } = grantChanges(params, "LaunchPermission", "UserGroup", op);
    if (add.length === 0 && remove.length === 0) throw new Ec2Error("MissingParameter", "The request must contain the parameter launchPermission or description", op);
    cloud.images.modifyLaunchPermission(accountId, region, imageId, { add, remove });
    return { return: true };
  },

  DescribeImageAttribute: (cloud, { accountId, region, params }) => {
    const op = "DescribeImageAttribute";
    const imageId = stringParam(params, "ImageId", { required: true, op })!;
    const attribute = stringParam(params, "Attribute", { required: true, op })!;
    if (attribute === "launchPermission") return { imageId, launchPermission: cloud.images.launchPermissions(accountId, region, imageId) };
    const image = cloud.images.get(accountId, region, imageId, op);
    if (attribute === "description") return { imageId, description: image.description !== undefined ? { value: image.description } : {} };
    if (attribute === "blockDeviceMapping") return { imageId, blockDeviceMapping: imageXml(image).blockDeviceMapping };
    if (attribute === "lastLaunchedTime") {
      const last = cloud.images.lastLaunched(image.imageId);
      return { imageId, lastLaunchedTime: last ? { value: last } : {} };
    }
    // EC2's other attributes, with amiboot's values: no product codes, kernel or ramdisk ids, SR-IOV,
    // UEFI or TPM; SeaBIOS boots every image (legacy BIOS); IMDSv2 is not forced; no deregistration protection.
    const fixed: Record<string, Record<string, unknown>> = {
      productCodes: { productCodes: [] },
      kernel: { kernel: {} },
      ramdisk: { ramdisk: {} },
      sriovNetSupport: { sriovNetSupport: {} },
      bootMode: { bootMode: { value: "legacy-bios" } },
      tpmSupport: { tpmSupport: {} },
      uefiData: { uefiData: {} },
      imdsSupport: { imdsSupport: {} },
      deregistrationProtection: { deregistrationProtection: { value: "disabled" } },
    };
    if (Object.hasOwn(fixed, attribute)) return { imageId, ...fixed[attribute] };
    throw new Ec2Error("InvalidParameterValue", `Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`, op);
  },

  ResetImageAttribute: (cloud, { accountId, region, params }) => {
    const op = "ResetImageAttribute";
    const attribute = stringParam(params, "Attribute", { required: true, op });
    if (attribute !== "launchPermission") throw new Ec2Error("InvalidParameterValue", `Value (${attribute}) for parameter attribute is invalid. Only launchPermission can be reset.`, op);
    cloud.images.resetLaunchPermission(accountId, region, stringParam(params, "ImageId", { required: true, op })!);
    return { return: true };
  },

  DeregisterImage: (cloud, { accountId, region, params }) => {
    const op = "DeregisterImage";
    // A snapshot another image still uses is kept, as EC2 does.
    cloud.deregisterImage(accountId, region, stringParam(params, "ImageId", { required: true, op })!, boolParam(params, "DeleteAssociatedSnapshots", { op }) ?? false);
    return { return: true };
  },

  CopyImage: (cloud, { accountId, region, params }) => {
    const op = "CopyImage";
    const copy = cloud.images.copy(accountId, checkRegion(stringParam(params, "SourceRegion", { required: true, op })!, "SourceRegion"), region, {
      sourceImageId: stringParam(params, "SourceImageId", { required: true, op })!,
      name: stringParam(params, "Name", { required: true, op })!,
      description: stringParam(params, "Description", { op }),
      copyTags: boolParam(params, "CopyImageTags", { op }) ?? false,
    });
    return { imageId: copy.imageId };
  },
};

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
