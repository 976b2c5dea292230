import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { attachMapping } from "../../src/cloud/attach-mappings.js";
import { EbsVolume } from "../../src/volumes/ebs-volume.js";
import { resolveMappings } from "../../src/cloud/block-device-mappings.js";
import { VolumeStore } from "../../src/volumes/store.js";
import { image, tempDir } from "../helpers.js";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const GiB = 1024 ** 3;

describe("attachMapping", () => {
  const store = new VolumeStore(path.join(dir, "home"));
  const snap = store.importSnapshot(image("mbr.img"));

  it("turns an image's mapping and a launch's into v86 disks, root first", () => {
    const resolved = resolveMappings({
      rootDeviceName: "/dev/sda1",
      image: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: snap.id } }],
      launch: [
        { DeviceName: "/dev/sda1", Ebs: { VolumeSize: 2 } },
        { DeviceName: "/dev/sdb", VirtualName: "ephemeral0" },
      ],
      snapshotSizeGiB: store.snapshotSizeGiB,
    });
    const a = attachMapping(resolved, store, { ephemeralGiB: 4 });
    expect(a.disks.map((d) => d.kind)).toEqual(["ebs", "ephemeral"]);
    expect(a.disks.map((d) => d.size)).toEqual([2 * GiB, 4 * GiB]);
    expect(a.volumes).toEqual([{ deviceName: "/dev/sda1", volumeId: expect.stringMatching(/^vol-/), deleteOnTermination: true }]);
    // The root volume holds the image: its boot sector reads back.
    const root = EbsVolume.open(store.home, a.volumes[0]!.volumeId);
    expect(Buffer.from(root.read(0, 512)).equals(fs.readFileSync(image("mbr.img")))).toBe(true);
    root.close();
  });

  it("refuses an unknown snapshot with EC2's error and leaves no volume behind", () => {
    const before = store.listVolumes().length;
    expect(() =>
      resolveMappings({ rootDeviceName: "/dev/sda1", image: [{ DeviceName: "/dev/sda1", Ebs: { SnapshotId: "snap-0123456789abcdef0" } }], snapshotSizeGiB: store.snapshotSizeGiB }),
    ).toThrow(expect.objectContaining({ code: "InvalidSnapshot.NotFound", message: "The snapshot 'snap-0123456789abcdef0' does not exist." }));
    // A failure after the first volume (an instance-store root with no bundle) deletes what was made.
    expect(() =>
      attachMapping(
        [
          { deviceName: "/dev/sdb", root: false, kind: "ebs", snapshotId: snap.id, sizeGiB: 1, volumeType: "gp2", deleteOnTermination: false, encrypted: false },
          { deviceName: "/dev/sda1", root: true, kind: "ephemeral", virtualName: "ami", index: -1 },
        ],
        store,
      ),
    ).toThrow(expect.objectContaining({ code: "InvalidBlockDeviceMapping" }));
    expect(store.listVolumes().length).toBe(before);
  });
});
