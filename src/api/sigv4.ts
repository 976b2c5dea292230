import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Ec2Error } from "../errors.js";

/**
 * AWS Signature Version 4 verification for incoming requests, of any service
 * in the credential scope (the caller checks it: `ec2` or EBS direct's `ebs`).
 *
 * Both forms AWS defines are accepted:
 * - the Authorization header (`AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
 *   SERVICE/aws4_request, SignedHeaders=..., Signature=...`) with the time in
 *   `x-amz-date` (or, failing that, an HTTP `date` header);
 * - the presigned query string (`X-Amz-Algorithm`, `X-Amz-Credential`,
 *   `X-Amz-Date`, `X-Amz-SignedHeaders`, `X-Amz-Signature`, optional
 *   `X-Amz-Expires`).
 *
 * The canonical request is rebuilt from what the server itself acts on: the
 * query is decoded the way the server decodes it (URLSearchParams, `+` is a
 * space) and re-encoded the RFC 3986 way, so a signature covers exactly the
 * parameters that are then executed. The payload hash is the
 * `x-amz-content-sha256` header when present (a hex SHA-256, which must match
 * the body, or `UNSIGNED-PAYLOAD`, which leaves the body unauthenticated),
 * else the SHA-256 of the body.
 *
 * Choices where AWS leaves room:
 * - `host` must be signed, and in the header form so must the header that
 *   carries the time (`x-amz-date` or `date`), as AWS's documentation asks.
 * - A presigned request with `X-Amz-Expires` is valid from its X-Amz-Date
 *   (less the allowed skew) until X-Amz-Date + X-Amz-Expires; without it,
 *   and in the header form, within the skew either side of the server's clock.
 * - A signed header missing from the request counts as an empty value, so the
 *   signature fails to match.
 *
 * Errors: AuthFailure for anything about credentials, signatures and time;
 * IncompleteSignature for a signature that is malformed (missing parts, a bad
 * credential scope, a bad date).
 */
export interface IncomingSignedRequest {
  method: string;
  /** The path as received, without the query. */
  path: string;
  /** The raw query string without '?', may be "". */
  query: string;
  /** node's IncomingHttpHeaders: lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface VerifiedCaller {
  accessKeyId: string;
  /** From the credential scope. */
  region: string;
  /** From the credential scope. */
  service: string;
}

const ALGORITHM = "AWS4-HMAC-SHA256";
const TERMINATOR = "aws4_request";
const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;
/** AWS's limit for X-Amz-Expires: seven days. */
const MAX_EXPIRES_S = 604_800;
const OP = "api.authenticate";

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SCOPE_DATE = /^\d{8}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const EXPIRES = /^[1-9]\d{0,6}$/;
const EC2_AUTH_FAILURE = "AWS was not able to validate the provided access credentials";

interface SignatureParts {
  form: "header" | "query";
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** yyyyMMdd'T'HHmmss'Z' as used in the string to sign. */
  amzDate: string;
  time: number;
  /** Presigned only: X-Amz-Expires in seconds. */
  expiresS?: number;
}

export function verifySigV4(
  req: IncomingSignedRequest,
  lookupSecret: (accessKeyId: string) => string | undefined,
  options: { now?: Date; maxSkewMs?: number } = {},
): VerifiedCaller {
  const params = [...new URLSearchParams(req.query)];
  const parts = signatureParts(req, params);

  if (parts.scopeDate !== parts.amzDate.slice(0, 8)) {
    throw authFailure(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parts.scopeDate}' != '${parts.amzDate.slice(0, 8)}', from '${parts.amzDate}'.`,
    );
  }
  checkTime(parts, options.now ?? new Date(), options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS);

  const secret = lookupSecret(parts.accessKeyId);
  if (secret === undefined) throw authFailure(EC2_AUTH_FAILURE);

  const canonical = canonicalRequest(req, params, parts);
  const stringToSign = [ALGORITHM, parts.amzDate, scope(parts), sha256Hex(canonical)].join("\n");
  const key = [parts.scopeDate, parts.region, parts.service, TERMINATOR].reduce<Buffer | string>(
    (k, part) => hmac(k, part),
    `AWS4${secret}`,
  );
  const expected = hmac(key, stringToSign);
  const given = HEX_SHA256.test(parts.signature) ? Buffer.from(parts.signature, "hex") : undefined;
  if (!given || !timingSafeEqual(expected, given)) throw authFailure(EC2_AUTH_FAILURE);

  return { accessKeyId: parts.accessKeyId, region: parts.region, service: parts.service };
}

/** Picks the form, and reads and checks its parts (not yet the signature itself). */
function signatureParts(req: IncomingSignedRequest, params: [string, string][]): SignatureParts {
  const authorization = header(req.headers, "authorization");
  const presigned = params.some(([name]) => name === "X-Amz-Algorithm");
  if (authorization !== undefined && presigned) {
    throw incomplete(
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
    );
  }
  if (authorization !== undefined) return headerParts(req, authorization);
  if (presigned) return queryParts(params);
  if (params.some(([name]) => name === "X-Amz-Signature" || name === "X-Amz-Credential")) {
    throw incomplete("The presigned request requires the X-Amz-Algorithm query parameter");
  }
  throw authFailure("Request is missing Authentication Token: sign it with AWS Signature Version 4");
}

function headerParts(req: IncomingSignedRequest, authorization: string): SignatureParts {
  const value = authorization.trim();
  const space = value.search(/\s/);
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw incomplete(`Unsupported Authorization Type: '${algorithm}' (only ${ALGORITHM} is supported)`);
  }
  const fields = new Map<string, string>();
  for (const item of (space < 0 ? "" : value.slice(space + 1)).split(",")) {
    const text = item.trim();
    if (text === "") continue;
    const eq = text.indexOf("=");
    if (eq <= 0) throw incomplete(`Authorization header has a malformed component '${text}'; each must be Name=Value. Authorization=${value}`);
    const name = text.slice(0, eq).trim();
    if (fields.has(name)) throw incomplete(`Authorization header has '${name}' more than once. Authorization=${value}`);
    fields.set(name, text.slice(eq + 1).trim());
  }

  const amzDateHeader = header(req.headers, "x-amz-date");
  const dateHeader = header(req.headers, "date");
  const problems: string[] = [];
  for (const name of ["Credential", "Signature", "SignedHeaders"]) {
    if (!fields.get(name)) problems.push(`Authorization header requires '${name}' parameter.`);
  }
  if (amzDateHeader === undefined && dateHeader === undefined) {
    problems.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  if (problems.length > 0) throw incomplete(`${problems.join(" ")} Authorization=${value}`);

  let amzDate: string;
  let time: number;
  let dateHeaderName: string;
  if (amzDateHeader !== undefined) {
    ({ amzDate, time } = parseAmzDate(amzDateHeader.trim(), "X-Amz-Date"));
    dateHeaderName = "x-amz-date";
  } else {
    time = parseHttpDate(dateHeader!);
    amzDate = formatAmzDate(time);
    dateHeaderName = "date";
  }

  const signedHeaders = parseSignedHeaders(fields.get("SignedHeaders")!);
  if (!signedHeaders.includes(dateHeaderName)) {
    throw incomplete(`The '${dateHeaderName}' header carries the request's time and must be in SignedHeaders.`);
  }
  return {
    form: "header",
    ...parseCredential(fields.get("Credential")!),
    signedHeaders,
    signature: fields.get("Signature")!,
    amzDate,
    time,
  };
}

function queryParts(params: [string, string][]): SignatureParts {
  const get = (name: string): string | undefined => {
    const values = params.filter(([n]) => n === name);
    if (values.length > 1) throw incomplete(`The query parameter ${name} is given ${values.length} times; give it once.`);
    return values[0]?.[1];
  };
  const algorithm = get("X-Amz-Algorithm")!;
  if (algorithm !== ALGORITHM) {
    throw incomplete(`X-Amz-Algorithm only supports "${ALGORITHM}", got '${algorithm}'`);
  }
  const credential = get("X-Amz-Credential");
  const date = get("X-Amz-Date");
  const signedHeaders = get("X-Amz-SignedHeaders");
  const signature = get("X-Amz-Signature");
  const expires = get("X-Amz-Expires");
  const missing = [
    ["X-Amz-Credential", credential],
    ["X-Amz-Signature", signature],
    ["X-Amz-SignedHeaders", signedHeaders],
    ["X-Amz-Date", date],
  ].filter(([, v]) => !v);
  if (missing.length > 0) {
    throw incomplete(missing.map(([name]) => `The presigned request requires the '${name}' query parameter.`).join(" "));
  }
  let expiresS: number | undefined;
  if (expires !== undefined) {
    if (!EXPIRES.test(expires) || Number(expires) > MAX_EXPIRES_S) {
      throw incomplete(`X-Amz-Expires must be a whole number of seconds from 1 to ${MAX_EXPIRES_S} (seven days), got '${expires}'`);
    }
    expiresS = Number(expires);
  }
  return {
    form: "query",
    ...parseCredential(credential!),
    signedHeaders: parseSignedHeaders(signedHeaders!),
    signature: signature!,
    ...parseAmzDate(date!, "X-Amz-Date"),
    ...(expiresS !== undefined ? { expiresS } : {}),
  };
}

function parseCredential(credential: string): Pick<SignatureParts, "accessKeyId" | "scopeDate" | "region" | "service"> {
  const parts = credential.split("/");
  if (parts.length !== 5) {
    throw incomplete(`Credential must have the form <access key>/<date>/<region>/<service>/${TERMINATOR}, got '${credential}'`);
  }
  const [accessKeyId, scopeDate, region, service, terminator] = parts as [string, string, string, string, string];
  if (!accessKeyId) throw incomplete(`Credential has an empty access key ID: '${credential}'`);
  if (!SCOPE_DATE.test(scopeDate)) throw incomplete(`Credential should be scoped to a date in the format yyyyMMdd, not '${scopeDate}'.`);
  if (!region) throw incomplete(`Credential should be scoped to a valid region, not '${region}'.`);
  if (!service) throw incomplete(`Credential should be scoped to a valid service, not '${service}'.`);
  if (terminator !== TERMINATOR) {
    throw incomplete(`Credential should be scoped with a valid terminator: '${TERMINATOR}', not '${terminator}'.`);
  }
  return { accessKeyId, scopeDate, region, service };
}

function parseSignedHeaders(list: string): string[] {
  const names = list.split(";");
  for (const name of names) {
    if (!HEADER_NAME.test(name)) throw incomplete(`SignedHeaders must be lower-case header names separated by ';', got '${list}'`);
  }
  if (!names.includes("host")) throw incomplete(`The 'host' header must be in SignedHeaders, got '${list}'`);
  return [...new Set(names)].sort();
}

function parseAmzDate(value: string, name: string): { amzDate: string; time: number } {
  const m = AMZ_DATE.exec(value);
  const time = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
  // Date.UTC rolls over out-of-range fields (month 13, second 60); refuse those.
  if (!m || formatAmzDate(time) !== value) {
    throw incomplete(`${name} must be in ISO 8601 basic format yyyyMMdd'T'HHmmss'Z', got '${value}'`);
  }
  return { amzDate: value, time };
}

function parseHttpDate(value: string): number {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw incomplete(`The Date header must be an HTTP date such as 'Tue, 15 Nov 1994 08:12:31 GMT', got '${value}'`);
  return Math.floor(time / 1000) * 1000;
}

function checkTime(parts: SignatureParts, now: Date, maxSkewMs: number): void {
  const t = now.getTime();
  if (!Number.isFinite(t) || !(maxSkewMs >= 0)) throw new RangeError("verifySigV4: options.now must be a valid Date and maxSkewMs >= 0");
  const skew = describeSkew(maxSkewMs);
  if (parts.time > t + maxSkewMs) {
    throw authFailure(
      `Signature not yet current: ${parts.amzDate} is still later than ${formatAmzDate(t + maxSkewMs)} (${formatAmzDate(t)} + ${skew}).`,
    );
  }
  if (parts.expiresS !== undefined) {
    const end = parts.time + parts.expiresS * 1000;
    if (t > end) {
      throw authFailure(
        `Request has expired: X-Amz-Date ${parts.amzDate} + X-Amz-Expires ${parts.expiresS} s ended at ${formatAmzDate(end)}, before the server's time ${formatAmzDate(t)}.`,
      );
    }
  } else if (parts.time < t - maxSkewMs) {
    throw authFailure(
      `Signature expired: ${parts.amzDate} is now earlier than ${formatAmzDate(t - maxSkewMs)} (${formatAmzDate(t)} - ${skew}).`,
    );
  }
}

function canonicalRequest(req: IncomingSignedRequest, params: [string, string][], parts: SignatureParts): string {
  const query = params
    .filter(([name]) => !(parts.form === "query" && name === "X-Amz-Signature"))
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([an, av], [bn, bv]) => compare(an, bn) || compare(av, bv))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const headers = parts.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req.headers[name])}\n`).join("");
  return [
    req.method.toUpperCase(),
    canonicalUri(req.path),
    query,
    headers,
    parts.signedHeaders.join(";"),
    payloadHash(req),
  ].join("\n");
}

/**
 * The path as received is URI-encoded once already; normalised (empty, `.`
 * and `..` segments resolved) and each segment encoded once more, the way
 * every service but S3 canonicalises it.
 */
function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(uriEncode(segment));
  }
  if (segments.length === 0) return "/";
  return `/${segments.join("/")}${path.endsWith("/") ? "/" : ""}`;
}

function canonicalHeaderValue(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value.join(",") : (value ?? "");
  return text.trim().replace(/\s+/g, " ");
}

function payloadHash(req: IncomingSignedRequest): string {
  const declared = header(req.headers, "x-amz-content-sha256");
  if (declared === undefined) return sha256Hex(req.body);
  if (declared === UNSIGNED_PAYLOAD) return declared;
  if (!HEX_SHA256.test(declared)) {
    throw incomplete(`x-amz-content-sha256 must be the hex SHA-256 of the body or ${UNSIGNED_PAYLOAD}, got '${declared}'`);
  }
  if (declared.toLowerCase() !== sha256Hex(req.body)) {
    throw authFailure("The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  return declared;
}

/** RFC 3986: everything but A-Z a-z 0-9 - . _ ~ as %XX with upper-case hex, over UTF-8. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Byte order of the (ASCII) encoded strings, not locale order. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function header(headers: IncomingSignedRequest["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

function scope(parts: SignatureParts): string {
  return `${parts.scopeDate}/${parts.region}/${parts.service}/${TERMINATOR}`;
}

function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

function describeSkew(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min.` : `${ms / 1000} s`;
}

function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

function authFailure(message: string): Ec2Error {
  return new Ec2Error("AuthFailure", message, OP);
}

function incomplete(message: string): Ec2Error {
  return new Ec2Error("IncompleteSignature", message, OP);
}
