import { describe, expect, it } from "vitest";
import { Ec2Error } from "../../src/errors.js";
import {
  type BlockDeviceMapping,
  type ResolveMappingsInput,
  IOPS_RANGE,
  VOLUME_SIZE_GIB,
  VOLUME_TYPES,
  isDeviceName,
  resolveMappings,
  validateMappings,
} from "../../src/cloud/block-device-mappings.js";

const snap = (n: number): string => `snap-${n.toString(16).padStart(17, "0")}`;
const ROOT_SNAP = snap(1); // 8 GiB
const DATA_SNAP = snap(2); // 20 GiB
const BIG_SNAP = snap(3); // 200 GiB
const MISSING_SNAP = snap(0xdead);
const SIZES = new Map([
  [ROOT_SNAP, 8],
  [DATA_SNAP, 20],
  [BIG_SNAP, 200],
]);

const rootMapping: BlockDeviceMapping = { DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP } };

function resolve(over: Partial<ResolveMappingsInput> = {}) {
  return resolveMappings({ rootDeviceName: "/dev/sda1", image: [rootMapping], snapshotSizeGiB: (id) => SIZES.get(id), ...over });
}

function thrown(fn: () => unknown): Ec2Error {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Ec2Error);
    return e as Ec2Error;
  }
  throw new Error("expected an Ec2Error, nothing was thrown");
}

function expectError(fn: () => unknown, code: string, message: string, op = "RunInstances"): void {
  const e = thrown(fn);
  expect({ code: e.code, message: e.message, op: e.op }).toEqual({ code, message, op });
}

describe("device names", () => {
  it.each(["/dev/sda1", "/dev/xvda", "/dev/sdb", "/dev/sdz", "/dev/xvdb", "/dev/xvdz"])("accepts %s", (name) => {
    expect(isDeviceName(name)).toBe(true);
    expect(() => validateMappings([{ DeviceName: name, Ebs: { VolumeSize: 1 } }], "RegisterImage")).not.toThrow();
  });

  it.each(["/dev/sda", "/dev/sdf1", "/dev/sde15", "/dev/xvdb1", "/dev/xvdaa", "/dev/hda", "/dev/nvme0n1", "sdb", "xvdb", "/dev/SDB", " /dev/sdb"])(
    "refuses %j",
    (name) => {
      expect(isDeviceName(name)).toBe(false);
      expectError(() => validateMappings([{ DeviceName: name, Ebs: { VolumeSize: 1 } }], "RegisterImage"), "InvalidBlockDeviceMapping", `Invalid device name ${name}`, "RegisterImage");
    },
  );

  it("needs a device name", () => {
    expectError(() => validateMappings([{ DeviceName: "", Ebs: { VolumeSize: 1 } }], "RunInstances"), "InvalidBlockDeviceMapping", "Missing device name");
    expectError(() => validateMappings([{ Ebs: { VolumeSize: 1 } } as BlockDeviceMapping], "RunInstances"), "InvalidBlockDeviceMapping", "Missing device name");
  });

  it("refuses a device named twice in one list", () => {
    const list = [
      { DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 } },
      { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" },
    ];
    expectError(() => validateMappings(list, "RegisterImage"), "InvalidBlockDeviceMapping", "The device '/dev/sdb' is used in more than one block-device mapping", "RegisterImage");
    expectError(() => resolve({ launch: list }), "InvalidBlockDeviceMapping", "The device '/dev/sdb' is used in more than one block-device mapping");
  });
});

describe("validateMappings", () => {
  it("accepts an empty list and each kind of mapping", () => {
    expect(() => validateMappings([], "RegisterImage")).not.toThrow();
    expect(() =>
      validateMappings(
        [
          { DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP, VolumeSize: 8, VolumeType: "io2", Iops: 1000, DeleteOnTermination: true, Encrypted: false } },
          { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" },
          { DeviceName: "/dev/sdc", VirtualName: "ephemeral23" },
          { DeviceName: "/dev/sdd", NoDevice: "" },
          { DeviceName: "/dev/sde", NoDevice: "anything" },
        ],
        "RegisterImage",
      ),
    ).not.toThrow();
  });

  it.each<[BlockDeviceMapping, string]>([
    [{ DeviceName: "/dev/sdb" }, "The block device mapping for /dev/sdb must specify one of Ebs, VirtualName or NoDevice"],
    [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 }, VirtualName: "ephemeral0" }, "The block device mapping for /dev/sdb specifies Ebs and VirtualName; specify exactly one of Ebs, VirtualName or NoDevice"],
    [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 }, NoDevice: "" }, "The block device mapping for /dev/sdb specifies Ebs and NoDevice; specify exactly one of Ebs, VirtualName or NoDevice"],
    [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral0", NoDevice: "" }, "The block device mapping for /dev/sdb specifies VirtualName and NoDevice; specify exactly one of Ebs, VirtualName or NoDevice"],
    [
      { DeviceName: "/dev/sdb", Ebs: {}, VirtualName: "ephemeral0", NoDevice: "" },
      "The block device mapping for /dev/sdb specifies Ebs and VirtualName and NoDevice; specify exactly one of Ebs, VirtualName or NoDevice",
    ],
    [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral24" }, "Invalid virtual name ephemeral24 for /dev/sdb; expected ephemeral0 to ephemeral23"],
    [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral01" }, "Invalid virtual name ephemeral01 for /dev/sdb; expected ephemeral0 to ephemeral23"],
    [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral" }, "Invalid virtual name ephemeral for /dev/sdb; expected ephemeral0 to ephemeral23"],
    [{ DeviceName: "/dev/sdb", VirtualName: "ami" }, "Invalid virtual name ami for /dev/sdb; expected ephemeral0 to ephemeral23"],
    [{ DeviceName: "/dev/sdb", VirtualName: "" }, "Invalid virtual name  for /dev/sdb; expected ephemeral0 to ephemeral23"],
    [{ DeviceName: "/dev/sdb", Ebs: "big" as unknown as object }, 'Invalid Ebs parameters for /dev/sdb: big'],
    [{ DeviceName: "/dev/sdb", Ebs: null as unknown as object }, "Invalid Ebs parameters for /dev/sdb: null"],
  ])("refuses %j", (mapping, message) => {
    expectError(() => validateMappings([mapping], "RegisterImage"), "InvalidBlockDeviceMapping", message, "RegisterImage");
  });

  it("refuses a mapping that is not an object", () => {
    expectError(() => validateMappings([null as unknown as BlockDeviceMapping], "RegisterImage"), "InvalidBlockDeviceMapping", "Invalid block device mapping null", "RegisterImage");
    expectError(() => validateMappings(["/dev/sdb" as unknown as BlockDeviceMapping], "RegisterImage"), "InvalidBlockDeviceMapping", "Invalid block device mapping /dev/sdb", "RegisterImage");
  });

  it("refuses a list that is not a list", () => {
    expectError(() => validateMappings({} as unknown as BlockDeviceMapping[], "RegisterImage"), "InvalidParameterValue", "BlockDeviceMappings must be a list, got {}", "RegisterImage");
  });

  it.each(["snap-123", "snap-0123456789ABCDEF0", "ami-00000000000000001", "vol-00000000000000001", "", "snap-000000000000000001"])("refuses the malformed snapshot id %j", (id) => {
    expectError(
      () => validateMappings([{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: id } }], "RegisterImage"),
      "InvalidSnapshotID.Malformed",
      `Invalid id: "${id}" (expecting "snap-...")`,
      "RegisterImage",
    );
  });

  it.each<[object, string]>([
    [{ VolumeType: "gp4" }, "Value (gp4) for parameter volumeType is invalid. Valid values: standard, io1, io2, gp2, sc1, st1, gp3."],
    [{ VolumeSize: 1.5 }, "Value (1.5) for parameter volumeSize is invalid. Expected a whole number of GiB."],
    [{ VolumeSize: "8" }, "Value (8) for parameter volumeSize is invalid. Expected a whole number of GiB."],
    [{ VolumeSize: Number.NaN }, "Value (NaN) for parameter volumeSize is invalid. Expected a whole number of GiB."],
    [{ VolumeSize: 8, Iops: 100.5 }, "Value (100.5) for parameter iops is invalid. Expected a whole number."],
    [{ VolumeSize: 8, DeleteOnTermination: "yes" }, "Value (yes) for parameter deleteOnTermination is invalid. Expected true or false."],
    [{ VolumeSize: 8, Encrypted: 1 }, "Value (1) for parameter encrypted is invalid. Expected true or false."],
  ])("refuses the Ebs field in %j", (ebs, message) => {
    expectError(() => validateMappings([{ DeviceName: "/dev/sdb", Ebs: ebs as BlockDeviceMapping["Ebs"] }], "RegisterImage"), "InvalidParameterValue", message, "RegisterImage");
  });

  it("refuses a NoDevice that is not a string", () => {
    expectError(
      () => validateMappings([{ DeviceName: "/dev/sdb", NoDevice: true as unknown as string }], "RunInstances"),
      "InvalidParameterValue",
      'Value (true) for parameter noDevice is invalid. Expected a string ("" suppresses the device).',
    );
  });
});

describe("resolveMappings: defaults", () => {
  it("resolves an image's root from its snapshot: size, gp2, deleted on termination, not encrypted", () => {
    expect(resolve()).toEqual([
      { deviceName: "/dev/sda1", root: true, kind: "ebs", snapshotId: ROOT_SNAP, sizeGiB: 8, volumeType: "gp2", deleteOnTermination: true, encrypted: false },
    ]);
  });

  it("keeps non-root volumes on termination by default", () => {
    const devices = resolve({ image: [rootMapping, { DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP } }] });
    expect(devices[1]).toEqual({ deviceName: "/dev/sdb", root: false, kind: "ebs", snapshotId: DATA_SNAP, sizeGiB: 20, volumeType: "gp2", deleteOnTermination: false, encrypted: false });
  });

  it("respects explicit DeleteOnTermination and Encrypted", () => {
    const devices = resolve({
      image: [
        { DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP, DeleteOnTermination: false, Encrypted: true } },
        { DeviceName: "/dev/sdb", Ebs: { VolumeSize: 4, DeleteOnTermination: true } },
      ],
    });
    expect(devices.map((d) => (d.kind === "ebs" ? [d.deleteOnTermination, d.encrypted] : null))).toEqual([
      [false, true],
      [true, false],
    ]);
  });

  it("makes a blank volume from VolumeSize alone, without a snapshot id", () => {
    const devices = resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 4 } }] });
    expect(devices[1]).toEqual({ deviceName: "/dev/sdb", root: false, kind: "ebs", sizeGiB: 4, volumeType: "gp2", deleteOnTermination: false, encrypted: false });
    expect("snapshotId" in (devices[1] as object)).toBe(false);
  });

  it("gives gp3 volumes 3000 IOPS unless told otherwise", () => {
    expect(resolve({ launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeType: "gp3" } }] })[0]).toMatchObject({ volumeType: "gp3", iops: 3000 });
    expect(resolve({ launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeType: "gp3", Iops: 6000 } }] })[0]).toMatchObject({ volumeType: "gp3", iops: 6000 });
  });

  it("resolves instance store volumes with their index, and their size when given", () => {
    const image = [rootMapping, { DeviceName: "/dev/sdb", VirtualName: "ephemeral23" }];
    expect(resolve({ image })[1]).toEqual({ deviceName: "/dev/sdb", root: false, kind: "ephemeral", virtualName: "ephemeral23", index: 23 });
    expect(resolve({ image, ephemeralSizeGiB: 4 })[1]).toEqual({ deviceName: "/dev/sdb", root: false, kind: "ephemeral", virtualName: "ephemeral23", index: 23, sizeGiB: 4 });
  });

  it("reports errors against RunInstances unless told the operation", () => {
    expectError(() => resolve({ image: [] }), "InvalidBlockDeviceMapping", "The root device /dev/sda1 has no block device mapping; an EBS-backed image needs an Ebs mapping for it");
    expectError(
      () => resolve({ image: [], op: "RegisterImage" }),
      "InvalidBlockDeviceMapping",
      "The root device /dev/sda1 has no block device mapping; an EBS-backed image needs an Ebs mapping for it",
      "RegisterImage",
    );
  });
});

describe("resolveMappings: merging launch mappings over the image's", () => {
  it("grows the root, keeping the image's snapshot and other fields", () => {
    const image = [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP, DeleteOnTermination: false, VolumeType: "gp3" as const } }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 30 } }] })).toEqual([
      { deviceName: "/dev/sda1", root: true, kind: "ebs", snapshotId: ROOT_SNAP, sizeGiB: 30, volumeType: "gp3", iops: 3000, deleteOnTermination: false, encrypted: false },
    ]);
  });

  it("lets a launch set a root size smaller than the image's but not smaller than the snapshot", () => {
    const image = [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP, VolumeSize: 10 } }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 8 } }] })[0]).toMatchObject({ sizeGiB: 8 });
  });

  it("never shrinks a volume below its snapshot", () => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 4 } }] }),
      "InvalidBlockDeviceMapping",
      `Volume of size 4GB is smaller than snapshot '${ROOT_SNAP}', expect size >= 8GB`,
    );
    expectError(
      () => resolve({ image: [rootMapping, { DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP, VolumeSize: 19 } }] }),
      "InvalidBlockDeviceMapping",
      `Volume of size 19GB is smaller than snapshot '${DATA_SNAP}', expect size >= 20GB`,
    );
  });

  it("overrides a data volume's size field by field", () => {
    const image = [rootMapping, { DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP, DeleteOnTermination: true } }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 50 } }] })[1]).toEqual({
      deviceName: "/dev/sdb",
      root: false,
      kind: "ebs",
      snapshotId: DATA_SNAP,
      sizeGiB: 50,
      volumeType: "gp2",
      deleteOnTermination: true,
      encrypted: false,
    });
  });

  it("lets a launch replace a device's snapshot, type and flags", () => {
    const image = [rootMapping, { DeviceName: "/dev/sdb", Ebs: { VolumeSize: 4 } }];
    const launch = [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP, VolumeSize: 25, VolumeType: "io1" as const, Iops: 400, Encrypted: true } }];
    expect(resolve({ image, launch })[1]).toEqual({
      deviceName: "/dev/sdb",
      root: false,
      kind: "ebs",
      snapshotId: DATA_SNAP,
      sizeGiB: 25,
      volumeType: "io1",
      iops: 400,
      deleteOnTermination: false,
      encrypted: true,
    });
    // Field by field: the image's 4 GiB stays unless the launch gives a size, and is too small for the new snapshot.
    expectError(
      () => resolve({ image, launch: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP } }] }),
      "InvalidBlockDeviceMapping",
      `Volume of size 4GB is smaller than snapshot '${DATA_SNAP}', expect size >= 20GB`,
    );
  });

  it("keeps the image's Iops when the type stays, drops them when a launch changes the type", () => {
    const image = [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP, VolumeType: "io1" as const, Iops: 400 } }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 16 } }] })[0]).toMatchObject({ volumeType: "io1", iops: 400, sizeGiB: 16 });
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeType: "io1" } }] })[0]).toMatchObject({ volumeType: "io1", iops: 400 });
    const toGp2 = resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeType: "gp2" } }] })[0];
    expect(toGp2).toMatchObject({ volumeType: "gp2" });
    expect("iops" in (toGp2 as object)).toBe(false);
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeType: "io2", Iops: 900 } }] })[0]).toMatchObject({ volumeType: "io2", iops: 900 });
  });

  it("ignores undefined launch fields instead of erasing the image's", () => {
    const image = [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: ROOT_SNAP, VolumeSize: 12 } }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: undefined, DeleteOnTermination: false } }] })[0]).toMatchObject({
      sizeGiB: 12,
      deleteOnTermination: false,
    });
  });

  it("adds devices the image does not have", () => {
    const devices = resolve({ launch: [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }] });
    expect(devices.map((d) => [d.deviceName, d.kind])).toEqual([
      ["/dev/sda1", "ebs"],
      ["/dev/sdb", "ephemeral"],
    ]);
  });

  it("removes an image's device with NoDevice, whatever its value", () => {
    const image = [rootMapping, { DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP } }, { DeviceName: "/dev/sdc", VirtualName: "ephemeral0" }];
    expect(resolve({ image, maxDisks: 3, launch: [{ DeviceName: "/dev/sdb", NoDevice: "" }] }).map((d) => d.deviceName)).toEqual(["/dev/sda1", "/dev/sdc"]);
    expect(resolve({ image, maxDisks: 3, launch: [{ DeviceName: "/dev/sdc", NoDevice: "true" }] }).map((d) => d.deviceName)).toEqual(["/dev/sda1", "/dev/sdb"]);
  });

  it("treats NoDevice for a device the image does not map as nothing to do", () => {
    expect(resolve({ launch: [{ DeviceName: "/dev/sdk", NoDevice: "" }] }).map((d) => d.deviceName)).toEqual(["/dev/sda1"]);
  });

  it("lets an image declare NoDevice for a non-root device", () => {
    expect(resolve({ image: [rootMapping, { DeviceName: "/dev/sdb", NoDevice: "" }] }).map((d) => d.deviceName)).toEqual(["/dev/sda1"]);
  });

  it("refuses NoDevice for the root device, in the image or at launch", () => {
    const message = "The root device /dev/sda1 cannot be suppressed with NoDevice";
    expectError(() => resolve({ launch: [{ DeviceName: "/dev/sda1", NoDevice: "" }] }), "InvalidBlockDeviceMapping", message);
    expectError(() => resolve({ image: [{ DeviceName: "/dev/sda1", NoDevice: "" }], op: "RegisterImage" }), "InvalidBlockDeviceMapping", message, "RegisterImage");
  });

  it("lets a launch swap an image's EBS device for an instance store volume", () => {
    const image = [rootMapping, { DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP } }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral1" }] })[1]).toEqual({
      deviceName: "/dev/sdb",
      root: false,
      kind: "ephemeral",
      virtualName: "ephemeral1",
      index: 1,
    });
  });

  it("lets a launch put a blank EBS volume where the image has an instance store volume, but not a snapshot", () => {
    const image = [rootMapping, { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }];
    expect(resolve({ image, launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 5 } }] })[1]).toMatchObject({ deviceName: "/dev/sdb", kind: "ebs", sizeGiB: 5 });
    expectError(
      () => resolve({ image, launch: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP } }] }),
      "InvalidBlockDeviceMapping",
      "snapshotId can only be modified on EBS devices",
    );
  });

  it("does not count a launch mapping for an image's device as a duplicate", () => {
    expect(resolve({ launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 9 } }] })).toHaveLength(1);
  });

  it("checks the launch list's syntax too", () => {
    expectError(() => resolve({ launch: [{ DeviceName: "/dev/sdb1", Ebs: { VolumeSize: 1 } }] }), "InvalidBlockDeviceMapping", "Invalid device name /dev/sdb1");
    expectError(() => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: "snap-1" } }] }), "InvalidSnapshotID.Malformed", 'Invalid id: "snap-1" (expecting "snap-...")');
  });
});

describe("resolveMappings: the root device", () => {
  it("must be mapped for an EBS-backed image", () => {
    expectError(
      () => resolve({ image: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP } }] }),
      "InvalidBlockDeviceMapping",
      "The root device /dev/sda1 has no block device mapping; an EBS-backed image needs an Ebs mapping for it",
    );
  });

  it("must be EBS for an EBS-backed image", () => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sda1", VirtualName: "ephemeral0" }] }),
      "InvalidBlockDeviceMapping",
      "The root device /dev/sda1 must be an EBS volume, not the instance store volume ephemeral0",
    );
  });

  it("may be /dev/xvda", () => {
    const devices = resolve({ rootDeviceName: "/dev/xvda", image: [{ DeviceName: "/dev/xvda", Ebs: { SnapshotId: ROOT_SNAP } }] });
    expect(devices[0]).toMatchObject({ deviceName: "/dev/xvda", root: true });
  });

  it("comes from the bundle for an instance-store image", () => {
    expect(resolve({ rootKind: "instance-store", image: [] })).toEqual([{ deviceName: "/dev/sda1", root: true, kind: "ephemeral", virtualName: "ami", index: -1 }]);
    const devices = resolve({ rootKind: "instance-store", image: [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }], ephemeralSizeGiB: 2 });
    expect(devices).toEqual([
      { deviceName: "/dev/sda1", root: true, kind: "ephemeral", virtualName: "ami", index: -1 },
      { deviceName: "/dev/sdb", root: false, kind: "ephemeral", virtualName: "ephemeral0", index: 0, sizeGiB: 2 },
    ]);
  });

  it("cannot be mapped for an instance-store image", () => {
    expectError(
      () => resolve({ rootKind: "instance-store", image: [], launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 8 } }] }),
      "InvalidBlockDeviceMapping",
      "The root device /dev/sda1 of an instance-store image comes from its bundle and cannot be mapped",
    );
    expectError(
      () => resolve({ rootKind: "instance-store", image: [{ DeviceName: "/dev/sda1", NoDevice: "" }] }),
      "InvalidBlockDeviceMapping",
      "The root device /dev/sda1 cannot be suppressed with NoDevice",
    );
  });

  it.each(["st1", "sc1"] as const)("cannot be %s", (type) => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sda1", Ebs: { VolumeType: type, VolumeSize: 125 } }] }),
      "InvalidBlockDeviceMapping",
      `Volume type ${type} cannot be used for the root device /dev/sda1: st1 and sc1 volumes can't be boot volumes`,
    );
    expect(resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: 125 } }] })[1]).toMatchObject({ volumeType: type, sizeGiB: 125 });
  });
});

describe("resolveMappings: snapshots", () => {
  it("refuses an unknown snapshot", () => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: MISSING_SNAP } }] }),
      "InvalidSnapshot.NotFound",
      `The snapshot '${MISSING_SNAP}' does not exist.`,
    );
    expectError(
      () => resolve({ image: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: MISSING_SNAP, VolumeSize: 100 } }], op: "RegisterImage" }),
      "InvalidSnapshot.NotFound",
      `The snapshot '${MISSING_SNAP}' does not exist.`,
      "RegisterImage",
    );
  });

  it("needs a snapshot or a size for every EBS device, naming all that have neither", () => {
    expectError(
      () =>
        resolve({
          maxDisks: 4,
          image: [{ DeviceName: "/dev/sda1", Ebs: { DeleteOnTermination: true } }],
          launch: [
            { DeviceName: "/dev/sdc", Ebs: { VolumeType: "gp2" } },
            { DeviceName: "/dev/sdb", Ebs: {} },
            { DeviceName: "/dev/sdd", Ebs: { VolumeSize: 1 } },
          ],
        }),
      "InvalidBlockDeviceMapping",
      "Either snapshot ID or volume size must be provided for: /dev/sda1, /dev/sdb, /dev/sdc",
    );
  });
});

describe("resolveMappings: volume sizes", () => {
  const cases = VOLUME_TYPES.flatMap((type) => {
    const { min, max } = VOLUME_SIZE_GIB[type];
    const iops = IOPS_RANGE[type] ? { Iops: IOPS_RANGE[type].min } : {};
    return [
      [type, min - 1, iops, `The volume size is invalid for ${type} volumes: ${min - 1} GiB. ${type} volumes must be at least ${min} GiB in size. Please specify a volume size above the minimum limit.`],
      [type, max + 1, iops, `Volume of ${max + 1}GiB is too large for volume type ${type}; maximum is ${max}GiB`],
    ] as const;
  });

  it.each(cases)("refuses %s at %i GiB", (type, size, iops, message) => {
    expectError(() => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: size, ...iops } }] }), "InvalidParameterValue", message);
  });

  it.each(VOLUME_TYPES.map((t) => [t]))("accepts %s at both ends of its range", (type) => {
    const { min, max } = VOLUME_SIZE_GIB[type];
    const iops = IOPS_RANGE[type] ? { Iops: IOPS_RANGE[type].min } : {};
    for (const size of [min, max]) {
      expect(resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: size, ...iops } }] })[1]).toMatchObject({ volumeType: type, sizeGiB: size });
    }
  });

  it("uses EC2's documented ranges", () => {
    expect(VOLUME_SIZE_GIB).toEqual({
      standard: { min: 1, max: 1024 },
      gp2: { min: 1, max: 16384 },
      gp3: { min: 1, max: 16384 },
      io1: { min: 4, max: 16384 },
      io2: { min: 4, max: 65536 },
      st1: { min: 125, max: 16384 },
      sc1: { min: 125, max: 16384 },
    });
    expect(IOPS_RANGE).toEqual({ gp3: { min: 3000, max: 16000 }, io1: { min: 100, max: 64000 }, io2: { min: 100, max: 256000 } });
  });

  it("checks a size taken from the snapshot against the type's range too", () => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: DATA_SNAP, VolumeType: "st1" } }] }),
      "InvalidParameterValue",
      "The volume size is invalid for st1 volumes: 20 GiB. st1 volumes must be at least 125 GiB in size. Please specify a volume size above the minimum limit.",
    );
    expect(resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { SnapshotId: BIG_SNAP, VolumeType: "st1" } }] })[1]).toMatchObject({ sizeGiB: 200, volumeType: "st1" });
  });

  it("refuses zero and negative sizes", () => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: 0 } }] }),
      "InvalidParameterValue",
      "The volume size is invalid for gp2 volumes: 0 GiB. gp2 volumes must be at least 1 GiB in size. Please specify a volume size above the minimum limit.",
    );
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeSize: -3 } }] }),
      "InvalidParameterValue",
      "The volume size is invalid for gp2 volumes: -3 GiB. gp2 volumes must be at least 1 GiB in size. Please specify a volume size above the minimum limit.",
    );
  });
});

describe("resolveMappings: IOPS", () => {
  it.each(["gp2", "standard", "st1", "sc1"] as const)("refuses Iops for %s", (type) => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: 500, Iops: 3000 } }] }),
      "InvalidParameterCombination",
      `The parameter iops is not supported for ${type} volumes.`,
    );
  });

  it.each(["io1", "io2"] as const)("requires Iops for %s", (type) => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: 10 } }] }),
      "InvalidParameterCombination",
      `The parameter iops must be specified for ${type} volumes.`,
    );
  });

  it.each([
    ["gp3", 2999, "Value (2999) for parameter iops is invalid. gp3 volumes support 3000 to 16000 IOPS."],
    ["gp3", 16001, "Value (16001) for parameter iops is invalid. gp3 volumes support 3000 to 16000 IOPS."],
    ["io1", 99, "Value (99) for parameter iops is invalid. io1 volumes support 100 to 64000 IOPS."],
    ["io1", 64001, "Value (64001) for parameter iops is invalid. io1 volumes support 100 to 64000 IOPS."],
    ["io2", 99, "Value (99) for parameter iops is invalid. io2 volumes support 100 to 256000 IOPS."],
    ["io2", 256001, "Value (256001) for parameter iops is invalid. io2 volumes support 100 to 256000 IOPS."],
  ] as const)("refuses %s with %i IOPS", (type, iops, message) => {
    expectError(() => resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: 100, Iops: iops } }] }), "InvalidParameterValue", message);
  });

  it.each([
    ["gp3", 16000],
    ["io1", 64000],
    ["io2", 256000],
    ["io2", 100],
  ] as const)("accepts %s with %i IOPS", (type, iops) => {
    expect(resolve({ launch: [{ DeviceName: "/dev/sdb", Ebs: { VolumeType: type, VolumeSize: 100, Iops: iops } }] })[1]).toMatchObject({ volumeType: type, iops });
  });
});

describe("resolveMappings: order and disk count", () => {
  it("puts the root first, then the others by device name", () => {
    const devices = resolveMappings({
      rootDeviceName: "/dev/xvda",
      image: [
        { DeviceName: "/dev/xvdb", VirtualName: "ephemeral1" },
        { DeviceName: "/dev/sdc", Ebs: { VolumeSize: 2 } },
        { DeviceName: "/dev/xvda", Ebs: { SnapshotId: ROOT_SNAP } },
      ],
      launch: [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }],
      snapshotSizeGiB: (id) => SIZES.get(id),
      maxDisks: Number.POSITIVE_INFINITY,
    });
    expect(devices.map((d) => [d.deviceName, d.root])).toEqual([
      ["/dev/xvda", true],
      ["/dev/sdb", false],
      ["/dev/sdc", false],
      ["/dev/xvdb", false],
    ]);
  });

  it("puts the root first even when its name sorts last", () => {
    const devices = resolve({ rootDeviceName: "/dev/xvdz", image: [{ DeviceName: "/dev/xvdz", Ebs: { SnapshotId: ROOT_SNAP } }, { DeviceName: "/dev/sdb", Ebs: { VolumeSize: 1 } }] });
    expect(devices.map((d) => d.deviceName)).toEqual(["/dev/xvdz", "/dev/sdb"]);
  });

  it("attaches at most two disks by default (v86's IDE master and slave)", () => {
    expectError(
      () => resolve({ launch: [{ DeviceName: "/dev/sdc", VirtualName: "ephemeral1" }, { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }] }),
      "InvalidBlockDeviceMapping",
      "v86 attaches at most 2 disks to an instance, but the block device mapping has 3: /dev/sda1, /dev/sdb, /dev/sdc",
    );
  });

  it("counts the instance-store root as a disk, and honours maxDisks", () => {
    expectError(
      () => resolve({ rootKind: "instance-store", image: [{ DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }], maxDisks: 1 }),
      "InvalidBlockDeviceMapping",
      "v86 attaches at most 1 disk to an instance, but the block device mapping has 2: /dev/sda1, /dev/sdb",
    );
  });

  it("refuses one instance store volume on two devices", () => {
    expectError(
      () => resolve({ maxDisks: 3, launch: [{ DeviceName: "/dev/sdc", VirtualName: "ephemeral0" }, { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" }] }),
      "InvalidBlockDeviceMapping",
      "The virtual name ephemeral0 is mapped to both /dev/sdb and /dev/sdc",
    );
  });
});

describe("resolveMappings: its own options", () => {
  it.each<[Partial<ResolveMappingsInput>, string]>([
    [{ maxDisks: 0 }, "maxDisks must be an integer >= 1, got 0"],
    [{ maxDisks: 1.5 }, "maxDisks must be an integer >= 1, got 1.5"],
    [{ ephemeralSizeGiB: 0 }, "ephemeralSizeGiB must be an integer >= 1, got 0"],
    [{ rootKind: "s3" as "ebs" }, 'rootKind must be "ebs" or "instance-store", got s3'],
    [{ rootDeviceName: "/dev/sda" }, "Value (/dev/sda) for parameter rootDeviceName is invalid. Expected /dev/sda1, /dev/xvda, /dev/sd[b-z] or /dev/xvd[b-z]."],
  ])("refuses %j", (over, message) => {
    expectError(() => resolve(over), "InvalidParameterValue", message);
  });
});
