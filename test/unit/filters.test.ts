import { describe, expect, it } from "vitest";
import { decodeNextToken, encodeNextToken, paginate } from "../../src/cloud/filters.js";

const token = (s: string) => Buffer.from(s).toString("base64url");

describe("NextToken", () => {
  it("pages a list and ends without a token", () => {
    const items = [1, 2, 3, 4, 5];
    const first = paginate(items, 2, undefined, "DescribeTags");
    expect(first).toEqual({ items: [1, 2], nextToken: encodeNextToken(2) });
    const second = paginate(items, 2, first.nextToken, "DescribeTags");
    expect(second.items).toEqual([3, 4]);
    expect(paginate(items, 2, second.nextToken, "DescribeTags")).toEqual({ items: [5] });
    expect(paginate(items, undefined, "", "DescribeTags")).toEqual({ items });
  });

  it.each([["abc"], [token("-1")], [token("1e3")], [token(" 2")], [token("9".repeat(16))], [token("")]])("refuses %s with InvalidNextToken", (t) => {
    expect(() => decodeNextToken(t, "DescribeImages")).toThrow(expect.objectContaining({ code: "InvalidNextToken", message: "The token is invalid", op: "DescribeImages" }));
  });

  it("round-trips an index", () => {
    for (const n of [0, 1, 999, 123456789]) expect(decodeNextToken(encodeNextToken(n), "x")).toBe(n);
  });
});
