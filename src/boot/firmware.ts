import fs from "node:fs";
import path from "node:path";
import { Ec2Error } from "../errors.js";

/** The BIOS files v86 starts from: Debian's `seabios` package, never committed. */
export interface Firmware {
  bios: string;
  /** Optional: gives the guest a text screen (BIOS and boot loader messages, kernel refusals). */
  vgaBios?: string;
}

const DEFAULT_DIR = "/usr/share/seabios";

/** Finds SeaBIOS in `$AMIBOOT_SEABIOS_DIR` or Debian's location. */
export function findFirmware(dir = process.env.AMIBOOT_SEABIOS_DIR || DEFAULT_DIR): Firmware {
  const bios = ["bios-256k.bin", "bios.bin"].map((f) => path.join(dir, f)).find(isFile);
  if (!bios) {
    throw new Ec2Error(
      "MissingFirmware",
      `no SeaBIOS image (bios-256k.bin or bios.bin) in ${dir}: install Debian's 'seabios' package (apt-get install seabios) or set AMIBOOT_SEABIOS_DIR`,
      "boot.findFirmware",
    );
  }
  const vga = path.join(dir, "vgabios-stdvga.bin");
  return isFile(vga) ? { bios, vgaBios: vga } : { bios };
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
