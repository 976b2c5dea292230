import { describe, expect, it } from "vitest";
import { DEFAULT_INSTANCES_OPTIONS, instancesOptions } from "../../src/cloud/instance-options.js";

const refused = (given: Parameters<typeof instancesOptions>[0]) => {
  try {
    instancesOptions(given);
  } catch (err) {
    return err;
  }
  throw new Error("expected the options to be refused");
};

describe("instancesOptions", () => {
  it("merges over the defaults", () => {
    expect(instancesOptions({ bootSlots: 2 })).toEqual({ ...DEFAULT_INSTANCES_OPTIONS, bootSlots: 2 });
  });

  it.each([
    [{ marker: "" }, 'The option marker must be a non-empty string (got "").'],
    [{ inputMarker: "" }, 'The option inputMarker must be a non-empty string (got "").'],
    [{ inputMarker: 7 as unknown as string }, "The option inputMarker must be a non-empty string (got 7)."],
    [{ maxInstances: 0 }, "The option maxInstances must be an integer >= 1 (got 0)."],
    [{ maxInstances: 1.5 }, "The option maxInstances must be an integer >= 1 (got 1.5)."],
    [{ bootSlots: 0 }, "The option bootSlots must be an integer >= 1 (got 0)."],
    [{ bootSlots: Number.NaN }, "The option bootSlots must be an integer >= 1 (got NaN)."],
    [{ bootSlotMs: 0 }, "The option bootSlotMs must be a number of milliseconds from 1 to 2147483647 (got 0)."],
    [{ bootSlotMs: Number.POSITIVE_INFINITY }, "The option bootSlotMs must be a number of milliseconds from 1 to 2147483647 (got Infinity)."],
    [{ standbyMachines: 2.5 }, "The option standbyMachines must be an integer from 0 to 64 (got 2.5)."],
  ])("refuses %o with an exact sentence", (given, message) => {
    expect(refused(given)).toMatchObject({ name: "Ec2Error", code: "InvalidParameterValue", message, op: "cloud.instancesOptions" });
  });
});
