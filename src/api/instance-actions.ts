import { instanceStatus, STATE_CODES, type Instance, type InstanceState, type StateChange } from "../cloud/instances.js";
import { matchFields } from "../cloud/filters.js";
import { Ec2Error } from "../errors.js";
import type { MetadataOptions } from "../net/imds.js";
import type { Handler } from "./call.js";
import { blockDeviceMappings, boolParam, filters, intParam, listParam, refParam, stringParam, tagSpecifications } from "./query.js";

/** The instance actions: RunInstances and the lifecycle, console output, CreateImage. */
export const INSTANCE_ACTIONS: Record<string, Handler> = {
  RunInstances: (cloud, { accountId, region, params }) => {
    const op = "RunInstances";
    const r = cloud.instances.run(accountId, region, {
      imageId: stringParam(params, "ImageId", { required: true, op }),
      instanceType: stringParam(params, "InstanceType", { op }),
      minCount: intParam(params, "MinCount", { required: true, op }),
      maxCount: intParam(params, "MaxCount", { required: true, op }),
      blockDeviceMappings: blockDeviceMappings(params, "BlockDeviceMapping", op),
      userData: stringParam(params, "UserData", { op }),
      tags: tagsFor(params, "instance", op),
      volumeTags: tagsFor(params, "volume", op),
      network: {
        keyName: refParam(params, "KeyName", op),
        securityGroupIds: listParam(params, "SecurityGroupId", op),
        securityGroupNames: listParam(params, "SecurityGroup", op),
        subnetId: refParam(params, "SubnetId", op),
        availabilityZone: refParam(params, "Placement.AvailabilityZone", op),
        metadataOptions: metadataOptions(params, "MetadataOptions.", op),
      },
      attributes: {
        disableApiTermination: boolParam(params, "DisableApiTermination", { op }),
        disableApiStop: boolParam(params, "DisableApiStop", { op }),
        shutdownBehavior: refParam(params, "InstanceInitiatedShutdownBehavior", op),
      },
    });
    return { reservationId: r.reservationId, ownerId: r.ownerId, groupSet: [], instancesSet: r.instances.map(instanceXml) };
  },

  ModifyInstanceMetadataOptions: (cloud, { accountId, region, params }) => {
    const op = "ModifyInstanceMetadataOptions";
    const i = cloud.instances.modifyMetadataOptions(accountId, region, stringParam(params, "InstanceId", { required: true, op })!, metadataOptions(params, "", op));
    return { instanceId: i.instanceId, instanceMetadataOptions: metadataOptionsXml(i) };
  },

  DescribeInstances: (cloud, { accountId, region, params }) => {
    const op = "DescribeInstances";
    const list = cloud.instances.describe(accountId, region, { instanceIds: listParam(params, "InstanceId", op), filters: filters(params, op) });
    const byReservation = new Map<string, Instance[]>();
    for (const i of list) byReservation.set(i.reservationId, [...(byReservation.get(i.reservationId) ?? []), i]);
    return {
      reservationSet: [...byReservation].map(([reservationId, instances]) => ({ reservationId, ownerId: instances[0]!.ownerId, groupSet: [], instancesSet: instances.map(instanceXml) })),
    };
  },

  DescribeInstanceStatus: (cloud, { accountId, region, params }) => {
    const op = "DescribeInstanceStatus";
    const all = boolParam(params, "IncludeAllInstances", { op }) ?? false;
    const f = filters(params, op);
    const list = cloud.instances
      .describe(accountId, region, { instanceIds: listParam(params, "InstanceId", op), filters: [] })
      .filter((i) => (all || i.state === "running") && matchFields(f, statusFields(i), op));
    return {
      instanceStatusSet: list.map((i) => {
        const status = instanceStatus(i);
        return {
          instanceId: i.instanceId,
          availabilityZone: i.network?.availabilityZone ?? `${i.region}a`,
          instanceState: stateXml(i.state),
          systemStatus: { status: status.system, details: [{ name: "reachability", status: status.systemReachability }] },
          instanceStatus: { status: status.instance, details: [{ name: "reachability", status: status.instanceReachability }] },
        };
      }),
    };
  },

  StopInstances: (cloud, { accountId, region, params }) => ({ instancesSet: cloud.instances.stop(accountId, region, listParam(params, "InstanceId", "StopInstances")).map(changeXml) }),
  StartInstances: (cloud, { accountId, region, params }) => ({ instancesSet: cloud.instances.start(accountId, region, listParam(params, "InstanceId", "StartInstances")).map(changeXml) }),
  TerminateInstances: (cloud, { accountId, region, params }) => ({ instancesSet: cloud.instances.terminate(accountId, region, listParam(params, "InstanceId", "TerminateInstances")).map(changeXml) }),
  RebootInstances: (cloud, { accountId, region, params }) => {
    cloud.instances.reboot(accountId, region, listParam(params, "InstanceId", "RebootInstances"));
    return { return: true };
  },

  GetConsoleOutput: (cloud, { accountId, region, params }) => {
    const op = "GetConsoleOutput";
    const instanceId = stringParam(params, "InstanceId", { required: true, op })!;
    const { output, timestamp } = cloud.instances.consoleOutput(accountId, region, instanceId);
    return { instanceId, timestamp, output: output.toString("base64") };
  },

  /** amiboot's own: console input for `amiboot console --attach` (base64 `Input`). */
  AmibootSendConsoleInput: (cloud, { accountId, region, params }) => {
    const op = "AmibootSendConsoleInput";
    const input = stringParam(params, "Input", { required: true, op })!;
    cloud.instances.sendConsoleInput(accountId, region, stringParam(params, "InstanceId", { required: true, op })!, Buffer.from(input, "base64"));
    return { return: true };
  },

  CreateImage: async (cloud, { accountId, region, params }) => {
    const op = "CreateImage";
    const image = await cloud.instances.createImage(accountId, region, {
      instanceId: stringParam(params, "InstanceId", { required: true, op })!,
      name: stringParam(params, "Name", { required: true, op })!,
      description: stringParam(params, "Description", { op }),
      noReboot: boolParam(params, "NoReboot", { op }) ?? false,
      blockDeviceMappings: blockDeviceMappings(params, "BlockDeviceMapping", op),
      tags: tagsFor(params, "image", op),
    });
    return { imageId: image.imageId };
  },
};

/** The tags of `resourceType` among TagSpecifications; RunInstances also takes `volume` ones (see tagsFor(…, "volume")). */
function tagsFor(params: URLSearchParams, resourceType: string, op: string) {
  const specs = tagSpecifications(params, op);
  for (const s of specs) {
    if (s.resourceType !== resourceType && !(op === "RunInstances" && (s.resourceType === "volume" || s.resourceType === "instance"))) {
      throw new Ec2Error("InvalidParameterValue", `'${s.resourceType}' is not a valid taggable resource type for this operation.`, op);
    }
  }
  return specs.filter((s) => s.resourceType === resourceType).flatMap((s) => s.tags);
}

function stateXml(state: InstanceState) {
  return { code: STATE_CODES[state], name: state };
}

function changeXml(c: StateChange) {
  return { instanceId: c.instanceId, currentState: stateXml(c.current), previousState: stateXml(c.previous) };
}

/** An instance in EC2's XML shape (DescribeInstances' instancesSet item). */
function instanceXml(i: Instance): Record<string, unknown> {
  return {
    instanceId: i.instanceId,
    imageId: i.imageId,
    instanceState: stateXml(i.state),
    privateDnsName: i.network?.privateDnsName ?? "",
    dnsName: i.network && i.state === "running" ? i.network.publicIp : "",
    reason: i.stateReason?.message ?? "",
    amiLaunchIndex: i.launchIndex,
    productCodes: [],
    instanceType: i.instanceType,
    launchTime: i.launchTime,
    placement: { availabilityZone: i.network?.availabilityZone ?? `${i.region}a`, tenancy: "default" },
    monitoring: { state: "disabled" },
    groupSet: (i.network?.groups ?? []).map((g) => ({ groupId: g.id, groupName: g.name })),
    ...networkXml(i),
    stateReason: i.stateReason ? { code: i.stateReason.code, message: i.stateReason.message } : undefined,
    architecture: i.architecture,
    rootDeviceType: i.rootDeviceType,
    rootDeviceName: i.rootDeviceName,
    blockDeviceMapping: blockDeviceMappingXml(i),
    virtualizationType: i.virtualizationType,
    hypervisor: "xen",
    tagSet: i.tags,
  };
}

/** An instance's EBS devices as DescribeInstances and DescribeInstanceAttribute show them. */
export function blockDeviceMappingXml(i: Instance): Record<string, unknown>[] {
  return i.devices
    .filter((d) => d.volumeId)
    .map((d) => ({ deviceName: d.deviceName, ebs: { volumeId: d.volumeId, status: "attached", attachTime: d.attachTime, deleteOnTermination: d.deleteOnTermination ?? false } }));
}

/** An instance's network fields: addresses (the public one only while it runs, as in EC2), key, subnet, interface. */
function networkXml(i: Instance): Record<string, unknown> {
  const n = i.network;
  if (!n) return {};
  const groups = n.groups.map((g) => ({ groupId: g.id, groupName: g.name }));
  return {
    keyName: n.keyName,
    subnetId: n.subnetId,
    vpcId: n.vpcId,
    privateIpAddress: n.privateIp,
    ipAddress: i.state === "running" ? n.publicIp : undefined,
    sourceDestCheck: true,
    networkInterfaceSet: [
      {
        networkInterfaceId: n.interfaceId,
        subnetId: n.subnetId,
        vpcId: n.vpcId,
        description: "",
        ownerId: i.ownerId,
        status: "in-use",
        macAddress: n.mac,
        privateIpAddress: n.privateIp,
        privateDnsName: n.privateDnsName,
        sourceDestCheck: true,
        groupSet: groups,
        attachment: { attachmentId: `eni-attach-${n.interfaceId.slice(4)}`, deviceIndex: 0, status: "attached", attachTime: i.launchTime, deleteOnTermination: true },
        ...(i.state === "running" ? { association: { publicIp: n.publicIp, publicDnsName: n.publicIp, ipOwnerId: "amazon" } } : {}),
        privateIpAddressesSet: [{ privateIpAddress: n.privateIp, privateDnsName: n.privateDnsName, primary: true }],
      },
    ],
    metadataOptions: metadataOptionsXml(i),
  };
}

function metadataOptionsXml(i: Instance): Record<string, unknown> | undefined {
  const o = i.network?.metadataOptions;
  return o && { state: "applied", httpTokens: o.httpTokens, httpPutResponseHopLimit: o.httpPutResponseHopLimit, httpEndpoint: o.httpEndpoint, httpProtocolIpv6: "disabled", instanceMetadataTags: "disabled" };
}

/** `MetadataOptions.HttpTokens` etc. (RunInstances) or the bare names (ModifyInstanceMetadataOptions): only those given. */
function metadataOptions(params: URLSearchParams, prefix: string, op: string): Partial<MetadataOptions> {
  const tokens = stringParam(params, `${prefix}HttpTokens`, { op });
  const endpoint = stringParam(params, `${prefix}HttpEndpoint`, { op });
  const hops = intParam(params, `${prefix}HttpPutResponseHopLimit`, { op });
  return {
    ...(tokens !== undefined ? { httpTokens: tokens as MetadataOptions["httpTokens"] } : {}),
    ...(endpoint !== undefined ? { httpEndpoint: endpoint as MetadataOptions["httpEndpoint"] } : {}),
    ...(hops !== undefined ? { httpPutResponseHopLimit: hops } : {}),
  };
}

/** DescribeInstanceStatus's filters, by EC2's names. */
function statusFields(i: Instance): Record<string, string[]> {
  const status = instanceStatus(i);
  return {
    "availability-zone": [i.network?.availabilityZone ?? `${i.region}a`],
    "instance-state-name": [i.state],
    "instance-state-code": [String(STATE_CODES[i.state])],
    "instance-status.status": [status.instance],
    "instance-status.reachability": [status.instanceReachability],
    "system-status.status": [status.system],
    "system-status.reachability": [status.systemReachability],
  };
}
