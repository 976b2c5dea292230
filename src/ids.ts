import { randomBytes } from "node:crypto";

/** EC2-style resource ids: a prefix and 17 lowercase hex digits (`snap-0123456789abcdef0`). */
export type IdPrefix = "ami" | "snap" | "vol" | "i" | "r";

export function newId(prefix: IdPrefix): string {
  return `${prefix}-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

const ID = /^(ami|snap|vol|i|r)-[0-9a-f]{17}$/;

/** True when `id` is a well-formed id with this prefix. */
export function isId(id: string, prefix: IdPrefix): boolean {
  const m = ID.exec(id);
  return m !== null && m[1] === prefix;
}
