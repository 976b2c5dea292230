import { Ec2Error } from "../errors.js";

/**
 * Guest memory (MiB) per instance type. v86 emulates one 32-bit CPU, so only
 * memory differs between types; every size is above 64 MiB because v86 loads
 * a PV initrd at 64 MiB. Sizes are scaled down from EC2's to keep many
 * instances on one machine (each also costs about 100 MB of host memory).
 */
export const INSTANCE_TYPES: Readonly<Record<string, number>> = {
  "t1.micro": 128,
  "t2.nano": 128,
  "t3.nano": 128,
  "t2.micro": 192,
  "t3.micro": 192,
  "m1.small": 256,
  "t2.small": 256,
  "t3.small": 256,
  "c1.medium": 384,
  "m1.medium": 512,
  "t2.medium": 512,
  "t3.medium": 512,
  "m1.large": 1024,
  "t2.large": 1024,
  "t3.large": 1024,
};

/** RunInstances' default, as in EC2. */
export const DEFAULT_INSTANCE_TYPE = "m1.small";

export function memoryOf(instanceType: string, op: string): number {
  const mib = Object.hasOwn(INSTANCE_TYPES, instanceType) ? INSTANCE_TYPES[instanceType] : undefined;
  if (mib === undefined) {
    throw new Ec2Error("InvalidParameterValue", `Invalid value '${instanceType}' for InstanceType. amiboot knows: ${Object.keys(INSTANCE_TYPES).join(", ")}`, op);
  }
  return mib;
}
