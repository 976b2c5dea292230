import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { verifySigV4, type IncomingSignedRequest } from "../../src/api/sigv4.js";
import { Sha256 } from "../../src/cli/endpoint.js";

/** The SDK signer's SHA-256 / HMAC-SHA256 (the shape of @smithy/types' Hash), over node:crypto. */

const AKID = "AKIDAMIBOOTTEST00001";
const SECRET = "amiboot/test+secret/0123456789abcdefghijklmnop";
const SIGNED_AT = new Date("2024-05-01T12:00:00Z");
const HOST = "127.0.0.1:8773";
const FORM = "application/x-www-form-urlencoded; charset=utf-8";
const BODY = "Action=DescribeImages&Version=2016-11-15";

const secrets = (key: string) => (key === AKID ? SECRET : undefined);

function signer(options: { secret?: string; applyChecksum?: boolean; region?: string } = {}): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: AKID, secretAccessKey: options.secret ?? SECRET },
    region: options.region ?? "us-east-1",
    service: "ec2",
    sha256: Sha256,
    applyChecksum: options.applyChecksum ?? false,
  });
}

interface Unsigned {
  method: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

function sdkRequest(r: Unsigned) {
  return {
    method: r.method,
    protocol: "http:",
    hostname: "127.0.0.1",
    port: 8773,
    path: r.path ?? "/",
    query: r.query ?? {},
    headers: { host: HOST, ...(r.headers ?? {}) },
    ...(r.body !== undefined ? { body: r.body } : {}),
  };
}

/** What the server sees: the query serialised the way an HTTP client sends it, header names in lower case. */
function incoming(signed: {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}): IncomingSignedRequest {
  const query = Object.entries(signed.query ?? {})
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => (v === null ? enc(name) : `${enc(name)}=${enc(v)}`)))
    .join("&");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  return {
    method: signed.method,
    path: signed.path,
    query,
    headers,
    body: Buffer.from(typeof signed.body === "string" ? signed.body : ""),
  };
}

const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const postForm = (): Unsigned => ({ method: "POST", headers: { "content-type": FORM }, body: BODY });

async function signed(r: Unsigned, options: Parameters<typeof signer>[0] = {}): Promise<IncomingSignedRequest> {
  return incoming(await signer(options).sign(sdkRequest(r), { signingDate: SIGNED_AT }));
}

async function presigned(r: Unsigned, expiresIn = 300): Promise<IncomingSignedRequest> {
  return incoming(await signer().presign(sdkRequest(r), { signingDate: SIGNED_AT, expiresIn }));
}

const verify = (req: IncomingSignedRequest, now = SIGNED_AT) => verifySigV4(req, secrets, { now });

// Signed once at load time: the table-driven cases below need them while the tests are collected.
const SIGNED_POST = await signed(postForm());
const PRESIGNED_GET = await presigned({ method: "GET", query: { Action: "DescribeImages", Version: "2016-11-15" } });

const CALLER = { accessKeyId: AKID, region: "us-east-1", service: "ec2" };
const EC2_AUTH_FAILURE = "AWS was not able to validate the provided access credentials";

function fails(req: IncomingSignedRequest, code: string, message: string, now = SIGNED_AT): void {
  expect(() => verify(req, now)).toThrow(expect.objectContaining({ name: "Ec2Error", code, message }));
}

describe("verifySigV4 accepts requests signed by the AWS SDK's signer", () => {
  it("a form-encoded POST (Authorization header, body hashed)", async () => {
    const req = await signed(postForm());
    expect(req.headers["authorization"]).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDAMIBOOTTEST00001\/20240501\/us-east-1\/ec2\/aws4_request, /);
    expect(req.headers["x-amz-content-sha256"]).toBeUndefined();
    expect(verify(req)).toEqual(CALLER);
  });

  it("reports the region of the credential scope", async () => {
    expect(verify(await signed(postForm(), { region: "eu-west-1" }))).toEqual({ ...CALLER, region: "eu-west-1" });
  });

  it("a POST with an x-amz-content-sha256 header", async () => {
    const req = await signed(postForm(), { applyChecksum: true });
    expect(req.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update(BODY).digest("hex"));
    expect(verify(req)).toEqual(CALLER);
  });

  it("a POST whose x-amz-content-sha256 is UNSIGNED-PAYLOAD (the body is then not covered)", async () => {
    const req = await signed({ ...postForm(), headers: { "content-type": FORM, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } });
    expect(verify(req)).toEqual(CALLER);
    expect(verify({ ...req, body: Buffer.from("Action=DescribeInstances&Version=2016-11-15") })).toEqual(CALLER);
  });

  it("a GET with its parameters in the query string, including characters that need encoding", async () => {
    const query = { Action: "DescribeImages", Version: "2016-11-15", "Filter.1.Name": "name", "Filter.1.Value.1": "my image (v1)* ~!'é/+=&" };
    const req = await signed({ method: "GET", query });
    expect(req.query).toContain("Filter.1.Value.1=my%20image%20%28v1%29%2A%20~%21%27%C3%A9%2F%2B%3D%26");
    expect(verify(req)).toEqual(CALLER);
  });

  it("a GET whose query has repeated names and a name without a value", async () => {
    const req = await signed({ method: "GET", query: { Action: "DescribeImages", Version: "2016-11-15" } });
    // The SDK signs a query bag; build the repeated-name request by hand from one the SDK signed.
    const multi = await signer().sign(
      { ...sdkRequest({ method: "GET" }), query: { Action: "DescribeImages", Owner: ["self", "amazon"], Flag: "" } },
      { signingDate: SIGNED_AT },
    );
    expect(verify(req)).toEqual(CALLER);
    const sent = incoming(multi);
    expect(sent.query).toContain("Owner=self&Owner=amazon");
    expect(verify(sent)).toEqual(CALLER);
    // AWS's canonical form gives a name without "=" an empty value, as it does "Flag=".
    expect(sent.query).toMatch(/(^|&)Flag=$/);
    expect(verify({ ...sent, query: sent.query.replace(/Flag=$/, "Flag") })).toEqual(CALLER);
  });

  it("a path other than / (each segment encoded once more)", async () => {
    const req = await signed({ method: "GET", path: "/some/where%20else", query: { Action: "DescribeRegions" } });
    expect(req.path).toBe("/some/where%20else");
    expect(verify(req)).toEqual(CALLER);
  });

  it("the presigned query-string form (signer.presign)", async () => {
    const req = await presigned({ method: "GET", query: { Action: "DescribeImages", Version: "2016-11-15" } });
    expect(req.headers["authorization"]).toBeUndefined();
    expect(req.query).toContain("X-Amz-Algorithm=AWS4-HMAC-SHA256");
    expect(req.query).toContain("X-Amz-Expires=300");
    expect(req.query).toContain("X-Amz-Signature=");
    expect(verify(req)).toEqual(CALLER);
    expect(verify(req, new Date(SIGNED_AT.getTime() + 299_000))).toEqual(CALLER);
  });

  it("the query parameters in any order", async () => {
    const req = await presigned({ method: "GET", query: { Version: "2016-11-15", Action: "DescribeImages" } });
    const reordered = req.query.split("&").reverse().join("&");
    expect(verify({ ...req, query: reordered })).toEqual(CALLER);
  });

  it("a request within the allowed clock skew either way", async () => {
    const req = await signed(postForm());
    expect(verify(req, new Date(SIGNED_AT.getTime() + 15 * 60_000))).toEqual(CALLER);
    expect(verify(req, new Date(SIGNED_AT.getTime() - 15 * 60_000))).toEqual(CALLER);
    expect(verifySigV4(req, secrets, { now: new Date(SIGNED_AT.getTime() + 60 * 60_000), maxSkewMs: 61 * 60_000 })).toEqual(CALLER);
  });

  it("AWS's own published example (IAM ListUsers, GET with X-Amz-Date)", () => {
    const req: IncomingSignedRequest = {
      method: "GET",
      path: "/",
      query: "Action=ListUsers&Version=2010-05-08",
      headers: {
        host: "iam.amazonaws.com",
        "content-type": FORM,
        "x-amz-date": "20150830T123600Z",
        authorization:
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
      },
      body: Buffer.alloc(0),
    };
    const lookup = (key: string) => (key === "AKIDEXAMPLE" ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" : undefined);
    expect(verifySigV4(req, lookup, { now: new Date("2015-08-30T12:40:00Z") })).toEqual({
      accessKeyId: "AKIDEXAMPLE",
      region: "us-east-1",
      service: "iam",
    });
  });

  it("the Date header instead of X-Amz-Date", async () => {
    // The SDK always adds X-Amz-Date, so write the canonical request out by hand and let the SDK sign its string.
    const date = "Wed, 01 May 2024 12:00:00 GMT";
    const canonical = [
      "POST",
      "/",
      "",
      `content-type:${FORM}\ndate:${date}\nhost:${HOST}\n`,
      "content-type;date;host",
      createHash("sha256").update(BODY).digest("hex"),
    ].join("\n");
    const stringToSign = [
      "AWS4-HMAC-SHA256",
      "20240501T120000Z",
      "20240501/us-east-1/ec2/aws4_request",
      createHash("sha256").update(canonical).digest("hex"),
    ].join("\n");
    const signature = await signer().sign(stringToSign, { signingDate: SIGNED_AT });
    const req: IncomingSignedRequest = {
      method: "POST",
      path: "/",
      query: "",
      headers: {
        host: HOST,
        "content-type": FORM,
        date,
        authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20240501/us-east-1/ec2/aws4_request, SignedHeaders=content-type;date;host, Signature=${signature}`,
      },
      body: Buffer.from(BODY),
    };
    expect(verify(req)).toEqual(CALLER);
    fails({ ...req, headers: { ...req.headers, date: "Wed, 01 May 2024 12:00:01 GMT" } }, "AuthFailure", EC2_AUTH_FAILURE);
  });
});

describe("verifySigV4 refuses", () => {
  it("an unknown access key", async () => {
    const req = await signed(postForm());
    expect(() => verifySigV4(req, () => undefined, { now: SIGNED_AT })).toThrow(
      expect.objectContaining({ code: "AuthFailure", message: EC2_AUTH_FAILURE }),
    );
  });

  it("a signature made with the wrong secret", async () => {
    fails(await signed(postForm(), { secret: "not-the-secret" }), "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a tampered body", async () => {
    const req = await signed(postForm());
    fails({ ...req, body: Buffer.from("Action=DescribeInstances&Version=2016-11-15") }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a tampered body that no longer matches its x-amz-content-sha256", async () => {
    const req = await signed(postForm(), { applyChecksum: true });
    fails(
      { ...req, body: Buffer.from("Action=DescribeInstances&Version=2016-11-15") },
      "AuthFailure",
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  });

  it("a tampered x-amz-content-sha256 that matches a tampered body", async () => {
    const req = await signed(postForm(), { applyChecksum: true });
    const body = "Action=DescribeInstances&Version=2016-11-15";
    const hash = createHash("sha256").update(body).digest("hex");
    fails({ ...req, body: Buffer.from(body), headers: { ...req.headers, "x-amz-content-sha256": hash } }, "AuthFailure", EC2_AUTH_FAILURE);
    fails({ ...req, headers: { ...req.headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a malformed x-amz-content-sha256", async () => {
    const req = await signed(postForm(), { applyChecksum: true });
    fails(
      { ...req, headers: { ...req.headers, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" } },
      "IncompleteSignature",
      "x-amz-content-sha256 must be the hex SHA-256 of the body or UNSIGNED-PAYLOAD, got 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'",
    );
  });

  it("a tampered signed header", async () => {
    const req = await signed(postForm());
    fails({ ...req, headers: { ...req.headers, "content-type": "text/plain" } }, "AuthFailure", EC2_AUTH_FAILURE);
    fails({ ...req, headers: { ...req.headers, host: "127.0.0.1:9999" } }, "AuthFailure", EC2_AUTH_FAILURE);
    const { "content-type": _, ...withoutContentType } = req.headers;
    fails({ ...req, headers: withoutContentType }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("but not an unsigned header, nor whitespace a canonical header drops", async () => {
    const req = await signed(postForm());
    expect(verify({ ...req, headers: { ...req.headers, "user-agent": "curl/8" } })).toEqual(CALLER);
    expect(verify({ ...req, headers: { ...req.headers, "content-type": "  application/x-www-form-urlencoded;   charset=utf-8 " } })).toEqual(
      CALLER,
    );
  });

  it("a tampered query string (header form)", async () => {
    const req = await signed({ method: "GET", query: { Action: "DescribeImages", Version: "2016-11-15" } });
    fails({ ...req, query: req.query.replace("DescribeImages", "DescribeInstances") }, "AuthFailure", EC2_AUTH_FAILURE);
    fails({ ...req, query: `${req.query}&Owner.1=self` }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a tampered query string (presigned form)", async () => {
    const req = await presigned({ method: "GET", query: { Action: "DescribeImages", Version: "2016-11-15" } });
    fails({ ...req, query: req.query.replace("DescribeImages", "DescribeInstances") }, "AuthFailure", EC2_AUTH_FAILURE);
    fails({ ...req, query: req.query.replace("X-Amz-Expires=300", "X-Amz-Expires=600") }, "AuthFailure", EC2_AUTH_FAILURE);
    fails({ ...req, method: "POST" }, "AuthFailure", EC2_AUTH_FAILURE);
    fails({ ...req, path: "/other" }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a timestamp more than 15 minutes old", async () => {
    const req = await signed(postForm());
    fails(
      req,
      "AuthFailure",
      "Signature expired: 20240501T120000Z is now earlier than 20240501T120100Z (20240501T121600Z - 15 min.).",
      new Date(SIGNED_AT.getTime() + 16 * 60_000),
    );
  });

  it("a timestamp more than 15 minutes ahead", async () => {
    const req = await signed(postForm());
    fails(
      req,
      "AuthFailure",
      "Signature not yet current: 20240501T120000Z is still later than 20240501T115900Z (20240501T114400Z + 15 min.).",
      new Date(SIGNED_AT.getTime() - 16 * 60_000),
    );
  });

  it("a presigned request past its X-Amz-Expires, or not yet valid", async () => {
    const req = await presigned({ method: "GET", query: { Action: "DescribeImages", Version: "2016-11-15" } });
    fails(
      req,
      "AuthFailure",
      "Request has expired: X-Amz-Date 20240501T120000Z + X-Amz-Expires 300 s ended at 20240501T120500Z, before the server's time 20240501T120501Z.",
      new Date(SIGNED_AT.getTime() + 301_000),
    );
    fails(
      req,
      "AuthFailure",
      "Signature not yet current: 20240501T120000Z is still later than 20240501T115900Z (20240501T114400Z + 15 min.).",
      new Date(SIGNED_AT.getTime() - 16 * 60_000),
    );
  });

  it("an X-Amz-Date that was moved (the signature covers it)", async () => {
    const req = await signed(postForm());
    fails({ ...req, headers: { ...req.headers, "x-amz-date": "20240501T120500Z" } }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a credential scope whose date differs from X-Amz-Date", async () => {
    const req = await signed(postForm());
    const authorization = String(req.headers["authorization"]).replace("/20240501/", "/20240430/");
    fails(
      { ...req, headers: { ...req.headers, authorization } },
      "AuthFailure",
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240430' != '20240501', from '20240501T120000Z'.",
    );
    const pre = await presigned({ method: "GET", query: { Action: "DescribeImages" } });
    fails(
      { ...pre, query: pre.query.replace("%2F20240501%2F", "%2F20240502%2F") },
      "AuthFailure",
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240502' != '20240501', from '20240501T120000Z'.",
    );
  });

  it("a credential scope for another region or service (the signature covers the scope)", async () => {
    const req = await signed(postForm());
    const authorization = String(req.headers["authorization"]).replace("/us-east-1/ec2/", "/us-west-2/ec2/");
    fails({ ...req, headers: { ...req.headers, authorization } }, "AuthFailure", EC2_AUTH_FAILURE);
  });

  it("a request with no credentials at all", async () => {
    const req = await signed(postForm());
    const { authorization: _, ...headers } = req.headers;
    fails({ ...req, headers }, "AuthFailure", "Request is missing Authentication Token: sign it with AWS Signature Version 4");
    fails(
      { method: "GET", path: "/", query: "Action=DescribeImages&Version=2016-11-15", headers: { host: HOST }, body: Buffer.alloc(0) },
      "AuthFailure",
      "Request is missing Authentication Token: sign it with AWS Signature Version 4",
    );
  });

  it("both an Authorization header and a presigned query", async () => {
    const req = await signed({ method: "GET", query: { Action: "DescribeImages" } });
    fails(
      { ...req, query: `${req.query}&X-Amz-Algorithm=AWS4-HMAC-SHA256` },
      "IncompleteSignature",
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified",
    );
  });

  describe("a malformed Authorization header", () => {
    const req = SIGNED_POST;
    const auth = String(req.headers["authorization"]);
    const signature = /Signature=([0-9a-f]+)/.exec(auth)![1]!;
    const credential = `${AKID}/20240501/us-east-1/ec2/aws4_request`;
    const withAuth = (authorization: string) => ({ ...req, headers: { ...req.headers, authorization } });

    it.each([
      ["AWS AKIDAMIBOOTTEST00001:c2lnbmF0dXJl", "Unsupported Authorization Type: 'AWS' (only AWS4-HMAC-SHA256 is supported)"],
      ["AWS4-HMAC-SHA512 Credential=x", "Unsupported Authorization Type: 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 is supported)"],
      [
        "AWS4-HMAC-SHA256",
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${credential}`,
        `Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=${credential}`,
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=host;x-amz-date, Signature`,
        `Authorization header has a malformed component 'Signature'; each must be Name=Value. Authorization=AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=host;x-amz-date, Signature`,
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${credential}, Credential=${credential}, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        `Authorization header has 'Credential' more than once. Authorization=AWS4-HMAC-SHA256 Credential=${credential}, Credential=${credential}, SignedHeaders=host;x-amz-date, Signature=${signature}`,
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${AKID}/20240501/us-east-1/ec2, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        `Credential must have the form <access key>/<date>/<region>/<service>/aws4_request, got '${AKID}/20240501/us-east-1/ec2'`,
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${AKID}/20240501/us-east-1/ec2/aws4_reques, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_reques'.",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${AKID}/2024-05-01/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        "Credential should be scoped to a date in the format yyyyMMdd, not '2024-05-01'.",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${AKID}/20240501//ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        "Credential should be scoped to a valid region, not ''.",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${AKID}/20240501/us-east-1//aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        "Credential should be scoped to a valid service, not ''.",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=/20240501/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
        "Credential has an empty access key ID: '/20240501/us-east-1/ec2/aws4_request'",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=x-amz-date, Signature=${signature}`,
        "The 'host' header must be in SignedHeaders, got 'x-amz-date'",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=Host;X-Amz-Date, Signature=${signature}`,
        "SignedHeaders must be lower-case header names separated by ';', got 'Host;X-Amz-Date'",
      ],
      [
        `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=content-type;host, Signature=${signature}`,
        "The 'x-amz-date' header carries the request's time and must be in SignedHeaders.",
      ],
    ])("%s", (authorization, message) => {
      fails(withAuth(authorization), "IncompleteSignature", message);
    });

    it("a signature that is not 64 hex digits", () => {
      fails(withAuth(auth.replace(signature, signature.slice(0, 63))), "AuthFailure", EC2_AUTH_FAILURE);
      fails(withAuth(auth.replace(signature, `${signature.slice(0, 63)}g`)), "AuthFailure", EC2_AUTH_FAILURE);
    });

    it("no X-Amz-Date or Date header", () => {
      const { "x-amz-date": _, ...headers } = req.headers;
      fails(
        { ...req, headers },
        "IncompleteSignature",
        `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${auth}`,
      );
    });

    it.each([["20240501T120000"], ["2024-05-01T12:00:00Z"], ["20241301T120000Z"], ["20240501T126000Z"]])("an X-Amz-Date of %s", (date) => {
      fails(
        { ...req, headers: { ...req.headers, "x-amz-date": date } },
        "IncompleteSignature",
        `X-Amz-Date must be in ISO 8601 basic format yyyyMMdd'T'HHmmss'Z', got '${date}'`,
      );
    });

    it("a Date header that is no date", () => {
      const { "x-amz-date": _, ...headers } = req.headers;
      fails(
        { ...req, headers: { ...headers, date: "yesterday", authorization: auth.replace("x-amz-date", "date") } },
        "IncompleteSignature",
        "The Date header must be an HTTP date such as 'Tue, 15 Nov 1994 08:12:31 GMT', got 'yesterday'",
      );
    });
  });

  describe("a malformed presigned query", () => {
    const req = PRESIGNED_GET;
    const without = (name: string) =>
      req.query
        .split("&")
        .filter((p) => !p.startsWith(`${name}=`))
        .join("&");

    it.each([["X-Amz-Credential"], ["X-Amz-Signature"], ["X-Amz-SignedHeaders"], ["X-Amz-Date"]])("without %s", (name) => {
      fails({ ...req, query: without(name) }, "IncompleteSignature", `The presigned request requires the '${name}' query parameter.`);
    });

    it("without X-Amz-Algorithm", () => {
      fails({ ...req, query: without("X-Amz-Algorithm") }, "IncompleteSignature", "The presigned request requires the X-Amz-Algorithm query parameter");
    });

    it("with another algorithm", () => {
      fails(
        { ...req, query: req.query.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256") },
        "IncompleteSignature",
        `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256", got 'AWS4-ECDSA-P256-SHA256'`,
      );
    });

    it("with a parameter given twice", () => {
      fails(
        { ...req, query: `${req.query}&X-Amz-Date=20240501T120000Z` },
        "IncompleteSignature",
        "The query parameter X-Amz-Date is given 2 times; give it once.",
      );
    });

    it.each([["0"], ["604801"], ["-5"], ["1e3"], ["soon"]])("with X-Amz-Expires=%s", (expires) => {
      fails(
        { ...req, query: req.query.replace("X-Amz-Expires=300", `X-Amz-Expires=${expires}`) },
        "IncompleteSignature",
        `X-Amz-Expires must be a whole number of seconds from 1 to 604800 (seven days), got '${expires}'`,
      );
    });
  });

  it("every failure is an Ec2Error naming the operation", async () => {
    const req = await signed(postForm(), { secret: "wrong" });
    try {
      verify(req);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ name: "Ec2Error", code: "AuthFailure", op: "api.authenticate" });
    }
  });
});
