import { describe, expect, it } from "vitest";
import { bootOptions } from "../../src/boot/options.js";
import { poolOptions } from "../../src/pool/pool.js";

describe("bootOptions", () => {
  it("fills defaults", () => {
    expect(bootOptions()).toEqual({ memoryMiB: 128, timeoutSeconds: 120, guestDecompress: false, keepRunning: false });
    expect(bootOptions({ until: "x", memoryMiB: undefined })).toEqual({ memoryMiB: 128, timeoutSeconds: 120, until: "x", guestDecompress: false, keepRunning: false });
  });

  it.each([
    [{ memoryMiB: 8 }, "memory must be a whole number of MiB from 16 to 2048, got 8"],
    [{ memoryMiB: 100.5 }, "memory must be a whole number of MiB from 16 to 2048, got 100.5"],
    [{ memoryMiB: 4096 }, "memory must be a whole number of MiB from 16 to 2048, got 4096"],
    [{ timeoutSeconds: -1 }, "timeout must be a number of seconds >= 0 (0 means none), got -1"],
    [{ timeoutSeconds: Number.NaN }, "timeout must be a number of seconds >= 0 (0 means none), got NaN"],
    [{ until: "" }, 'until must be one line of 1 to 256 characters, got ""'],
    [{ until: "a\nb" }, 'until must be one line of 1 to 256 characters, got "a\\nb"'],
    [{ guestDecompress: "yes" as unknown as boolean }, "guestDecompress must be true or false, got yes"],
  ])("rejects %j with an exact message", (input, message) => {
    expect(() => bootOptions(input)).toThrow(expect.objectContaining({ code: "InvalidParameterValue", message }));
  });
});

describe("poolOptions", () => {
  it("defaults to one thread per core", () => {
    expect(poolOptions().maxThreads).toBeGreaterThanOrEqual(1);
  });

  it.each([
    [{ maxThreads: 0 }, "options.maxThreads must be an integer from 1 to 64, got 0"],
    [{ workerHeapMb: 10 }, "options.workerHeapMb must be an integer >= 64, got 10"],
    [{ graceMs: -5 }, "options.graceMs must be an integer >= 0, got -5"],
    [{ workerYoungGenerationMb: 0 }, "options.workerYoungGenerationMb must be an integer from 1 to 256, got 0"],
    [{ standbyMachines: -1 }, "options.standbyMachines must be an integer from 0 to 64, got -1"],
    [{ standbyIdleMs: 0 }, "options.standbyIdleMs must be an integer from 1 to 2147483647, got 0"],
  ])("rejects %j with a RangeError", (input, message) => {
    expect(() => poolOptions(input)).toThrow(new RangeError(message));
  });
});
