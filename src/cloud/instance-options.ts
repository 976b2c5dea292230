import os from "node:os";
import { Ec2Error } from "../errors.js";

/** How the instances of one server boot and run (`amiboot serve`'s flags). */
export interface InstancesOptions {
  /** Console text that marks user space (a milestone; the instance's status turns ok). */
  marker: string;
  /** Console text after which the instance's UserData is typed on its serial console. */
  inputMarker: string;
  /** Instances whose VMs may run at once (each a worker thread). */
  maxInstances: number;
  /** VMs that may boot at once, up to their marker: more wait, pending. Default: the cores. */
  bootSlots: number;
  /** A boot slot is given back after this long even without a marker (a guest that never prints). */
  bootSlotMs: number;
  /**
   * Warm launches (tag `amiboot:warm`): machines kept restored from their
   * saved states, ready for the next launch of each; 0 turns them off. Each
   * costs its guest's restored memory while it waits (see the README).
   */
  standbyMachines: number;
}

export const DEFAULT_INSTANCES_OPTIONS: Readonly<InstancesOptions> = Object.freeze({
  marker: "AMIBOOT-USERSPACE-READY",
  inputMarker: "AMIBOOT-DISKS-READY",
  maxInstances: 32,
  bootSlots: os.availableParallelism(),
  bootSlotMs: 30_000,
  standbyMachines: 2,
});

const OP = "cloud.instancesOptions";

/**
 * The options merged over the defaults and checked, piscina's way: a value
 * that would leave every instance pending forever (no boot slot, no VM) is
 * refused at start with a sentence naming the option.
 */
export function instancesOptions(given: Partial<InstancesOptions> = {}): InstancesOptions {
  const o = { ...DEFAULT_INSTANCES_OPTIONS, ...given };
  for (const key of ["marker", "inputMarker"] as const) {
    if (typeof o[key] !== "string" || o[key].length === 0) throw new Ec2Error("InvalidParameterValue", `The option ${key} must be a non-empty string (got ${JSON.stringify(o[key])}).`, OP);
  }
  for (const key of ["maxInstances", "bootSlots"] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw new Ec2Error("InvalidParameterValue", `The option ${key} must be an integer >= 1 (got ${String(o[key])}).`, OP);
  }
  if (!Number.isInteger(o.standbyMachines) || o.standbyMachines < 0 || o.standbyMachines > 64) {
    throw new Ec2Error("InvalidParameterValue", `The option standbyMachines must be an integer from 0 to 64 (got ${String(o.standbyMachines)}).`, OP);
  }
  // setTimeout's limit: a longer delay would fire at once.
  if (typeof o.bootSlotMs !== "number" || !(o.bootSlotMs >= 1 && o.bootSlotMs <= 2 ** 31 - 1)) {
    throw new Ec2Error("InvalidParameterValue", `The option bootSlotMs must be a number of milliseconds from 1 to 2147483647 (got ${String(o.bootSlotMs)}).`, OP);
  }
  return o;
}
