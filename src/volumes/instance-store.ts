import { Volume } from "memfs";
import { CHUNK_SIZE } from "./chunk-store.js";
import { OverlayVolume, type OverlayFs } from "./overlay-volume.js";

/**
 * An instance-store volume: an overlay held in memory (memfs) by the worker
 * that runs the instance, so its data lives exactly as long as the VM:
 * kept across a guest reboot, gone at stop and terminate. Its base is the
 * unbundled root image, or nothing for a blank ephemeral disk.
 */
export class InstanceStoreVolume extends OverlayVolume {
  private constructor(size: number, image?: Uint8Array) {
    super({
      fs: new Volume() as unknown as OverlayFs,
      dir: "/",
      size,
      readBase: (block, into, at, within, n) => {
        const from = block * CHUNK_SIZE + within;
        if (image && from < image.length) into.set(image.subarray(from, Math.min(from + n, image.length)), at);
      },
    });
  }

  /** A root volume over an image already unbundled and verified. */
  static fromImage(image: Uint8Array, size = image.length): InstanceStoreVolume {
    return new InstanceStoreVolume(Math.ceil(Math.max(size, image.length) / 512) * 512, image);
  }

  /** A blank ephemeral disk (ephemeralN); blocks take memory only once written. */
  static blank(size: number): InstanceStoreVolume {
    return new InstanceStoreVolume(size);
  }
}
