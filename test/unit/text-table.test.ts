import { describe, expect, it } from "vitest";
import { textTable } from "../../src/text-table.js";

describe("textTable", () => {
  it("pads columns to their widest cell, right-aligns the numeric ones and trims line ends", () => {
    const t = textTable(["case", "s", "note"], [["hvm", "7.25", ""], ["pv-long-name", "12.5", "x"]], { right: [false, true], rule: true });
    expect(t.split("\n")).toEqual(["case             s  note", "------------  ----  ----", "hvm           7.25", "pv-long-name  12.5  x"]);
  });

  it("without options: left-aligned, no rule; missing cells are blank", () => {
    expect(textTable(["A", "B"], [["x"], ["yy", "z"]])).toBe("A   B\nx\nyy  z");
  });
});
