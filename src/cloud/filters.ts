import { Ec2Error } from "../errors.js";

export interface Filter {
  name: string;
  values: string[];
}

/**
 * Describe* filters: each name picks the values of a resource it compares; a
 * filter matches when any of its values (`*` and `?` are wildcards, as in
 * EC2) matches any of the resource's; all filters must match. `tag:KEY`
 * compares the value of that tag.
 */
export function filterPredicate<T>(fields: Record<string, (r: T) => (string | undefined)[]>, tagsOf: (r: T) => { key: string; value: string }[], filters: Filter[], op: string): (r: T) => boolean {
  const tests = filters.map((f) => {
    const patterns = f.values.map(wildcard);
    const any = (values: (string | undefined)[]) => values.some((v) => v !== undefined && patterns.some((p) => p.test(v)));
    if (f.name.startsWith("tag:")) {
      const key = f.name.slice(4);
      return (r: T) => any(tagsOf(r).filter((t) => t.key === key).map((t) => t.value));
    }
    if (f.name === "tag-key") return (r: T) => any(tagsOf(r).map((t) => t.key));
    const field = Object.hasOwn(fields, f.name) ? fields[f.name] : undefined;
    if (!field) throw new Ec2Error("InvalidParameterValue", `The filter '${f.name}' is invalid`, op);
    return (r: T) => any(field(r));
  });
  return (r) => tests.every((t) => t(r));
}

/** An EC2 filter value as a regular expression: `*` any run, `?` any one character (a code point, as SQLite's GLOB counts). */
export function wildcard(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "su");
}

/** MaxResults: 1 to 1000, as EC2 pages. */
export function checkMaxResults(n: number, op: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Ec2Error("InvalidParameterValue", `Value (${n}) for parameter maxResults is invalid. Expected a value from 1 to 1000.`, op);
  return n;
}

/** What a paged Describe* request carries besides its ids: filters, MaxResults and NextToken. */
export interface PageRequest {
  filters: Filter[];
  maxResults?: number;
  nextToken?: string;
}

/** MaxResults/NextToken over a stable list: the token is the next index. */
export function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined, op: string): { items: T[]; nextToken?: string } {
  if (maxResults !== undefined) checkMaxResults(maxResults, op);
  const start = nextToken ? decodeNextToken(nextToken, op) : 0;
  const end = maxResults !== undefined ? start + maxResults : items.length;
  return { items: items.slice(start, end), ...(end < items.length ? { nextToken: encodeNextToken(end) } : {}) };
}

/** A NextToken for the listing's index `n` (opaque to clients, as EC2's). */
export function encodeNextToken(n: number): string {
  return Buffer.from(String(n)).toString("base64url");
}

/** The index a NextToken stands for; InvalidNextToken when it is not one of ours. */
export function decodeNextToken(token: string, op: string): number {
  const text = Buffer.from(token, "base64url").toString();
  const n = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new Ec2Error("InvalidNextToken", "The token is invalid", op);
  return n;
}

/** Every filter matches one of its field's values (`*` wildcards); an unknown filter is EC2's error. */
export function matchFields(fs: readonly Filter[], fields: Record<string, string[]>, op: string): boolean {
  return fs.every((f) => {
    if (!Object.hasOwn(fields, f.name)) throw new Ec2Error("InvalidParameterValue", `The filter '${f.name}' is invalid`, op);
    const patterns = f.values.map(wildcard);
    return fields[f.name]!.some((x) => patterns.some((p) => p.test(x)));
  });
}
