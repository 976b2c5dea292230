import { describe, expect, it } from "vitest";
import { ConsoleLines } from "../../src/boot/console-lines.js";

const bytes = (s: string) => Buffer.from(s, "latin1");

describe("ConsoleLines", () => {
  it("returns the lines a chunk completes and keeps the unfinished one", () => {
    const c = new ConsoleLines();
    expect(c.push(bytes("one\r\ntw"))).toEqual(["one"]);
    expect(c.current).toBe("tw");
    expect(c.push(bytes("o\nthree"))).toEqual(["two"]);
    expect(c.tail()).toEqual(["one", "two", "three"]);
  });

  it("keeps only the last lines and drops escape sequences", () => {
    const c = new ConsoleLines(2);
    c.push(bytes("a\nb\n\x1b[1;32mc\x1b[0m\n"));
    expect(c.tail()).toEqual(["b", "c"]);
  });

  it("bounds a line that never ends", () => {
    const c = new ConsoleLines();
    c.push(new Uint8Array(100_000).fill(0x41));
    expect(c.current.length).toBe(4096);
  });
});
