import { attributeName, shutdownBehavior, type AttributeChange } from "../cloud/instance-attributes.js";
import { Ec2Error } from "../errors.js";
import type { Handler } from "./call.js";
import { blockDeviceMappingXml } from "./instance-actions.js";
import { parseBoolean, stringParam, structList } from "./query.js";

/** DescribeInstanceAttribute and ModifyInstanceAttribute, one attribute per call, in EC2's shapes. */
export const INSTANCE_ATTRIBUTE_ACTIONS: Record<string, Handler> = {
  DescribeInstanceAttribute: (cloud, { accountId, region, params }) => {
    const op = "DescribeInstanceAttribute";
    const name = attributeName(stringParam(params, "Attribute", { op }), op);
    const { instance: i, userData } = cloud.instances.attribute(accountId, region, stringParam(params, "InstanceId", { required: true, op })!);
    const a = i.attributes;
    const values: Record<typeof name, unknown> = {
      instanceType: { value: i.instanceType },
      // amiboot boots PV instances through PV-GRUB (the image's menu.lst): no AKI or ARI.
      kernel: {},
      ramdisk: {},
      userData: userData ? { value: userData } : {},
      disableApiTermination: { value: a.disableApiTermination },
      disableApiStop: { value: a.disableApiStop },
      instanceInitiatedShutdownBehavior: { value: a.shutdownBehavior },
      rootDeviceName: { value: i.rootDeviceName },
      blockDeviceMapping: blockDeviceMappingXml(i),
      productCodes: [],
      sourceDestCheck: { value: a.sourceDestCheck },
      groupSet: (i.network?.groups ?? []).map((g) => ({ groupId: g.id, groupName: g.name })),
      ebsOptimized: { value: false },
      sriovNetSupport: {},
      enaSupport: { value: false },
      enclaveOptions: { enabled: false },
    };
    return { instanceId: i.instanceId, [name]: values[name] };
  },

  ModifyInstanceAttribute: (cloud, { accountId, region, params }) => {
    const op = "ModifyInstanceAttribute";
    cloud.instances.modifyAttribute(accountId, region, stringParam(params, "InstanceId", { required: true, op })!, attributeChange(params, op));
    return { return: true };
  },
};

/**
 * The one change a ModifyInstanceAttribute call asks for: `Attribute` with
 * `Value`, or one of the structured forms (`InstanceType.Value`,
 * `DisableApiTermination.Value`, `BlockDeviceMapping.N.Ebs.DeleteOnTermination`, ...).
 */
function attributeChange(params: URLSearchParams, op: string): AttributeChange {
  const attribute = stringParam(params, "Attribute", { op });
  const plain = stringParam(params, "Value", { op });
  /** The new value of one attribute: its structured form (`Name.Value`), else `Attribute=name&Value=…`. */
  const valueOf = (name: string, structured: string) => stringParam(params, `${structured}.Value`, { op }) ?? (attribute === name ? plain : undefined);
  const changes: AttributeChange[] = [];
  const text = (name: "instanceType" | "userData", structured: string) => {
    const v = valueOf(name, structured);
    if (v !== undefined) changes.push({ name, value: v });
  };
  const bool = (name: "disableApiTermination" | "disableApiStop" | "sourceDestCheck", structured: string) => {
    const v = valueOf(name, structured);
    if (v !== undefined) changes.push({ name, value: parseBoolean(v, `${structured}.Value`, op) });
  };
  text("instanceType", "InstanceType");
  text("userData", "UserData");
  bool("disableApiTermination", "DisableApiTermination");
  bool("disableApiStop", "DisableApiStop");
  bool("sourceDestCheck", "SourceDestCheck");
  const behavior = valueOf("instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior");
  if (behavior !== undefined) changes.push({ name: "instanceInitiatedShutdownBehavior", value: shutdownBehavior(behavior, op) });
  const mappings = structList(params, "BlockDeviceMapping", op);
  if (mappings.length > 0) {
    const deleteOnTermination = (m: Record<string, unknown>) => String((m.Ebs as Record<string, unknown> | undefined)?.DeleteOnTermination) === "true";
    changes.push({ name: "blockDeviceMapping", value: mappings.map((m) => ({ deviceName: String(m.DeviceName ?? ""), deleteOnTermination: deleteOnTermination(m) })) });
  }
  if (changes.length === 0) {
    if (attribute !== undefined) {
      const name = attributeName(attribute, op);
      throw new Ec2Error("UnsupportedOperation", `amiboot does not change the instance attribute ${name} (it changes instanceType, userData, disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior, sourceDestCheck and blockDeviceMapping)`, op);
    }
    throw new Ec2Error("MissingParameter", "The request must contain the parameter Attribute, or one attribute to change", op);
  }
  if (changes.length > 1) throw new Ec2Error("InvalidParameterCombination", "Only one attribute can be modified at a time", op);
  return changes[0]!;
}
