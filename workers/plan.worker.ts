/**
 * Worker entry point of the planner (src/pool/planner.ts): the PV part of a
 * boot plan, off the caller's thread. The kernel's and initrd's bytes go
 * back transferred, not copied; an error goes back as its code and message.
 */
import { move, transferableSymbol, valueSymbol } from "piscina";
import { pvKernel, type PvKernel, type PvKernelTask } from "../src/boot/pv-kernel.js";
import { Ec2Error } from "../src/errors.js";
import type { PvAnswer } from "../src/pool/planner.js";

export default function plan(task: PvKernelTask): PvAnswer | ReturnType<typeof move> {
  let pv: PvKernel;
  try {
    pv = pvKernel(task);
  } catch (err) {
    // An Ec2Error keeps its code, message and op; anything else is a fault of ours.
    return { error: err instanceof Ec2Error ? err.toJSON() : { code: "InternalError", message: (err as Error).message, op: "boot.pvPlan" } };
  }
  pv.kernel = owned(pv.kernel);
  if (pv.initrd) pv.initrd = owned(pv.initrd);
  const buffers = [pv.kernel.buffer, ...(pv.initrd ? [pv.initrd.buffer] : [])];
  return move({ [transferableSymbol]: buffers, [valueSymbol]: { pv } satisfies PvAnswer });
}

/** A view that is its whole buffer: transferring a view into a shared buffer would detach its neighbours. */
function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes);
}
