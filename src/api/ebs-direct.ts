import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { Cloud } from "../cloud/cloud.js";
import { checkRegion } from "../cloud/regions.js";
import type { BlockPage, PageRequest, StartedSnapshot } from "../cloud/snapshot-uploads.js";
import type { Tag } from "../cloud/tags.js";
import { codeInfo } from "../error-codes.js";
import { Ec2Error } from "../errors.js";
import { endAnswer, readBody, requestUrl } from "./body.js";
import { verifySigV4 } from "./sigv4.js";

/**
 * EC2's EBS direct APIs (REST-JSON under `/snapshots`, SigV4 with the
 * service name `ebs`): StartSnapshot, PutSnapshotBlock, CompleteSnapshot,
 * ListSnapshotBlocks, ListChangedBlocks, GetSnapshotBlock, with AWS's paths,
 * headers, JSON bodies and error shapes (`x-amzn-ErrorType` and
 * `{"Message", "Reason"}`). Parsing and serialising only: the rules are in
 * cloud/snapshot-uploads.ts.
 */
export function isEbsDirectPath(url: string | undefined): boolean {
  return /^\/snapshots(\/|\?|$)/.test(url ?? "");
}

interface Call {
  accountId: string;
  region: string;
  req: http.IncomingMessage;
  url: URL;
  body: Buffer;
}

interface Reply {
  status: number;
  json?: unknown;
  data?: Uint8Array;
  headers?: Record<string, string>;
}

const SNAPSHOT_ID = "([^/]+)";
const ROUTES: { method: string; path: RegExp; op: string; run: (cloud: Cloud, c: Call, m: string[]) => Reply }[] = [
  { method: "POST", path: /^\/snapshots$/, op: "StartSnapshot", run: startSnapshot },
  { method: "PUT", path: new RegExp(`^/snapshots/${SNAPSHOT_ID}/blocks/([^/]+)$`), op: "PutSnapshotBlock", run: putSnapshotBlock },
  { method: "POST", path: new RegExp(`^/snapshots/completion/${SNAPSHOT_ID}$`), op: "CompleteSnapshot", run: completeSnapshot },
  { method: "GET", path: new RegExp(`^/snapshots/${SNAPSHOT_ID}/blocks$`), op: "ListSnapshotBlocks", run: listSnapshotBlocks },
  { method: "GET", path: new RegExp(`^/snapshots/${SNAPSHOT_ID}/changedblocks$`), op: "ListChangedBlocks", run: listChangedBlocks },
  { method: "GET", path: new RegExp(`^/snapshots/${SNAPSHOT_ID}/blocks/([^/]+)$`), op: "GetSnapshotBlock", run: getSnapshotBlock },
];

export async function handleEbsDirect(cloud: Cloud, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const requestId = randomUUID();
  let op = "api.ebsDirect";
  try {
    const url = requestUrl(req);
    const route = ROUTES.find((r) => r.method === req.method && r.path.test(url.pathname));
    if (!route) throw new Ec2Error("InvalidAction", `No EBS direct operation is ${req.method} ${url.pathname}`, op);
    op = route.op;
    const body = await readBody(req);
    const caller = authenticate(cloud, req, url, body, route.op === "PutSnapshotBlock");
    const match = route.path.exec(url.pathname)!.slice(1).map(decodeURIComponent);
    send(res, route.run(cloud, { ...caller, req, url, body }, match), requestId);
  } catch (err) {
    const e = err instanceof Ec2Error ? err : new Ec2Error("InternalError", "An internal error has occurred", op);
    if (!(err instanceof Ec2Error)) console.error(`amiboot serve: ${op}: ${(err as Error).stack ?? String(err)}`);
    const [type, status, reason] = exceptionFor(e.code);
    send(res, { status, json: { Message: e.message.slice(0, 256), ...(reason ? { Reason: reason } : {}) }, headers: { "x-amzn-ErrorType": type } }, requestId);
  }
}

/**
 * SigV4 scoped to `ebs`. A block's body may be sent unsigned (the SDKs do
 * over HTTPS) because its `x-amz-Checksum` is signed and checked instead;
 * every other body carries parameters and must be signed.
 */
function authenticate(cloud: Cloud, req: http.IncomingMessage, url: URL, body: Buffer, isBlock: boolean): { accountId: string; region: string } {
  const unsigned = req.headers["x-amz-content-sha256"] === "UNSIGNED-PAYLOAD";
  if (unsigned && !(isBlock && signedHeaders(req, url).includes("x-amz-checksum"))) {
    throw new Ec2Error("IncompleteSignature", "The request body must be signed, or be a block whose x-amz-Checksum header is signed", "api.authenticate");
  }
  const caller = verifySigV4({ method: req.method ?? "GET", path: url.pathname, query: url.search.slice(1), headers: req.headers, body }, (key) => cloud.accounts.secretOf(key));
  if (caller.service !== "ebs") throw new Ec2Error("AuthFailure", `Credential should be scoped to correct service: 'ebs', not '${caller.service}'.`, "api.authenticate");
  return { accountId: cloud.accounts.accountOf(caller.accessKeyId)!, region: checkRegion(caller.region) };
}

function signedHeaders(req: http.IncomingMessage, url: URL): string[] {
  const list = url.searchParams.get("X-Amz-SignedHeaders") ?? /SignedHeaders=([^,\s]+)/.exec(req.headers.authorization ?? "")?.[1] ?? "";
  return list.split(";");
}

function startSnapshot(cloud: Cloud, c: Call): Reply {
  const op = "StartSnapshot";
  const b = jsonBody(c.body, op);
  if (b.VolumeSize === undefined) throw new Ec2Error("MissingParameter", "The request must contain the parameter VolumeSize", op);
  if (b.Encrypted === true || b.KmsKeyArn !== undefined) throw new Ec2Error("InvalidParameterValue", "amiboot does not encrypt snapshots: give neither Encrypted=true nor KmsKeyArn", op);
  if (b.Tags !== undefined && !Array.isArray(b.Tags)) throw new Ec2Error("InvalidParameterValue", "Tags must be a list of {Key, Value}", op);
  const tags: Tag[] = ((b.Tags ?? []) as unknown[]).map((t) => {
    const { Key, Value } = (t ?? {}) as { Key?: unknown; Value?: unknown };
    if (typeof Key !== "string" || (Value !== undefined && typeof Value !== "string")) throw new Ec2Error("InvalidParameterValue", "Each tag must be {Key: string, Value: string}", op);
    return { key: Key, value: (Value as string | undefined) ?? "" };
  });
  const started = cloud.uploads.start(c.accountId, c.region, {
    volumeSize: num(b.VolumeSize, "VolumeSize", op),
    tags,
    ...optional("parentSnapshotId", str(b.ParentSnapshotId, "ParentSnapshotId", op)),
    ...optional("description", str(b.Description, "Description", op)),
    ...optional("clientToken", str(b.ClientToken, "ClientToken", op)),
    ...optional("timeout", b.Timeout === undefined ? undefined : num(b.Timeout, "Timeout", op)),
  });
  return { status: 201, json: startedJson(started) };
}

function putSnapshotBlock(cloud: Cloud, c: Call, [id, index]: string[]): Reply {
  const op = "PutSnapshotBlock";
  const h = (name: string) => header(c.req, name);
  const progress = h("x-amz-progress");
  const { checksum } = cloud.uploads.put(c.accountId, c.region, id!, blockIndex(index!, op), c.body, {
    dataLength: int(required(h("x-amz-data-length"), "DataLength", op), "DataLength", op),
    checksum: required(h("x-amz-checksum"), "Checksum", op),
    algorithm: required(h("x-amz-checksum-algorithm"), "ChecksumAlgorithm", op),
    ...optional("progress", progress === undefined ? undefined : int(progress, "Progress", op)),
  });
  return { status: 201, json: {}, headers: { "x-amz-Checksum": checksum, "x-amz-Checksum-Algorithm": "SHA256" } };
}

function completeSnapshot(cloud: Cloud, c: Call, [id]: string[]): Reply {
  const op = "CompleteSnapshot";
  const h = (name: string) => header(c.req, name);
  const status = cloud.uploads.complete(c.accountId, c.region, id!, {
    changedBlocksCount: int(required(h("x-amz-changedblockscount"), "ChangedBlocksCount", op), "ChangedBlocksCount", op),
    ...optional("checksum", h("x-amz-checksum")),
    ...optional("algorithm", h("x-amz-checksum-algorithm")),
    ...optional("aggregationMethod", h("x-amz-checksum-aggregation-method")),
  });
  return { status: 202, json: { Status: status } };
}

function listSnapshotBlocks(cloud: Cloud, c: Call, [id]: string[]): Reply {
  const page = cloud.uploads.listBlocks(c.accountId, c.region, id!, pageRequest(c.url, "ListSnapshotBlocks"));
  return { status: 200, json: { Blocks: page.items.map((b) => ({ BlockIndex: b.index, BlockToken: b.token })), ...pageJson(page) } };
}

function listChangedBlocks(cloud: Cloud, c: Call, [id]: string[]): Reply {
  const op = "ListChangedBlocks";
  const first = c.url.searchParams.get("firstSnapshotId") ?? undefined;
  const page = cloud.uploads.changedBlocks(c.accountId, c.region, id!, first, pageRequest(c.url, op));
  const changed = page.items.map((b) => ({ BlockIndex: b.index, ...optional("FirstBlockToken", b.firstToken), ...optional("SecondBlockToken", b.secondToken) }));
  return { status: 200, json: { ChangedBlocks: changed, ...pageJson(page) } };
}

function getSnapshotBlock(cloud: Cloud, c: Call, [id, index]: string[]): Reply {
  const op = "GetSnapshotBlock";
  const token = required(c.url.searchParams.get("blockToken") ?? undefined, "BlockToken", op);
  const block = cloud.uploads.getBlock(c.accountId, c.region, id!, blockIndex(index!, op), token);
  return {
    status: 200,
    data: block.data,
    headers: { "x-amz-Data-Length": String(block.data.length), "x-amz-Checksum": block.checksum, "x-amz-Checksum-Algorithm": "SHA256" },
  };
}

function startedJson(s: StartedSnapshot): Record<string, unknown> {
  return {
    SnapshotId: s.snapshotId,
    OwnerId: s.ownerId,
    Status: s.status,
    StartTime: s.startTime.getTime() / 1000,
    VolumeSize: s.volumeSize,
    BlockSize: s.blockSize,
    Tags: s.tags.map((t) => ({ Key: t.key, Value: t.value })),
    ...optional("ParentSnapshotId", s.parentSnapshotId),
    ...optional("Description", s.description),
    SseType: "none",
  };
}

function pageJson(page: BlockPage<unknown>): Record<string, unknown> {
  return { VolumeSize: page.volumeSize, BlockSize: page.blockSize, ...optional("NextToken", page.nextToken) };
}

function pageRequest(url: URL, op: string): PageRequest {
  const q = (name: string) => url.searchParams.get(name) ?? undefined;
  const max = q("maxResults");
  const start = q("startingBlockIndex");
  return {
    ...optional("maxResults", max === undefined ? undefined : int(max, "MaxResults", op)),
    ...optional("startingBlockIndex", start === undefined ? undefined : int(start, "StartingBlockIndex", op)),
    ...optional("nextToken", q("pageToken")),
  };
}

/** EBS's exception for each code amiboot raises: [x-amzn-ErrorType, HTTP status, Reason]. */
const EXCEPTIONS: Record<string, [string, number, string?]> = {
  "InvalidSnapshotID.Malformed": ["ValidationException", 400, "INVALID_SNAPSHOT_ID"],
  "InvalidSnapshot.NotFound": ["ResourceNotFoundException", 404, "SNAPSHOT_NOT_FOUND"],
  UnauthorizedOperation: ["AccessDeniedException", 403, "UNAUTHORIZED_ACCOUNT"],
  InvalidBlock: ["ValidationException", 400, "INVALID_BLOCK"],
  InvalidBlockToken: ["ValidationException", 400, "INVALID_BLOCK_TOKEN"],
  InvalidNextToken: ["ValidationException", 400, "INVALID_PAGE_TOKEN"],
  TagLimitExceeded: ["ValidationException", 400, "INVALID_TAG"],
  IncorrectState: ["ValidationException", 400],
  IdempotentParameterMismatch: ["ConflictException", 409],
  InvalidAction: ["UnknownOperationException", 404],
  AuthFailure: ["InvalidSignatureException", 403],
  IncompleteSignature: ["IncompleteSignatureException", 400],
  RequestEntityTooLarge: ["ValidationException", 413, "INVALID_PARAMETER_VALUE"],
};

function exceptionFor(code: string): [string, number, string?] {
  const known = EXCEPTIONS[code];
  if (known) return known;
  return codeInfo(code).status >= 500 ? ["InternalServerException", 500] : ["ValidationException", 400, "INVALID_PARAMETER_VALUE"];
}

function send(res: http.ServerResponse, r: Reply, requestId: string): void {
  const body = r.data ?? Buffer.from(JSON.stringify(r.json ?? {}));
  res.writeHead(r.status, { "content-type": r.data ? "application/octet-stream" : "application/json", "content-length": body.length, "x-amzn-RequestId": requestId, ...r.headers });
  endAnswer(res, body);
}

function jsonBody(body: Buffer, op: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8") || "{}");
  } catch {
    throw new Ec2Error("InvalidParameterValue", "The request body is not JSON", op);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Ec2Error("InvalidParameterValue", "The request body must be a JSON object", op);
  return value as Record<string, unknown>;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

function required(value: string | undefined, name: string, op: string): string {
  if (value === undefined || value === "") throw new Ec2Error("MissingParameter", `The request must contain the parameter ${name}`, op);
  return value;
}

function blockIndex(text: string, op: string): number {
  if (!/^\d{1,10}$/.test(text)) throw new Ec2Error("InvalidBlock", `'${text.slice(0, 20)}' is not a block index`, op);
  return Number(text);
}

function int(text: string, name: string, op: string): number {
  if (!/^-?\d{1,12}$/.test(text)) throw new Ec2Error("InvalidParameterValue", `${name} must be a whole number, got '${text.slice(0, 20)}'`, op);
  return Number(text);
}

function num(value: unknown, name: string, op: string): number {
  if (typeof value !== "number") throw new Ec2Error("InvalidParameterValue", `${name} must be a number`, op);
  return value;
}

function str(value: unknown, name: string, op: string): string | undefined {
  if (value !== undefined && typeof value !== "string") throw new Ec2Error("InvalidParameterValue", `${name} must be a string`, op);
  return value;
}

/** `{ [key]: value }`, or nothing when the value is undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]: V });
}
