import { XMLBuilder, type XmlBuilderOptions } from "fast-xml-parser";
import { codeInfo } from "../error-codes.js";

/**
 * EC2's XML answers. A success is `<{Action}Response xmlns="…">` holding the
 * `requestId` and the action's fields; a failure is EC2's
 * `<Response><Errors><Error>…</Error></Errors><RequestID>…</RequestID></Response>`.
 *
 * Bodies are plain objects in EC2's element names: a string, number or boolean
 * is text; an array is one of EC2's item lists (`imagesSet: [a, b]` renders
 * `<imagesSet><item>a</item><item>b</item></imagesSet>`); an object nests;
 * undefined and null are left out; a Date is its ISO 8601 time. Empty lists and
 * objects render as an empty element (`<imagesSet/>`), as EC2 renders them.
 *
 * Text is escaped (`& < > " '`). Characters XML 1.0 cannot carry at all (most
 * C0 controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, and a carriage
 * return is written `&#13;` so that parsers do not turn it into a line feed.
 * A body that is not such a tree (a bad element name, a function, a number
 * that is not finite, nesting deeper than 64 elements, a cycle) is a
 * programming error: a TypeError, which the server answers as InternalError.
 */
export const EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/";

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
/** Elements below the response's root, item wrappers included. EC2's deepest answers use about a dozen. */
export const MAX_XML_DEPTH = 64;
const ELEMENT_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const ACTION_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
// Anything but XML 1.0's Char production; with the u flag a lone surrogate is one code point and matches.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  suppressEmptyNode: true,
  processEntities: true,
  // Above MAX_XML_DEPTH, which toXmlTree enforces with a clearer message.
  maxNestedTags: MAX_XML_DEPTH + 16,
  // The builder's own list (& first), plus CR as a character reference.
  entities: [
    { regex: /&/g, val: "&amp;" },
    { regex: />/g, val: "&gt;" },
    { regex: /</g, val: "&lt;" },
    { regex: /'/g, val: "&apos;" },
    { regex: /"/g, val: "&quot;" },
    { regex: /\r/g, val: "&#13;" },
  ],
} as XmlBuilderOptions & { entities: { regex: RegExp; val: string }[] });

/** `<?xml …?>\n<{action}Response xmlns="…"><requestId>…</requestId>{body}</{action}Response>` */
export function responseXml(action: string, requestId: string, body: Record<string, unknown>): string {
  if (typeof action !== "string" || !ACTION_NAME.test(action)) {
    throw new TypeError(`responseXml: action must be a word of letters and digits, got ${JSON.stringify(String(action)).slice(0, 80)}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new TypeError("responseXml: body must be an object");
  if (Object.hasOwn(body, "requestId")) throw new TypeError("responseXml: body must not have its own requestId");
  const fields = toXmlTree(body, "body", 1);
  const root = {
    "@_xmlns": EC2_NAMESPACE,
    requestId: text(String(requestId)),
    ...(typeof fields === "object" ? fields : {}),
  };
  return DECLARATION + (builder.build({ [`${action}Response`]: root }) as string);
}

/** `<?xml …?>\n<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>` */
export function errorXml(code: string, message: string, requestId: string): string {
  const tree = {
    Response: {
      Errors: { Error: { Code: text(String(code)), Message: text(String(message)) } },
      RequestID: text(String(requestId)),
    },
  };
  return DECLARATION + (builder.build(tree) as string);
}

/** The HTTP status EC2 sends with an error code: the error table's (`src/error-codes.ts`). */
export function httpStatusFor(code: string): number {
  return codeInfo(code).status;
}

type XmlTree = string | { [name: string]: XmlTree | XmlTree[] };

/**
 * The builder's input for one value: text for scalars, `{ item: [...] }` for
 * arrays, an object of converted fields for objects, "" for an empty list or
 * object (an empty element); undefined when the value is left out.
 */
function toXmlTree(value: unknown, path: string, depth: number): XmlTree | undefined {
  if (value === undefined || value === null) return undefined;
  switch (typeof value) {
    case "string":
      return text(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`responseXml: ${path} is ${value}, not a finite number`);
      return String(value);
    case "object":
      break;
    default:
      throw new TypeError(`responseXml: ${path} is a ${typeof value}, which has no XML form`);
  }
  if (depth > MAX_XML_DEPTH) throw new TypeError(`responseXml: ${path} nests deeper than ${MAX_XML_DEPTH} elements (a cycle?)`);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`responseXml: ${path} is an invalid Date`);
    return value.toISOString();
  }
  if (Array.isArray(value)) {
    const items: XmlTree[] = [];
    for (let i = 0; i < value.length; i++) {
      const item = toXmlTree(value[i], `${path}[${i}]`, depth + 1);
      if (item !== undefined) items.push(item);
    }
    return items.length === 0 ? "" : { item: items };
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`responseXml: ${path} is a ${(value as object).constructor?.name ?? "non-plain object"}, not a plain object`);
  }
  const out: { [name: string]: XmlTree } = {};
  let any = false;
  for (const [name, v] of Object.entries(value)) {
    if (!ELEMENT_NAME.test(name)) throw new TypeError(`responseXml: ${JSON.stringify(name).slice(0, 80)} in ${path} is not an element name`);
    const child = toXmlTree(v, `${path}.${name}`, depth + 1);
    if (child === undefined) continue;
    out[name] = child; // ELEMENT_NAME has no "__proto__"
    any = true;
  }
  return any ? out : "";
}

/** A string XML 1.0 can carry: characters it has no place for become U+FFFD. */
function text(s: string): string {
  return s.replace(NOT_XML_CHAR, "\uFFFD");
}

export const STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/";

/** STS's Query answers: `<{Action}Response><{Action}Result>…</…Result><ResponseMetadata><RequestId>…` in STS's namespace. */
export function stsResponseXml(action: string, requestId: string, result: Record<string, string>): string {
  if (!ACTION_NAME.test(action)) throw new TypeError(`stsResponseXml: action must be a word of letters and digits, got ${JSON.stringify(action).slice(0, 80)}`);
  const fields = Object.fromEntries(Object.entries(result).map(([k, v]) => [k, text(v)]));
  const root = { "@_xmlns": STS_NAMESPACE, [`${action}Result`]: fields, ResponseMetadata: { RequestId: text(requestId) } };
  return DECLARATION + (builder.build({ [`${action}Response`]: root }) as string);
}

/** STS's error envelope: `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…</Message></Error><RequestId>…`. */
export function stsErrorXml(code: string, message: string, requestId: string): string {
  const type = httpStatusFor(code) >= 500 ? "Receiver" : "Sender";
  const tree = { ErrorResponse: { "@_xmlns": STS_NAMESPACE, Error: { Type: type, Code: text(code), Message: text(message) }, RequestId: text(requestId) } };
  return DECLARATION + (builder.build(tree) as string);
}
