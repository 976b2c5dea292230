/** Reading a request: its URL and its body, within bounds. */
import type http from "node:http";
import { Ec2Error } from "../errors.js";

/**
 * The largest request body the endpoint reads, in bytes. A Query API body is
 * form-encoded parameters: UserData's 16 KiB (about 22 KiB in base64, URL
 * encoded) and lists of 1000 ids fit well below it, and so does an EBS direct
 * PutSnapshotBlock (one raw 512 KiB block). A route that needs more passes its
 * own limit to {@link readBody}.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * How much of an oversized body is read and dropped before answering, so the
 * client finishes sending and reads the 413 instead of a reset connection
 * (boto3 retries a reset; it does not retry a 413). A 20 MB UserData, about
 * 28 MB on the wire, is drained; past this cap the answer goes out at once and
 * the connection is closed.
 */
export const MAX_DRAINED_BYTES = 64 * 1024 * 1024;

/** How long the rest of a refused, unread body is still dropped after the answer, before the connection is cut. */
export const UNREAD_LINGER_MS = 1000;

/**
 * The whole body of `req`, or RequestEntityTooLarge once it passes `limit`
 * bytes. Memory stays within `limit`: the rest of an oversized body is read
 * and dropped up to {@link MAX_DRAINED_BYTES}; a body declared or sent beyond
 * that is refused at once and left unread (the answer then closes the
 * connection).
 */
export function readBody(req: http.IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const tooLarge = () => new Ec2Error("RequestEntityTooLarge", `The request body is larger than the ${limit} bytes this endpoint accepts`, "api.readBody");
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_DRAINED_BYTES) {
      req.pause();
      reject(tooLarge());
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) parts.push(chunk);
      else if (parts.length > 0) parts.length = 0; // over: keep reading, store nothing
      if (size > MAX_DRAINED_BYTES) {
        req.off("data", onData);
        req.pause();
        reject(tooLarge());
      }
    };
    req.on("data", onData);
    req.on("end", () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(parts, size))));
    req.on("error", reject);
  });
}

/** The request's URL; one that does not parse (`//[`) is the client's error, not a crash. */
export function requestUrl(req: http.IncomingMessage): URL {
  try {
    return new URL(req.url ?? "/", "http://localhost");
  } catch {
    throw new Ec2Error("InvalidRequest", `The request URL '${(req.url ?? "").slice(0, 64)}' cannot be parsed`, "api.request");
  }
}

/**
 * Sends the answer's body. A request body refused unread (too large) would be
 * read as the next request, so the connection then closes: the answer is
 * followed by a FIN, and what still comes is read and dropped for a moment,
 * so the client reads the answer before the connection resets (a reset with
 * unread data can discard it on the client's side). Not with `connection:
 * close`, which makes node destroy the socket at once, unread data and all.
 */
export function endAnswer(res: http.ServerResponse, body: string | Uint8Array): void {
  const unread = !res.req.complete;
  res.end(body, () => {
    if (!unread) return;
    res.req.resume();
    res.req.socket.end();
    setTimeout(() => res.req.socket.destroy(), UNREAD_LINGER_MS).unref();
  });
}
