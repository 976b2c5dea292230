/**
 * The one error type amiboot raises to its callers: an EC2-style code, a
 * sentence for a person, and the operation that failed (cloud-hypervisor's
 * error kind + op). Codes follow EC2 where EC2 has one (InvalidParameterValue,
 * UnsupportedOperation, ...) and read the same way where it has none.
 */
export class Ec2Error extends Error {
  override readonly name = "Ec2Error";

  constructor(
    readonly code: string,
    message: string,
    readonly op?: string,
  ) {
    super(message);
  }

  /** A plain object that survives structured clone (worker boundaries). */
  toJSON(): Ec2ErrorShape {
    return { code: this.code, message: this.message, ...(this.op ? { op: this.op } : {}) };
  }

  static from(shape: Ec2ErrorShape): Ec2Error {
    return new Ec2Error(shape.code, shape.message, shape.op);
  }
}

export interface Ec2ErrorShape {
  code: string;
  message: string;
  op?: string;
}
