import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { parseEndpoint } from "../../src/cli/parse.js";
import { errorShape } from "../../src/cli/run.js";
import { Ec2Error } from "../../src/errors.js";

describe("what the CLI prints for an error", () => {
  it("keeps our codes and the AWS SDK's (its name is EC2's code)", () => {
    expect(errorShape(new Ec2Error("InvalidAMIID.NotFound", "gone", "DescribeImages"))).toEqual({ code: "InvalidAMIID.NotFound", message: "gone" });
    expect(errorShape(Object.assign(new Error("nope"), { name: "InvalidAMIID.Malformed", $fault: "client" }))).toEqual({ code: "InvalidAMIID.Malformed", message: "nope" });
  });

  it("calls an endpoint that does not answer EndpointUnreachable, from the SDK or from fetch", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(errorShape(refused).code).toBe("EndpointUnreachable");
    expect(errorShape(new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }))).toEqual({
      code: "EndpointUnreachable",
      message: "cannot reach the EC2 endpoint (ECONNREFUSED): is 'amiboot serve' running?",
    });
  });

  it("prints anything else as InternalError with its message, never as a Node error code", () => {
    expect(errorShape(new TypeError("x is not a function"))).toEqual({ code: "InternalError", message: "x is not a function" });
    expect(errorShape(Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" }))).toEqual({ code: "InternalError", message: "EACCES: permission denied" });
    expect(errorShape("a string")).toEqual({ code: "InternalError", message: "a string" });
  });

  it("refuses an --endpoint that is not an http(s) URL as a usage error", () => {
    expect(parseEndpoint("https://ec2.example:8773")).toBe("https://ec2.example:8773");
    for (const bad of ["notaurl", "http://[::1", "ftp://host/"]) expect(() => parseEndpoint(bad)).toThrow(InvalidArgumentError);
  });
});
