import { DescribeImagesCommand, EC2Client, RegisterImageCommand } from "@aws-sdk/client-ec2";
import { describe, expect, it } from "vitest";
import {
  blockDeviceMappings,
  boolParam,
  filters,
  intParam,
  listParam,
  MAX_DEPTH,
  MAX_FILTER_VALUES,
  MAX_LIST_ITEMS,
  stringParam,
  structList,
  tagSpecifications,
} from "../../src/api/query.js";
import { validateMappings } from "../../src/cloud/block-device-mappings.js";

const q = (s: string | Record<string, string> | [string, string][]) => new URLSearchParams(s);

/** The Ec2Error fn throws, as { code, message, op }. */
function caught(fn: () => unknown): { code: string; message: string; op?: string } {
  try {
    fn();
  } catch (err) {
    const e = err as { code: string; message: string; op?: string };
    return { code: e.code, message: e.message, op: e.op };
  }
  throw new Error("expected a throw");
}

describe("stringParam", () => {
  it("returns the value, undefined when absent, and '' when empty", () => {
    const p = q("Name=my%20image&Empty=&Odd=%3C%26%3E%22%27%E2%9C%93%0A");
    expect(stringParam(p, "Name")).toBe("my image");
    expect(stringParam(p, "Empty")).toBe("");
    expect(stringParam(p, "Odd")).toBe("<&>\"'✓\n");
    expect(stringParam(p, "Missing")).toBeUndefined();
    expect(stringParam(p, "name")).toBeUndefined(); // names are case-sensitive
  });

  it("refuses a missing required parameter with EC2's MissingParameter", () => {
    expect(caught(() => stringParam(q(""), "ImageId", { required: true, op: "DeregisterImage" }))).toEqual({
      code: "MissingParameter",
      message: "The request must contain the parameter ImageId",
      op: "DeregisterImage",
    });
    expect(caught(() => stringParam(q(""), "ImageId", { required: true })).op).toBe("api.request");
    expect(stringParam(q("ImageId="), "ImageId", { required: true })).toBe("");
  });

  it("refuses a parameter given twice", () => {
    expect(caught(() => stringParam(q("Name=a&Name=b"), "Name"))).toEqual({
      code: "InvalidParameterValue",
      message: "The parameter Name is given more than once",
      op: "api.request",
    });
  });
});

describe("intParam", () => {
  it.each([
    ["10", 10],
    ["0", 0],
    ["-0", 0],
    ["-5", -5],
    ["+7", 7],
    ["007", 7],
    ["2147483647", 2147483647],
    ["-2147483648", -2147483648],
  ])("parses %j", (text, n) => {
    expect(intParam(q({ MaxResults: text }), "MaxResults")).toBe(n);
  });

  it("is undefined when absent and MissingParameter when required", () => {
    expect(intParam(q(""), "MaxResults")).toBeUndefined();
    expect(caught(() => intParam(q(""), "MaxCount", { required: true, op: "RunInstances" }))).toEqual({
      code: "MissingParameter",
      message: "The request must contain the parameter MaxCount",
      op: "RunInstances",
    });
  });

  it.each(["abc", "", " 1", "1 ", "1.5", "1e3", "0x10", "1_000", "--1", "2147483648", "-2147483649", "99999999999999999999", "NaN", "Infinity"])(
    "refuses %j with an exact message",
    (text) => {
      expect(caught(() => intParam(q({ MaxResults: text }), "MaxResults", { op: "DescribeImages" }))).toEqual({
        code: "InvalidParameterValue",
        message: `Value (${text}) for parameter MaxResults is invalid. Expected an integer.`,
        op: "DescribeImages",
      });
    },
  );

  it("echoes at most 64 characters of a huge value", () => {
    const huge = "9".repeat(100_000);
    const { message } = caught(() => intParam(q({ MaxResults: huge }), "MaxResults"));
    expect(message).toBe(`Value (${"9".repeat(64)}...) for parameter MaxResults is invalid. Expected an integer.`);
  });
});

describe("boolParam", () => {
  it("takes exactly true and false", () => {
    expect(boolParam(q("DryRun=true"), "DryRun")).toBe(true);
    expect(boolParam(q("DryRun=false"), "DryRun")).toBe(false);
    expect(boolParam(q(""), "DryRun")).toBeUndefined();
  });

  it.each(["True", "FALSE", "1", "0", "yes", "", "true "])("refuses %j with an exact message", (text) => {
    expect(caught(() => boolParam(q({ DryRun: text }), "DryRun", { op: "RunInstances" }))).toEqual({
      code: "InvalidParameterValue",
      message: `Value (${text}) for parameter DryRun is invalid. Expected true or false.`,
      op: "RunInstances",
    });
  });

  it("refuses a missing required boolean", () => {
    expect(caught(() => boolParam(q(""), "Force", { required: true })).code).toBe("MissingParameter");
  });
});

describe("listParam", () => {
  it("returns Prefix.N values in the order of N, gaps allowed", () => {
    const p = q("ImageId.10=ami-c&ImageId.2=ami-b&ImageId.1=ami-a&ImageId.999999=ami-z");
    expect(listParam(p, "ImageId")).toEqual(["ami-a", "ami-b", "ami-c", "ami-z"]);
  });

  it("is [] when absent, and ignores other names", () => {
    expect(listParam(q(""), "ImageId")).toEqual([]);
    expect(listParam(q("ImageId=ami-x&ImageIds.1=a&Owner.1=self&imageid.1=x"), "ImageId")).toEqual([]);
    expect(listParam(q("Owner.1=self&Owner.2=amazon&OwnerId=1"), "Owner")).toEqual(["self", "amazon"]);
  });

  it("keeps values as sent, empty and odd ones included", () => {
    expect(listParam(q([["Name.1", ""], ["Name.2", "<&>\"'"], ["Name.3", "ünï 🚀\u0000"]]), "Name")).toEqual(["", "<&>\"'", "ünï 🚀\u0000"]);
  });

  it.each([
    ["ImageId.0", 'The parameter ImageId.0 has an invalid index 0 after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.01", 'The parameter ImageId.01 has an invalid index 01 after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.1000000", 'The parameter ImageId.1000000 has an invalid index 1000000 after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.99999999999999999999999", 'The parameter ImageId.99999999999999999999999 has an invalid index 99999999999999999999999 after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.-1", 'The parameter ImageId.-1 has an invalid index -1 after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.x", 'The parameter ImageId.x has an invalid index x after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.", 'The parameter ImageId. has an invalid index  after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.1e3", 'The parameter ImageId.1e3 has an invalid index 1e3 after ImageId; indexes are whole numbers from 1 to 999999'],
    ["ImageId.1.Foo", "The parameter ImageId.1 must be a single value, not a structure or list"],
  ])("refuses %s with an exact message", (key, message) => {
    expect(caught(() => listParam(q([[key, "v"]]), "ImageId", "DescribeImages"))).toEqual({ code: "InvalidParameterValue", message, op: "DescribeImages" });
  });

  it("refuses an index given twice", () => {
    expect(caught(() => listParam(q("ImageId.1=a&ImageId.1=b"), "ImageId")).message).toBe("The parameter ImageId.1 is given more than once");
  });

  it("takes 1000 items and refuses the 1001st", () => {
    const ok = q(Array.from({ length: MAX_LIST_ITEMS }, (_, i) => [`ImageId.${i + 1}`, `ami-${i}`] as [string, string]));
    expect(listParam(ok, "ImageId")).toHaveLength(1000);
    ok.append("ImageId.5000", "one too many");
    expect(caught(() => listParam(ok, "ImageId"))).toEqual({ code: "InvalidParameterValue", message: "The list ImageId has more than 1000 items", op: "api.request" });
  });

  it("refuses 10,000 items quickly", () => {
    const p = q(Array.from({ length: 10_000 }, (_, i) => [`ImageId.${i + 1}`, "x"] as [string, string]));
    const t = Date.now();
    expect(caught(() => listParam(p, "ImageId")).message).toBe("The list ImageId has more than 1000 items");
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it("refuses names over 256 characters without echoing them whole", () => {
    const key = `ImageId.1${"0".repeat(300)}`;
    const { code, message } = caught(() => listParam(q([[key, "x"]]), "ImageId"));
    expect(code).toBe("InvalidParameterValue");
    expect(message).toBe(`The parameter name ${key.slice(0, 64)}... is longer than 256 characters`);
    // 256 exactly is not too long (it fails later, for its index).
    const at256 = `ImageId.${"1".repeat(256 - 8)}`;
    expect(at256).toHaveLength(256);
    expect(caught(() => listParam(q([[at256, "x"]]), "ImageId")).message).toMatch(/has an invalid index/);
  });
});

describe("structList", () => {
  it("nests dotted names and keeps values as strings", () => {
    const p = q(
      "BlockDeviceMapping.1.DeviceName=/dev/sda1&BlockDeviceMapping.1.Ebs.VolumeSize=8&BlockDeviceMapping.1.Ebs.DeleteOnTermination=true" +
        "&BlockDeviceMapping.2.DeviceName=/dev/sdb&BlockDeviceMapping.2.VirtualName=ephemeral0",
    );
    expect(structList(p, "BlockDeviceMapping")).toEqual([
      { DeviceName: "/dev/sda1", Ebs: { VolumeSize: "8", DeleteOnTermination: "true" } },
      { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" },
    ]);
  });

  it("turns numbered names into arrays, in index order, and items into N order", () => {
    const p = q("Filter.7.Name=b&Filter.7.Value.3=z&Filter.1.Name=x&Filter.1.Value.2=b&Filter.1.Value.1=a&Filter.7.Value.1=y");
    expect(structList(p, "Filter")).toEqual([
      { Name: "x", Value: ["a", "b"] },
      { Name: "b", Value: ["y", "z"] },
    ]);
  });

  it("handles lists of structures inside structures", () => {
    const p = q("TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.2.Key=b&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=1");
    expect(structList(p, "TagSpecification")).toEqual([{ ResourceType: "image", Tag: [{ Key: "a", Value: "1" }, { Key: "b" }] }]);
  });

  it("is [] when absent", () => {
    expect(structList(q("Other.1.Name=x"), "Filter")).toEqual([]);
  });

  it.each([
    ["Filter.1.Value=a&Filter.1.Value.1=b", "The parameter Filter.1.Value.1 conflicts with another parameter for Filter.1.Value: a name is a single value, a structure or a numbered list, not more than one"],
    ["Filter.1.Value.1=b&Filter.1.Value=a", "The parameter Filter.1.Value conflicts with another parameter for Filter.1.Value: a name is a single value, a structure or a numbered list, not more than one"],
    ["Filter.1.Value.1=b&Filter.1.Value.X=a", "The parameter Filter.1.Value.X conflicts with another parameter for Filter.1.Value: a name is a single value, a structure or a numbered list, not more than one"],
    ["Filter.1.Value.X=a&Filter.1.Value.1=b", "The parameter Filter.1.Value.1 conflicts with another parameter for Filter.1.Value: a name is a single value, a structure or a numbered list, not more than one"],
    ["Filter.1.Name=a&Filter.1.Name.Sub=b", "The parameter Filter.1.Name.Sub conflicts with another parameter for Filter.1.Name: a name is a single value, a structure or a numbered list, not more than one"],
    ["Filter.1=a", "The parameter Filter.1 must be a structure (Filter.1.Name), not a single value or list"],
    ["Filter.1.1=a", "The parameter Filter.1 must be a structure (Filter.1.Name), not a single value or list"],
    ["Filter.1.Name=a&Filter.1.Name=b", "The parameter Filter.1.Name is given more than once"],
    ["Filter.1..Name=a", "The parameter name Filter.1..Name is malformed after Filter.1"],
    ["Filter.1.Name.=a", "The parameter name Filter.1.Name. is malformed after Filter.1.Name"],
    ["Filter.1.__proto__.x=a", "The parameter name Filter.1.__proto__.x is malformed after Filter.1"],
    ["Filter.1.Na%20me=a", "The parameter name Filter.1.Na me is malformed after Filter.1"],
    ["Filter.1.N%C3%A4me=a", "The parameter name Filter.1.Näme is malformed after Filter.1"],
    ["Filter.1.Name%0A=a", "The parameter name Filter.1.Name\n is malformed after Filter.1"],
  ])("refuses %s", (query, message) => {
    expect(caught(() => structList(q(query), "Filter", "DescribeImages"))).toEqual({ code: "InvalidParameterValue", message, op: "DescribeImages" });
  });

  it("takes nesting to 8 parts and refuses deeper", () => {
    const ok = `A.1.${"B.".repeat(MAX_DEPTH - 2)}C`;
    expect(ok.split(".").length - 1).toBe(MAX_DEPTH);
    expect(structList(q([[ok, "v"]]), "A")).toEqual([{ B: { B: { B: { B: { B: { B: { C: "v" } } } } } } }]);
    const deep = `A.1.${"B.".repeat(MAX_DEPTH - 1)}C`;
    expect(caught(() => structList(q([[deep, "v"]]), "A")).message).toBe(`The parameter ${deep.slice(0, 64)} nests more than 8 levels deep`);
    const hostile = `A.1${".1".repeat(120)}`;
    expect(caught(() => structList(q([[hostile, "v"]]), "A")).message).toMatch(/^The parameter A\.1\.1\.1.*\.\.\. nests more than 8 levels deep$/);
  });

  it("bounds nested lists too", () => {
    const p = q(Array.from({ length: MAX_LIST_ITEMS + 1 }, (_, i) => [`Filter.1.Value.${i + 1}`, "v"] as [string, string]));
    expect(caught(() => structList(p, "Filter")).message).toBe("The list Filter.1.Value has more than 1000 items");
  });

  it("makes field names own properties, never touching prototypes", () => {
    const [item] = structList(q("A.1.constructor=x&A.1.toString=y&A.1.hasOwnProperty=z"), "A");
    expect(Object.keys(item as object)).toEqual(["constructor", "toString", "hasOwnProperty"]);
    expect(item).toEqual({ constructor: "x", toString: "y", hasOwnProperty: "z" });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("filters", () => {
  it("reads Filter.N.Name and Filter.N.Value.M", () => {
    const p = q("Filter.2.Name=state&Filter.2.Value.1=available&Filter.1.Name=tag%3AName&Filter.1.Value.1=a%26b&Filter.1.Value.2=c%3Dd");
    expect(filters(p)).toEqual([
      { name: "tag:Name", values: ["a&b", "c=d"] },
      { name: "state", values: ["available"] },
    ]);
    expect(filters(q(""))).toEqual([]);
  });

  it("allows a filter without values (EC2: has any value)", () => {
    expect(filters(q("Filter.1.Name=vpc-id"))).toEqual([{ name: "vpc-id", values: [] }]);
  });

  it("refuses a filter without a name the way EC2 does", () => {
    for (const query of ["Filter.1.Value.1=x", "Filter=", "Filter=x&Filter.1.Name=a"]) {
      expect(caught(() => filters(q(query), "DescribeImages"))).toEqual({ code: "InvalidParameterValue", message: "The filter 'null' is invalid", op: "DescribeImages" });
    }
  });

  it.each([
    ["Filter.1.Name=a&Filter.1.Values.1=x", "UnknownParameter", "The parameter Filter.1.Values is not recognized"],
    ["Filter.1.Name=a&Filter.1.Value=x", "InvalidParameterValue", "The parameter Filter.1.Value must be a numbered list (Filter.1.Value.1)"],
    ["Filter.1.Name.1=a", "InvalidParameterValue", "The parameter Filter.1.Name must be a single value, not a structure or list"],
    ["Filter.1.Name=a&Filter.1.Value.1.X=x", "InvalidParameterValue", "The parameter Filter.1.Value.1 must be a single value, not a structure or list"],
    ["Filter.1=a", "InvalidParameterValue", "The parameter Filter.1 must be a structure, not a single value or list"],
    ["Filter.0.Name=a", "InvalidParameterValue", "The parameter Filter.0.Name has an invalid index 0 after Filter; indexes are whole numbers from 1 to 999999"],
  ])("refuses %s", (query, code, message) => {
    expect(caught(() => filters(q(query)))).toEqual({ code, message, op: "api.request" });
  });

  it("takes at most 200 values in all and 255 characters a value, as EC2 (FilterLimitExceeded)", () => {
    const values = (filter: number, n: number, v = "x") => Array.from({ length: n }, (_, i) => [`Filter.${filter}.Value.${i + 1}`, v] as [string, string]);
    const named = (...f: [string, string][]) => [["Filter.1.Name", "a"], ["Filter.2.Name", "b"], ...f] as [string, string][];
    expect(filters(q(named(...values(1, 150), ...values(2, 50)))).flatMap((f) => f.values)).toHaveLength(MAX_FILTER_VALUES);
    expect(caught(() => filters(q(named(...values(1, 150), ...values(2, 51))), "DescribeImages"))).toEqual({
      code: "FilterLimitExceeded",
      message: "The maximum number of filter values specified on a single call is 200",
      op: "DescribeImages",
    });
    expect(filters(q(named(...values(1, 1, "v".repeat(255)))))[0]!.values[0]).toHaveLength(255);
    expect(caught(() => filters(q(named(...values(2, 1, "v".repeat(256))))))).toEqual({ code: "FilterLimitExceeded", message: "The maximum length for a filter value is 255 characters", op: "api.request" });
  });
});

describe("blockDeviceMappings", () => {
  it("converts to mapping.ts's typed shape", () => {
    const p = q(
      [
        "BlockDeviceMapping.1.DeviceName=/dev/sda1",
        "BlockDeviceMapping.1.Ebs.SnapshotId=snap-0123456789abcdef0",
        "BlockDeviceMapping.1.Ebs.VolumeSize=8",
        "BlockDeviceMapping.1.Ebs.VolumeType=gp3",
        "BlockDeviceMapping.1.Ebs.Iops=3000",
        "BlockDeviceMapping.1.Ebs.DeleteOnTermination=true",
        "BlockDeviceMapping.1.Ebs.Encrypted=false",
        "BlockDeviceMapping.3.DeviceName=/dev/sdc",
        "BlockDeviceMapping.3.NoDevice=",
        "BlockDeviceMapping.2.DeviceName=/dev/sdb",
        "BlockDeviceMapping.2.VirtualName=ephemeral0",
      ].join("&"),
    );
    const mappings = blockDeviceMappings(p);
    expect(mappings).toEqual([
      {
        DeviceName: "/dev/sda1",
        Ebs: { SnapshotId: "snap-0123456789abcdef0", VolumeSize: 8, VolumeType: "gp3", Iops: 3000, DeleteOnTermination: true, Encrypted: false },
      },
      { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" },
      { DeviceName: "/dev/sdc", NoDevice: "" },
    ]);
    expect(() => validateMappings(mappings, "RegisterImage")).not.toThrow();
    expect(blockDeviceMappings(q(""))).toEqual([]);
  });

  it("takes another prefix (RunInstances' launch template style names are callers' business)", () => {
    expect(blockDeviceMappings(q("Bdm.1.DeviceName=/dev/sdb&Bdm.1.Ebs.VolumeSize=1"), "Bdm")).toEqual([{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 } }]);
  });

  it("leaves a missing DeviceName to validateMappings", () => {
    const mappings = blockDeviceMappings(q("BlockDeviceMapping.1.Ebs.VolumeSize=8"));
    expect(mappings).toEqual([{ DeviceName: "", Ebs: { VolumeSize: 8 } }]);
    expect(() => validateMappings(mappings, "RegisterImage")).toThrow(expect.objectContaining({ code: "InvalidBlockDeviceMapping", message: "Missing device name" }));
  });

  const at = "BlockDeviceMapping.1";
  const dev = `${at}.DeviceName=/dev/sda1&`;
  it.each([
    [`${dev}${at}.Ebs.VolumeSize=8.5`, "InvalidParameterValue", `Value (8.5) for parameter ${at}.Ebs.VolumeSize is invalid. Expected a whole number of GiB.`],
    [`${dev}${at}.Ebs.VolumeSize=`, "InvalidParameterValue", `Value () for parameter ${at}.Ebs.VolumeSize is invalid. Expected a whole number of GiB.`],
    [`${dev}${at}.Ebs.VolumeSize=99999999999`, "InvalidParameterValue", `Value (99999999999) for parameter ${at}.Ebs.VolumeSize is invalid. Expected a whole number of GiB.`],
    [`${dev}${at}.Ebs.Iops=lots`, "InvalidParameterValue", `Value (lots) for parameter ${at}.Ebs.Iops is invalid. Expected a whole number.`],
    [`${dev}${at}.Ebs.DeleteOnTermination=yes`, "InvalidParameterValue", `Value (yes) for parameter ${at}.Ebs.DeleteOnTermination is invalid. Expected true or false.`],
    [`${dev}${at}.Ebs.Encrypted=1`, "InvalidParameterValue", `Value (1) for parameter ${at}.Ebs.Encrypted is invalid. Expected true or false.`],
    [`${dev}${at}.Ebs.VolumeType=gp9`, "InvalidParameterValue", `Value (gp9) for parameter ${at}.Ebs.VolumeType is invalid. Valid values: standard, io1, io2, gp2, sc1, st1, gp3.`],
    [`${dev}${at}.Ebs.Throughput=125`, "UnknownParameter", `The parameter ${at}.Ebs.Throughput is not recognized`],
    [`${dev}${at}.Ebs.KmsKeyId=k`, "UnknownParameter", `The parameter ${at}.Ebs.KmsKeyId is not recognized`],
    [`${dev}${at}.Device=/dev/sda1`, "UnknownParameter", `The parameter ${at}.Device is not recognized`],
    [`${dev}${at}.Ebs=yes`, "InvalidParameterValue", `The parameter ${at}.Ebs must be a structure, not a single value or list`],
    [`${dev}${at}.Ebs.1=yes`, "InvalidParameterValue", `The parameter ${at}.Ebs must be a structure, not a single value or list`],
    [`${at}.DeviceName.1=/dev/sda1`, "InvalidParameterValue", `The parameter ${at}.DeviceName must be a single value, not a structure or list`],
    [`${at}=/dev/sda1`, "InvalidParameterValue", `The parameter ${at} must be a structure, not a single value or list`],
    [`${dev}${at}=/dev/sda1`, "InvalidParameterValue", `The parameter ${at} conflicts with another parameter for ${at}: a name is a single value, a structure or a numbered list, not more than one`],
  ])("refuses %s", (query, code, message) => {
    expect(caught(() => blockDeviceMappings(q(query), undefined, "RunInstances"))).toEqual({ code, message, op: "RunInstances" });
  });

  it("refuses more than 1000 mappings", () => {
    const p = q(Array.from({ length: 1001 }, (_, i) => [`BlockDeviceMapping.${i + 1}.DeviceName`, "/dev/sdb"] as [string, string]));
    expect(caught(() => blockDeviceMappings(p)).message).toBe("The list BlockDeviceMapping has more than 1000 items");
  });
});

describe("tagSpecifications", () => {
  it("reads resource types and tags in index order", () => {
    const p = q(
      "TagSpecification.2.ResourceType=snapshot&TagSpecification.2.Tag.1.Key=k&TagSpecification.2.Tag.1.Value=" +
        "&TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.3.Key=b&TagSpecification.1.Tag.3.Value=2" +
        "&TagSpecification.1.Tag.1.Key=a%20%3C%26%3E&TagSpecification.1.Tag.1.Value=1",
    );
    expect(tagSpecifications(p)).toEqual([
      { resourceType: "image", tags: [{ key: "a <&>", value: "1" }, { key: "b", value: "2" }] },
      { resourceType: "snapshot", tags: [{ key: "k", value: "" }] },
    ]);
    expect(tagSpecifications(q(""))).toEqual([]);
  });

  it("gives a tag without Value the value '' and a specification without tags []", () => {
    expect(tagSpecifications(q("TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Key=k"))).toEqual([{ resourceType: "image", tags: [{ key: "k", value: "" }] }]);
    expect(tagSpecifications(q("TagSpecification.1.ResourceType=image"))).toEqual([{ resourceType: "image", tags: [] }]);
  });

  it.each([
    ["TagSpecification.1.Tag.1.Key=k", "MissingParameter", "The request must contain the parameter TagSpecification.1.ResourceType"],
    ["TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Value=v", "MissingParameter", "The request must contain the parameter TagSpecification.1.Tag.1.Key"],
    ["TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.Key=k", "InvalidParameterValue", "The parameter TagSpecification.1.Tag must be a list (TagSpecification.1.Tag.1.Key)"],
    ["TagSpecification.1.ResourceType=image&TagSpecification.1.Tag=k", "InvalidParameterValue", "The parameter TagSpecification.1.Tag must be a list (TagSpecification.1.Tag.1.Key)"],
    ["TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1=k", "InvalidParameterValue", "The parameter TagSpecification.1.Tag.1 must be a structure, not a single value or list"],
    ["TagSpecification.1.ResourceType=image&TagSpecification.1.Tags.1.Key=k", "UnknownParameter", "The parameter TagSpecification.1.Tags is not recognized"],
    ["TagSpecification.1.ResourceType=image&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Owner=me", "UnknownParameter", "The parameter TagSpecification.1.Tag.1.Owner is not recognized"],
    ["TagSpecification.1.ResourceType.1=image", "InvalidParameterValue", "The parameter TagSpecification.1.ResourceType must be a single value, not a structure or list"],
  ])("refuses %s", (query, code, message) => {
    expect(caught(() => tagSpecifications(q(query), "RunInstances"))).toEqual({ code, message, op: "RunInstances" });
  });

  it("bounds the tags of one specification", () => {
    const p = q([["TagSpecification.1.ResourceType", "image"], ...Array.from({ length: 1001 }, (_, i) => [`TagSpecification.1.Tag.${i + 1}.Key`, `k${i}`] as [string, string])]);
    expect(caught(() => tagSpecifications(p)).message).toBe("The list TagSpecification.1.Tag has more than 1000 items");
  });
});

describe("what the AWS SDK sends", () => {
  /** The form body the SDK would POST for this command, captured before it is sent. */
  async function bodyOf(command: RegisterImageCommand | DescribeImagesCommand): Promise<URLSearchParams> {
    const client = new EC2Client({ region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }, endpoint: "http://127.0.0.1:1" });
    let body: unknown;
    client.middlewareStack.add(
      () => async (args) => {
        body = (args.request as { body: unknown }).body;
        throw new Error("captured");
      },
      { step: "build" },
    );
    await client.send(command as RegisterImageCommand).catch(() => undefined);
    return new URLSearchParams(String(body));
  }

  it("parses RegisterImage's mappings and tag specifications", async () => {
    const p = await bodyOf(
      new RegisterImageCommand({
        Name: "img",
        RootDeviceName: "/dev/sda1",
        BlockDeviceMappings: [
          { DeviceName: "/dev/sda1", Ebs: { SnapshotId: "snap-0123456789abcdef0", VolumeSize: 8, VolumeType: "gp3", Iops: 3000, DeleteOnTermination: false, Encrypted: true } },
          { DeviceName: "/dev/sdb", VirtualName: "ephemeral1" },
          { DeviceName: "/dev/sdc", NoDevice: "" },
        ],
        TagSpecifications: [{ ResourceType: "image", Tags: [{ Key: "Name", Value: "x & y" }, { Key: "empty", Value: "" }] }],
      }),
    );
    expect(stringParam(p, "Action")).toBe("RegisterImage");
    expect(blockDeviceMappings(p)).toEqual([
      { DeviceName: "/dev/sda1", Ebs: { SnapshotId: "snap-0123456789abcdef0", VolumeSize: 8, VolumeType: "gp3", Iops: 3000, DeleteOnTermination: false, Encrypted: true } },
      { DeviceName: "/dev/sdb", VirtualName: "ephemeral1" },
      { DeviceName: "/dev/sdc", NoDevice: "" },
    ]);
    expect(tagSpecifications(p)).toEqual([{ resourceType: "image", tags: [{ key: "Name", value: "x & y" }, { key: "empty", value: "" }] }]);
  });

  it("parses DescribeImages' ids, owners, filters and numbers", async () => {
    const p = await bodyOf(
      new DescribeImagesCommand({
        ImageIds: ["ami-1", "ami-2"],
        Owners: ["self"],
        Filters: [{ Name: "state", Values: ["available", "pending"] }, { Name: "vpc-id" }, { Name: "tag:a=b", Values: ["<&>"] }],
        MaxResults: 5,
        IncludeDeprecated: true,
      }),
    );
    expect(listParam(p, "ImageId")).toEqual(["ami-1", "ami-2"]);
    expect(listParam(p, "Owner")).toEqual(["self"]);
    expect(filters(p)).toEqual([
      { name: "state", values: ["available", "pending"] },
      { name: "vpc-id", values: [] },
      { name: "tag:a=b", values: ["<&>"] },
    ]);
    expect(intParam(p, "MaxResults")).toBe(5);
    expect(boolParam(p, "IncludeDeprecated")).toBe(true);
  });
});
