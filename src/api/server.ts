import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Cloud } from "../cloud/cloud.js";
import { checkRegion } from "../cloud/regions.js";
import { Ec2Error } from "../errors.js";
import { ServerLock } from "../store/server-lock.js";
import { dispatch } from "./actions.js";
import { handleEbsDirect, isEbsDirectPath } from "./ebs-direct.js";
import { endAnswer, readBody, requestUrl } from "./body.js";
import { verifySigV4 } from "./sigv4.js";
import { errorXml, httpStatusFor, responseXml, stsErrorXml, stsResponseXml } from "./xml.js";

/**
 * The EC2 Query API over HTTP: form-encoded POST or GET, SigV4 on every
 * request, XML answers in EC2's namespace. It parses and authenticates,
 * then hands the call to the control plane; EC2's rules live there. EBS
 * direct's REST-JSON requests (under /snapshots) go to ebs-direct.ts.
 */
export class Ec2Server {
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly lock: ServerLock,
  ) {}

  static async start(cloud: Cloud, options: { port?: number; host?: string } = {}): Promise<Ec2Server> {
    const server = http.createServer((req, res) => void handle(cloud, req, res));
    const host = options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 8773, host, resolve);
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    // From here on this server is the only writer of the data directory.
    let lock: ServerLock;
    try {
      lock = ServerLock.acquire(cloud.home, url);
    } catch (err) {
      await new Promise((resolve) => server.close(resolve));
      throw err;
    }
    // Instances and bundles a stopped server left unfinished.
    cloud.resume();
    return new Ec2Server(server, url, lock);
  }

  close(): Promise<void> {
    return new Promise((resolve) =>
      this.server.close(() => {
        this.lock.release();
        resolve();
      }),
    );
  }
}

async function handle(cloud: Cloud, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // EBS direct (REST-JSON under /snapshots) shares the port, the accounts and the keys.
  if (isEbsDirectPath(req.url)) return handleEbsDirect(cloud, req, res);
  const requestId = randomUUID();
  let action = "Unknown";
  try {
    const body = await readBody(req);
    const url = requestUrl(req);
    // A POST's parameters are its body: an unsigned body would be unsigned parameters.
    if (req.method === "POST" && req.headers["x-amz-content-sha256"] === "UNSIGNED-PAYLOAD") {
      throw new Ec2Error("IncompleteSignature", "The request body must be signed (x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted)", "api.authenticate");
    }
    const caller = verifySigV4(
      { method: req.method ?? "GET", path: url.pathname, query: url.search.slice(1), headers: req.headers, body },
      (key) => cloud.accounts.secretOf(key),
    );
    const accountId = cloud.accounts.accountOf(caller.accessKeyId)!;
    const params = req.method === "POST" ? new URLSearchParams(body.toString("utf8")) : url.searchParams;
    action = params.get("Action") ?? "";
    // STS shares the port and the keys: tools check their credentials with GetCallerIdentity first.
    if (caller.service === "sts") return sendSts(res, action, accountId, requestId);
    const region = checkRegion(caller.region);
    if (!action) throw new Ec2Error("MissingAction", "The request must contain the parameter Action", "api.request");
    const result = await dispatch(cloud, action, { accountId, region, params });
    send(res, 200, responseXml(action, requestId, result), requestId);
  } catch (err) {
    const e = err instanceof Ec2Error ? err : new Ec2Error("InternalError", "An internal error has occurred", action);
    if (!(err instanceof Ec2Error)) console.error(`amiboot serve: ${action}: ${(err as Error).stack ?? String(err)}`);
    send(res, httpStatusFor(e.code), errorXml(e.code, e.message, requestId), requestId);
  }
}

/** STS answers GetCallerIdentity for the signing account (accounts are their own root: no IAM users here). */
function sendSts(res: http.ServerResponse, action: string, accountId: string, requestId: string): void {
  if (action !== "GetCallerIdentity") {
    const code = action ? "InvalidAction" : "MissingAction";
    const message = action ? `Could not find operation ${action} for version 2011-06-15` : "The request must contain the parameter Action";
    send(res, httpStatusFor(code), stsErrorXml(code, message, requestId), requestId);
    return;
  }
  send(res, 200, stsResponseXml(action, requestId, { Arn: `arn:aws:iam::${accountId}:root`, UserId: accountId, Account: accountId }), requestId);
}

function send(res: http.ServerResponse, status: number, xml: string, requestId: string): void {
  res.writeHead(status, { "content-type": "text/xml;charset=UTF-8", "content-length": Buffer.byteLength(xml), "x-amzn-requestid": requestId });
  endAnswer(res, xml);
}
