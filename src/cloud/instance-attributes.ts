import { Ec2Error } from "../errors.js";

/** What the protection checks read of an instance. */
type Protected = { instanceId: string; state: string; attributes: InstanceAttributes };

/** The instance attributes EC2 keeps besides the launch facts (DescribeInstanceAttribute, ModifyInstanceAttribute). */
export interface InstanceAttributes {
  /** TerminateInstances is refused while set (`OperationNotPermitted`). */
  disableApiTermination: boolean;
  /** StopInstances is refused while set. */
  disableApiStop: boolean;
  /** What the guest powering off does to an EBS-backed instance (instance store always terminates). */
  shutdownBehavior: "stop" | "terminate";
  /** Kept and reported; amiboot's network does no forwarding for it to change. */
  sourceDestCheck: boolean;
}

export const DEFAULT_ATTRIBUTES: Readonly<InstanceAttributes> = Object.freeze({ disableApiTermination: false, disableApiStop: false, shutdownBehavior: "stop", sourceDestCheck: true });

/** RunInstances' DisableApiTermination, DisableApiStop and InstanceInitiatedShutdownBehavior, checked. */
export function launchAttributes(r: { disableApiTermination?: boolean; disableApiStop?: boolean; shutdownBehavior?: string }, op: string): InstanceAttributes {
  return {
    ...DEFAULT_ATTRIBUTES,
    ...(r.disableApiTermination !== undefined ? { disableApiTermination: r.disableApiTermination } : {}),
    ...(r.disableApiStop !== undefined ? { disableApiStop: r.disableApiStop } : {}),
    ...(r.shutdownBehavior !== undefined ? { shutdownBehavior: shutdownBehavior(r.shutdownBehavior, op) } : {}),
  };
}

export function shutdownBehavior(value: string, op: string): "stop" | "terminate" {
  if (value !== "stop" && value !== "terminate") {
    throw new Ec2Error("InvalidParameterValue", `Value (${value}) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values: stop, terminate`, op);
  }
  return value;
}

/** Termination protection: EC2's refusal while `disableApiTermination` is set. */
export function checkTerminable(i: Protected, op: string): void {
  if (i.attributes.disableApiTermination && i.state !== "terminated") {
    throw new Ec2Error("OperationNotPermitted", `The instance '${i.instanceId}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`, op);
  }
}

/** Stop protection: EC2's refusal while `disableApiStop` is set. */
export function checkStoppable(i: Protected, op: string): void {
  if (i.attributes.disableApiStop && i.state !== "stopped") {
    throw new Ec2Error("OperationNotPermitted", `The instance '${i.instanceId}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.`, op);
  }
}

/** The attribute names DescribeInstanceAttribute and ModifyInstanceAttribute take, as EC2 lists them. */
export const INSTANCE_ATTRIBUTE_NAMES = [
  "instanceType",
  "kernel",
  "ramdisk",
  "userData",
  "disableApiTermination",
  "disableApiStop",
  "instanceInitiatedShutdownBehavior",
  "rootDeviceName",
  "blockDeviceMapping",
  "productCodes",
  "sourceDestCheck",
  "groupSet",
  "ebsOptimized",
  "sriovNetSupport",
  "enaSupport",
  "enclaveOptions",
] as const;
export type InstanceAttributeName = (typeof INSTANCE_ATTRIBUTE_NAMES)[number];

export function attributeName(value: string | undefined, op: string): InstanceAttributeName {
  if (value === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter attribute", op);
  if (!(INSTANCE_ATTRIBUTE_NAMES as readonly string[]).includes(value)) {
    throw new Ec2Error("InvalidParameterValue", `Value (${value}) for parameter attribute is invalid. Unknown attribute.`, op);
  }
  return value as InstanceAttributeName;
}

/** What ModifyInstanceAttribute changes: one attribute per call, as EC2 takes it. */
export type AttributeChange =
  | { name: "instanceType"; value: string }
  | { name: "userData"; value: string }
  | { name: "disableApiTermination" | "disableApiStop" | "sourceDestCheck"; value: boolean }
  | { name: "instanceInitiatedShutdownBehavior"; value: "stop" | "terminate" }
  | { name: "blockDeviceMapping"; value: { deviceName: string; deleteOnTermination: boolean }[] };
