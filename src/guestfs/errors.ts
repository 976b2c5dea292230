import { Ec2Error } from "../errors.js";

/**
 * What went wrong reading an untrusted guest disk (cloud-hypervisor's error
 * kinds): the code is `GuestFs.<Kind>`, the op names the reader and step.
 */
export type GuestFsErrorKind = "Corrupt" | "OutOfBounds" | "Unsupported" | "NotFound" | "NotADirectory" | "IsADirectory" | "Loop" | "TooLarge";

export function guestFsError(kind: GuestFsErrorKind, message: string, op: string): Ec2Error {
  return new Ec2Error(`GuestFs.${kind}`, message, op);
}
