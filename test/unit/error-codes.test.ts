import { describe, expect, it } from "vitest";
import { codeInfo, ERROR_CODES, isErrorCode, type ErrorCode } from "../../src/error-codes.js";
import { Ec2Error } from "../../src/errors.js";
import { EXIT, exitCodeFor } from "../../src/cli/exit-codes.js";
import { httpStatusFor } from "../../src/api/xml.js";

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

/** The server's own faults: damaged stored data, host I/O, a broken install or worker, an unavailable service. */
const SERVER_FAULTS = [
  "InternalError",
  "InsufficientInstanceCapacity",
  "DiskIOError",
  "InvalidSnapshot.Corrupt",
  "ResourceBusy",
  "ServiceUnavailable",
  "Unavailable",
  "RequestLimitExceeded",
  "MissingFirmware",
  "MissingBuild",
  "WorkerCrashed",
  "VmStartFailed",
  "EndpointUnreachable",
];

describe("the error table", () => {
  it("gives every code an HTTP status and an exit class", () => {
    expect(codes.length).toBeGreaterThan(60);
    for (const code of codes) {
      const { status, exit } = ERROR_CODES[code];
      expect([400, 401, 403, 412, 413, 500, 503], code).toContain(status);
      expect(["invalid", "failed", "timeout", "interrupted"], code).toContain(exit);
      expect(httpStatusFor(code)).toBe(status);
      expect(exitCodeFor(new Ec2Error(code, "m"))).toBe(EXIT[exit]);
    }
  });

  it("answers 5xx exactly for server-side faults", () => {
    expect(codes.filter((c) => ERROR_CODES[c].status >= 500).sort()).toEqual([...SERVER_FAULTS].sort());
  });

  it("never answers 404, and 4xx faults are the caller's", () => {
    expect(codes.filter((c) => ERROR_CODES[c].status === 404)).toEqual([]);
    for (const c of codes.filter((c) => /^(Invalid|Missing|Unknown)/.test(c) && !SERVER_FAULTS.includes(c))) expect(ERROR_CODES[c].status, c).toBe(400);
  });

  it.each([
    ["InvalidParameterValue", 400, 2],
    ["InvalidAMIID.NotFound", 400, 2],
    ["InvalidManifest", 400, 2],
    ["GuestFs.Corrupt", 400, 2],
    ["PvGrub.MenuNotFound", 400, 2],
    ["IncorrectInstanceState", 400, 1],
    ["UnsupportedOperation", 400, 1],
    ["AuthFailure", 401, 1],
    ["UnauthorizedOperation", 403, 1],
    ["DryRunOperation", 412, 1],
    ["RequestEntityTooLarge", 413, 2],
    ["InvalidSnapshot.Corrupt", 500, 1],
    ["DiskIOError", 500, 1],
    ["InternalError", 500, 1],
    ["ResourceBusy", 503, 1],
    ["BootTimeout", 400, 124],
    ["BootAborted", 400, 130],
  ] as const)("%s: HTTP %i, exit %i", (code, status, exit) => {
    expect(httpStatusFor(code)).toBe(status);
    expect(exitCodeFor(new Ec2Error(code, "m"))).toBe(exit);
  });

  it("reads a code it does not know (relayed from elsewhere) as a failure of unknown cause", () => {
    for (const code of ["SomethingNew", "__proto__", "constructor", ""]) {
      expect(isErrorCode(code)).toBe(false);
      expect(codeInfo(code)).toEqual({ status: 500, exit: "failed" });
    }
    expect(exitCodeFor({ code: "InvalidFoo.Bar" })).toBe(1);
  });

  it("exits 0 without an error", () => {
    expect(exitCodeFor(undefined)).toBe(0);
  });
});
