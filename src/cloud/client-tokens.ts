import { createHash } from "node:crypto";
import { Ec2Error } from "../errors.js";
import type { Db } from "../store/db.js";

/** EC2's limit on a ClientToken. */
const MAX_TOKEN = 64;

/**
 * ClientToken idempotency (RunInstances, CopyImage, CreateVolume): the first
 * answer to a token is kept with a hash of the request's parameters; a retry
 * with the same token and parameters gets that answer again and changes
 * nothing, the same token with other parameters is `IdempotentParameterMismatch`.
 * Tokens are per account, region and action, as EC2 scopes them.
 */
export class ClientTokens {
  constructor(private readonly db: Db) {}

  /** The answer already given to this token, if any; EC2's error when the parameters differ. */
  recall(owner: string, region: string, action: string, token: string, params: [string, string][]): Record<string, unknown> | undefined {
    if (token.length === 0 || token.length > MAX_TOKEN || !/^[\x20-\x7e]+$/.test(token)) {
      throw new Ec2Error("InvalidParameterValue", `Value (${token}) for parameter clientToken is invalid: up to ${MAX_TOKEN} printable ASCII characters`, action);
    }
    const row = this.db.prepare("select params_hash, answer from client_tokens where owner_id = ? and region = ? and action = ? and token = ?").get(owner, region, action, token) as
      | { params_hash: string; answer: string }
      | undefined;
    if (!row) return undefined;
    if (row.params_hash !== hashOf(params)) {
      throw new Ec2Error("IdempotentParameterMismatch", `The client token '${token}' was already used with other parameters for ${action}`, action);
    }
    return JSON.parse(row.answer) as Record<string, unknown>;
  }

  remember(owner: string, region: string, action: string, token: string, params: [string, string][], answer: Record<string, unknown>): void {
    this.db
      .prepare("insert or ignore into client_tokens (owner_id, region, action, token, params_hash, answer, created_at) values (?, ?, ?, ?, ?, ?, ?)")
      .run(owner, region, action, token, hashOf(params), JSON.stringify(answer), new Date().toISOString());
  }
}

/** The request's parameters, in a canonical order. */
function hashOf(params: [string, string][]): string {
  const sorted = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex");
}
