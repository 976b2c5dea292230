import type { BlockDevice } from "../volumes/block-device.js";
import { DeviceWindow, readChecked } from "./bytes.js";
import { guestFsError } from "./errors.js";
import { ExtFilesystem, isExt } from "./ext.js";
import { FatFilesystem, isFat } from "./fat.js";
import type { GuestFilesystem } from "./filesystem.js";
import type { Partition } from "./partitions.js";

/** Opens the filesystem on a device by its magic bytes: ext2/3/4 or FAT12/16/32. */
export function openFilesystem(dev: BlockDevice): GuestFilesystem {
  if (isExt(dev)) return ExtFilesystem.open(dev);
  if (dev.size >= 512 && isFat(readChecked(dev, 0, 512, "openFilesystem"))) return FatFilesystem.open(dev);
  throw guestFsError("Unsupported", "no ext2/3/4 or FAT filesystem found (unknown magic bytes)", "guestfs.openFilesystem");
}

/** The device a partition occupies on a disk. */
export function partitionDevice(disk: BlockDevice, p: Partition): BlockDevice {
  return new DeviceWindow(disk, p.start, p.size);
}
