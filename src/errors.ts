import type { ErrorCode } from "./error-codes.js";

export type { ErrorCode } from "./error-codes.js";

/**
 * The one error type amiboot raises to its callers: an EC2-style code, a
 * sentence for a person, and the operation that failed (cloud-hypervisor's
 * error kind + op). Codes follow EC2 where EC2 has one (InvalidParameterValue,
 * UnsupportedOperation, ...) and read the same way where it has none; each is
 * in the table of `error-codes.ts`, which gives its HTTP status and CLI exit.
 *
 * `op` names the operation in one scheme:
 * - an EC2 API action, as EC2 spells it, for what a request asked
 *   (`RegisterImage`, `DescribeImages`, `RunInstances`);
 * - `layer.function` in camelCase for everything inside, the layer being the
 *   folder under src/ (`api.authenticate`, `api.request`, `volumes.importSnapshot`,
 *   `guestfs.readInode`, `boot.pvPlan`, `pool.boot`, `cli.boot`).
 */
export class Ec2Error extends Error {
  override readonly name = "Ec2Error";

  constructor(
    readonly code: ErrorCode | RelayedCode,
    message: string,
    readonly op?: string,
  ) {
    super(message);
  }

  /** A plain object that survives structured clone (worker boundaries). */
  toJSON(): Ec2ErrorShape {
    return { code: this.code, message: this.message, ...(this.op ? { op: this.op } : {}) };
  }

  /** An error that crossed a worker boundary; its code was typed where it was raised. */
  static from(shape: Ec2ErrorShape): Ec2Error {
    return new Ec2Error(shape.code as ErrorCode, shape.message, shape.op);
  }
}

/**
 * A code some other server answered with (the CLI relays an endpoint's error
 * envelope as it came): any string, but only through {@link relayedCode}, so
 * that a typo in our own codes still fails to compile.
 */
export type RelayedCode = string & { readonly relayed: unique symbol };

export function relayedCode(code: string): RelayedCode {
  return code as RelayedCode;
}

export interface Ec2ErrorShape {
  code: string;
  message: string;
  op?: string;
}
