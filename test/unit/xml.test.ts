import { Readable } from "node:stream";
import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { EC2_NAMESPACE, errorXml, httpStatusFor, MAX_XML_DEPTH, responseXml } from "../../src/api/xml.js";

const DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** Parses as a client would: text stays text, every <item> is a list entry. */
function parse(xml: string, options: { htmlEntities?: boolean } = {}): Record<string, unknown> {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "@_",
    parseTagValue: false,
    trimValues: false,
    isArray: (name) => name === "item",
    ...options,
  });
  return parser.parse(xml) as Record<string, unknown>;
}

/** An EC2 client whose every request is answered with this status and XML. */
function clientAnswering(statusCode: number, xml: string): EC2Client {
  return new EC2Client({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    endpoint: "http://127.0.0.1:1",
    maxAttempts: 1,
    requestHandler: {
      handle: async () => ({ response: { statusCode, headers: { "content-type": "text/xml;charset=UTF-8" }, body: Readable.from([Buffer.from(xml)]) } }),
    } as unknown as EC2Client["config"]["requestHandler"],
  });
}

describe("responseXml", () => {
  it("wraps the body in {Action}Response with EC2's namespace and the request id first", () => {
    expect(responseXml("DeregisterImage", "req-1", { return: true })).toBe(
      `${DECL}<DeregisterImageResponse xmlns="${EC2_NAMESPACE}"><requestId>req-1</requestId><return>true</return></DeregisterImageResponse>`,
    );
    expect(EC2_NAMESPACE).toBe("http://ec2.amazonaws.com/doc/2016-11-15/");
    expect(responseXml("DescribeRegions", "r", {})).toBe(`${DECL}<DescribeRegionsResponse xmlns="${EC2_NAMESPACE}"><requestId>r</requestId></DescribeRegionsResponse>`);
  });

  it("renders arrays as EC2's item lists, objects as nested elements, and leaves out undefined and null", () => {
    const xml = responseXml("DescribeImages", "req-2", {
      imagesSet: [
        {
          imageId: "ami-1",
          isPublic: false,
          blockDeviceMapping: [{ deviceName: "/dev/sda1", noDevice: undefined, ebs: { volumeSize: 8, iops: null } }],
          tagSet: [],
          stateReason: undefined,
        },
        null,
        { imageId: "ami-2" },
      ],
      nextToken: undefined,
    });
    expect(xml).toBe(
      `${DECL}<DescribeImagesResponse xmlns="${EC2_NAMESPACE}"><requestId>req-2</requestId>` +
        "<imagesSet>" +
        "<item><imageId>ami-1</imageId><isPublic>false</isPublic>" +
        "<blockDeviceMapping><item><deviceName>/dev/sda1</deviceName><ebs><volumeSize>8</volumeSize></ebs></item></blockDeviceMapping>" +
        "<tagSet/></item>" +
        "<item><imageId>ami-2</imageId></item>" +
        "</imagesSet></DescribeImagesResponse>",
    );
  });

  it("renders scalars as EC2 does", () => {
    const xml = responseXml("X", "r", {
      t: true,
      f: false,
      zero: 0,
      negZero: -0,
      neg: -12,
      frac: 1.5,
      big: 12345678901234567890n,
      when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
      empty: "",
      emptyObject: {},
      onlyUndefined: { a: undefined },
      strings: ["a", "", "b"],
      nested: [["x", "y"], []],
    });
    expect(xml).toContain(
      "<t>true</t><f>false</f><zero>0</zero><negZero>0</negZero><neg>-12</neg><frac>1.5</frac><big>12345678901234567890</big>" +
        "<when>2024-01-02T03:04:05.006Z</when><empty/><emptyObject/><onlyUndefined/>" +
        "<strings><item>a</item><item/><item>b</item></strings>" +
        "<nested><item><item>x</item><item>y</item></item><item/></nested>",
    );
  });

  it("escapes text, the request id included", () => {
    const xml = responseXml("X", `<id&"'>`, { description: `a <b> & "c" 'd' ]]> </x>` });
    expect(xml).toContain("<requestId>&lt;id&amp;&quot;&apos;&gt;</requestId>");
    expect(xml).toContain("<description>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; ]]&gt; &lt;/x&gt;</description>");
    expect(xml.match(/</g)).toHaveLength(1 + 2 * 3); // the declaration and three elements' tags, nothing injected
  });

  it("replaces characters XML cannot carry, keeps the rest, and writes CR as a reference", () => {
    const xml = responseXml("X", "r", { s: "a\u0000b\u0008c\u001Fd\uFFFEe\uD800f\tg\nh\ri 🚀 ü \u2028" });
    expect(xml).toContain("<s>a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\tg\nh&#13;i 🚀 ü \u2028</s>");
    // A parser that decodes character references gets the CR back (the AWS SDK's does; see below).
    expect((parse(xml, { htmlEntities: true }).XResponse as Record<string, unknown>).s).toBe("a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\tg\nh\ri 🚀 ü \u2028");
  });

  it("parses back with fast-xml-parser to the same structure", () => {
    const body = {
      imagesSet: [
        {
          imageId: "ami-0123456789abcdef0",
          name: `odd <&>"' name ✓`,
          isPublic: true,
          blockDeviceMapping: [
            { deviceName: "/dev/sda1", ebs: { snapshotId: "snap-1", volumeSize: 8, deleteOnTermination: true } },
            { deviceName: "/dev/sdb", virtualName: "ephemeral0" },
          ],
          tagSet: [{ key: "k&", value: "<v>" }],
        },
      ],
      nextToken: "tok",
    };
    expect(parse(responseXml("DescribeImages", "req-3", body))).toEqual({
      "?xml": { "@_version": "1.0", "@_encoding": "UTF-8" },
      DescribeImagesResponse: {
        "@_xmlns": EC2_NAMESPACE,
        requestId: "req-3",
        imagesSet: {
          item: [
            {
              imageId: "ami-0123456789abcdef0",
              name: `odd <&>"' name ✓`,
              isPublic: "true",
              blockDeviceMapping: {
                item: [
                  { deviceName: "/dev/sda1", ebs: { snapshotId: "snap-1", volumeSize: "8", deleteOnTermination: "true" } },
                  { deviceName: "/dev/sdb", virtualName: "ephemeral0" },
                ],
              },
              tagSet: { item: [{ key: "k&", value: "<v>" }] },
            },
          ],
        },
        nextToken: "tok",
      },
    });
  });

  it("renders 10,000 items", () => {
    const items = Array.from({ length: 10_000 }, (_, i) => ({ regionName: `r-${i}` }));
    const xml = responseXml("DescribeRegions", "r", { regionInfo: items });
    const parsed = parse(xml).DescribeRegionsResponse as { regionInfo: { item: { regionName: string }[] } };
    expect(parsed.regionInfo.item).toHaveLength(10_000);
    expect(parsed.regionInfo.item[9_999]).toEqual({ regionName: "r-9999" });
  });

  it(`nests to ${MAX_XML_DEPTH} elements and refuses deeper (and cycles) with a TypeError`, () => {
    const nest = (n: number): Record<string, unknown> => (n === 1 ? { leaf: "x" } : { a: nest(n - 1) });
    expect(responseXml("X", "r", nest(MAX_XML_DEPTH))).toContain("<leaf>x</leaf>");
    expect(() => responseXml("X", "r", nest(MAX_XML_DEPTH + 1))).toThrow(new TypeError(`responseXml: body${".a".repeat(MAX_XML_DEPTH)} nests deeper than 64 elements (a cycle?)`));
    const cycle: Record<string, unknown> = { name: "c" };
    cycle.self = cycle;
    expect(() => responseXml("X", "r", cycle)).toThrow(TypeError);
    const list: unknown[] = [];
    list.push(list);
    expect(() => responseXml("X", "r", { list })).toThrow(/nests deeper than 64 elements/);
  });

  it.each([
    [{ "bad name": 1 }, 'responseXml: "bad name" in body is not an element name'],
    [{ "@_xmlns": "evil" }, 'responseXml: "@_xmlns" in body is not an element name'],
    [{ "#text": "x" }, 'responseXml: "#text" in body is not an element name'],
    [{ "1a": 1 }, 'responseXml: "1a" in body is not an element name'],
    [{ a: { "<b>": 1 } }, 'responseXml: "<b>" in body.a is not an element name'],
    [{ ["__proto__"]: 1 }, 'responseXml: "__proto__" in body is not an element name'],
    [{ n: Number.NaN }, "responseXml: body.n is NaN, not a finite number"],
    [{ n: [1, Number.POSITIVE_INFINITY] }, "responseXml: body.n[1] is Infinity, not a finite number"],
    [{ f: () => 1 }, "responseXml: body.f is a function, which has no XML form"],
    [{ s: Symbol("s") }, "responseXml: body.s is a symbol, which has no XML form"],
    [{ m: new Map([["a", 1]]) }, "responseXml: body.m is a Map, not a plain object"],
    [{ d: new Date(Number.NaN) }, "responseXml: body.d is an invalid Date"],
    [{ requestId: "other" }, "responseXml: body must not have its own requestId"],
  ])("refuses the body %o with a TypeError", (body, message) => {
    expect(() => responseXml("X", "r", body as Record<string, unknown>)).toThrow(new TypeError(message));
  });

  it.each(["", "Describe Images", "Describe<Images>", "1Action", "A/B", "Ä"])("refuses the action %j", (action) => {
    expect(() => responseXml(action, "r", {})).toThrow(TypeError);
  });

  it("is read by the AWS SDK as EC2's answer", async () => {
    const xml = responseXml("DescribeImages", "req-4", {
      imagesSet: [
        {
          imageId: "ami-1",
          name: "a <&> \"'\r\n",
          isPublic: false,
          blockDeviceMapping: [{ deviceName: "/dev/sda1", ebs: { volumeSize: 8, deleteOnTermination: true } }],
          tagSet: [{ key: "k", value: "v" }],
        },
        { imageId: "ami-2", blockDeviceMapping: [] },
      ],
    });
    const out = await clientAnswering(200, xml).send(new DescribeImagesCommand({}));
    expect(out.Images).toEqual([
      {
        ImageId: "ami-1",
        Name: "a <&> \"'\r\n",
        Public: false,
        BlockDeviceMappings: [{ DeviceName: "/dev/sda1", Ebs: { VolumeSize: 8, DeleteOnTermination: true } }],
        Tags: [{ Key: "k", Value: "v" }],
      },
      { ImageId: "ami-2", BlockDeviceMappings: [] },
    ]);
  });
});

describe("errorXml", () => {
  it("is EC2's error document", () => {
    expect(errorXml("InvalidParameterValue", "Bad value", "req-5")).toBe(
      `${DECL}<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>Bad value</Message></Error></Errors><RequestID>req-5</RequestID></Response>`,
    );
  });

  it("escapes every field and parses back", () => {
    const message = `Value (<x>&"'\u0001) for parameter a is invalid.`;
    const xml = errorXml("Code<&>", message, "id&");
    expect(xml).toContain("<Code>Code&lt;&amp;&gt;</Code><Message>Value (&lt;x&gt;&amp;&quot;&apos;\uFFFD) for parameter a is invalid.</Message>");
    expect(parse(xml)).toEqual({
      "?xml": { "@_version": "1.0", "@_encoding": "UTF-8" },
      Response: { Errors: { Error: { Code: "Code<&>", Message: `Value (<x>&"'\uFFFD) for parameter a is invalid.` } }, RequestID: "id&" },
    });
  });

  it("renders an empty message as an empty element", () => {
    expect(errorXml("X", "", "r")).toContain("<Code>X</Code><Message/>");
  });

  it("is read by the AWS SDK as EC2's error, with its code, message and status", async () => {
    const xml = errorXml("InvalidAMIID.NotFound", "The image id '[ami-1]' does not exist", "req-6");
    const err = (await clientAnswering(httpStatusFor("InvalidAMIID.NotFound"), xml)
      .send(new DescribeImagesCommand({}))
      .catch((e: unknown) => e)) as { name: string; message: string; $fault: string; $metadata: { httpStatusCode: number } };
    expect(err.name).toBe("InvalidAMIID.NotFound");
    expect(err.message).toBe("The image id '[ami-1]' does not exist");
    expect(err.$fault).toBe("client");
    expect(err.$metadata.httpStatusCode).toBe(400);
  });
});

describe("httpStatusFor", () => {
  it.each([
    ["InvalidParameterValue", 400],
    ["MissingParameter", 400],
    ["InvalidAMIID.NotFound", 400],
    ["InvalidSnapshot.NotFound", 400],
    ["InvalidAMIID.Malformed", 400],
    ["UnsupportedOperation", 400],
    ["IncorrectInstanceState", 400],
    ["InvalidBlockDeviceMapping", 400],
    ["InvalidAction", 400],
    ["MissingAction", 400],
    ["UnknownParameter", 400],
    ["RequestExpired", 400],
    ["AuthFailure", 401],
    ["UnauthorizedOperation", 403],
    ["SignatureDoesNotMatch", 403],
    ["DryRunOperation", 412],
    ["InternalError", 500],
    ["InternalFailure", 500],
    ["InsufficientInstanceCapacity", 500],
    ["InsufficientAddressCapacity", 500],
    ["RequestLimitExceeded", 503],
    ["Unavailable", 503],
    ["ServiceUnavailable", 503],
    ["InvalidSnapshot.Corrupt", 500],
    ["DiskIOError", 500],
    ["ResourceBusy", 503],
    ["RequestEntityTooLarge", 413],
    // Not in the table: only relayed codes are, so a failure of unknown cause.
    ["SomethingNew", 500],
    ["constructor", 500],
    ["toString", 500],
    ["__proto__", 500],
    ["", 500],
  ])("%s -> %i", (code, status) => {
    expect(httpStatusFor(code)).toBe(status);
  });
});
