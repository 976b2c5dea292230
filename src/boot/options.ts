import { defined } from "../defined.js";
import { Ec2Error } from "../errors.js";

/** What a caller may ask of one boot; every field is validated with an exact message. */
export interface BootOptions {
  /** Guest memory in MiB (16-2048). Default 128. */
  memoryMiB: number;
  /** Ends the boot as failed after this many seconds; 0 means never. Default 120. */
  timeoutSeconds: number;
  /** Ends the boot successfully when the serial console shows this text (one line). */
  until?: string;
  /** PV: leave the kernel compressed for the guest to unpack, as PV-GRUB does. Default false. */
  guestDecompress: boolean;
  /** The `until` text is only a milestone and the VM runs on (an instance). Default false. */
  keepRunning: boolean;
}

export const DEFAULT_BOOT_OPTIONS: BootOptions = { memoryMiB: 128, timeoutSeconds: 120, guestDecompress: false, keepRunning: false };

export const MEMORY_MIB_MIN = 16;
export const MEMORY_MIB_MAX = 2048;
const UNTIL_MAX = 256;

export function bootOptions(input: Partial<BootOptions> = {}): BootOptions {
  const o = { ...DEFAULT_BOOT_OPTIONS, ...defined(input) };
  if (!Number.isInteger(o.memoryMiB) || o.memoryMiB < MEMORY_MIB_MIN || o.memoryMiB > MEMORY_MIB_MAX) {
    throw invalid(`memory must be a whole number of MiB from ${MEMORY_MIB_MIN} to ${MEMORY_MIB_MAX}, got ${String(input.memoryMiB)}`);
  }
  if (typeof o.timeoutSeconds !== "number" || !Number.isFinite(o.timeoutSeconds) || o.timeoutSeconds < 0) {
    throw invalid(`timeout must be a number of seconds >= 0 (0 means none), got ${String(input.timeoutSeconds)}`);
  }
  if (o.until !== undefined) {
    if (typeof o.until !== "string" || o.until.length === 0 || o.until.length > UNTIL_MAX || /[\r\n]/.test(o.until)) {
      throw invalid(`until must be one line of 1 to ${UNTIL_MAX} characters, got ${JSON.stringify(o.until)}`);
    }
  }
  if (typeof o.guestDecompress !== "boolean") {
    throw invalid(`guestDecompress must be true or false, got ${String(input.guestDecompress)}`);
  }
  if (typeof o.keepRunning !== "boolean") {
    throw invalid(`keepRunning must be true or false, got ${String(input.keepRunning)}`);
  }
  return o;
}

function invalid(message: string): Ec2Error {
  return new Ec2Error("InvalidParameterValue", message, "boot.bootOptions");
}
