import { matchFields, paginate } from "../cloud/filters.js";
import { DEFAULT_INSTANCE_TYPE, INSTANCE_TYPES } from "../cloud/instance-types.js";
import { Ec2Error } from "../errors.js";
import type { Handler } from "./call.js";
import { filters, intParam, listParam, stringParam } from "./query.js";

/**
 * DescribeInstanceTypes: the types amiboot offers, as EC2 describes them.
 * Every type is one emulated 32-bit CPU (v86), so the types differ only in
 * memory; each boots HVM and PV images from EBS or instance store.
 */
export const INSTANCE_TYPE_ACTIONS: Record<string, Handler> = {
  DescribeInstanceTypes: (_cloud, { params }) => {
    const op = "DescribeInstanceTypes";
    const names = listParam(params, "InstanceType", op);
    const unknown = names.filter((n) => !Object.hasOwn(INSTANCE_TYPES, n));
    if (unknown.length > 0) throw new Ec2Error("InvalidInstanceType", `The following supplied instance types do not exist: [${unknown.join(", ")}]`, op);
    const f = filters(params, op);
    const all = Object.keys(INSTANCE_TYPES).filter((t) => (names.length === 0 || names.includes(t)) && matchFields(f, filterFields(t), op));
    const page = paginate(all, intParam(params, "MaxResults", { op }), stringParam(params, "NextToken", { op }), op);
    return { instanceTypeSet: page.items.map(instanceTypeXml), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  },
};

const ROOT_DEVICE_TYPES = ["ebs", "instance-store"];
const VIRTUALIZATION_TYPES = ["hvm", "paravirtual"];

function filterFields(t: string): Record<string, string[]> {
  return {
    "instance-type": [t],
    "current-generation": [String(t !== DEFAULT_INSTANCE_TYPE && !/^(m1|c1|t1)\./.test(t))],
    "memory-info.size-in-mib": [String(INSTANCE_TYPES[t])],
    "processor-info.supported-architecture": ["i386"],
    "vcpu-info.default-vcpus": ["1"],
    "vcpu-info.default-cores": ["1"],
    "supported-root-device-type": ROOT_DEVICE_TYPES,
    "supported-virtualization-type": VIRTUALIZATION_TYPES,
    "supported-usage-class": ["on-demand"],
    "instance-storage-supported": ["true"],
    "bare-metal": ["false"],
    "hypervisor": ["xen"],
    "free-tier-eligible": [String(t === "t1.micro" || t === "t2.micro")],
  };
}

function instanceTypeXml(t: string): Record<string, unknown> {
  const fields = filterFields(t);
  return {
    instanceType: t,
    currentGeneration: fields["current-generation"]![0] === "true",
    freeTierEligible: fields["free-tier-eligible"]![0] === "true",
    supportedUsageClasses: ["on-demand"],
    supportedRootDeviceTypes: ROOT_DEVICE_TYPES,
    supportedVirtualizationTypes: VIRTUALIZATION_TYPES,
    bareMetal: false,
    hypervisor: "xen",
    processorInfo: { supportedArchitectures: ["i386"] },
    vCpuInfo: { defaultVCpus: 1, defaultCores: 1, defaultThreadsPerCore: 1 },
    memoryInfo: { sizeInMiB: INSTANCE_TYPES[t] },
    instanceStorageSupported: true,
    ebsInfo: { ebsOptimizedSupport: "unsupported", encryptionSupport: "unsupported", nvmeSupport: "unsupported" },
    networkInfo: { networkPerformance: "Low", maximumNetworkInterfaces: 1, maximumNetworkCards: 1, defaultNetworkCardIndex: 0, ipv4AddressesPerInterface: 1, ipv6AddressesPerInterface: 0, ipv6Supported: false, enaSupport: "unsupported", efaSupported: false, encryptionInTransitSupported: false },
    placementGroupInfo: { supportedStrategies: [] },
    hibernationSupported: false,
    burstablePerformanceSupported: /^t[23]\./.test(t),
    dedicatedHostsSupported: false,
    autoRecoverySupported: false,
    supportedBootModes: ["legacy-bios"],
  };
}
