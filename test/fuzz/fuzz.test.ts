import { describe, expect, it } from "vitest";
import { IMAGES } from "../helpers.js";
import { fuzzMenuLst, fuzzTarget, targets } from "./harness.js";

/** A short fuzz run in every test run; `npm run fuzz` runs 100,000 cases per reader. */
const CASES = Number(process.env.AMIBOOT_FUZZ_CASES ?? 1500);
/** A reader's run takes a few seconds: more than the unit project's 10 s default on a loaded machine. */
const RUN_MS = 60_000;

describe("fuzzing the guest-facing readers with mutated sample images", () => {
  for (const t of targets(IMAGES)) {
    it(`${t.name}: ${CASES} cases, typed errors only, none over 1 s`, () => {
      const r = fuzzTarget(t, CASES, 1);
      expect(r.crashes).toEqual([]);
      expect(r.slow).toEqual([]);
      // The mutations must reach the parser: some cases fail and some pass.
      expect(r.passed).toBeGreaterThan(0);
      expect(Object.keys(r.typedErrors).length).toBeGreaterThan(0);
    }, RUN_MS);
  }

  it(`menu.lst: ${CASES} mutated texts parse within bounds`, () => {
    const r = fuzzMenuLst("default 0\nfallback 1\ntitle a\nroot (hd0,0)\nkernel /boot/vmlinuz ro\ninitrd /boot/initrd\ntitle b\nkernel (hd0,1)/k\n", CASES, 1);
    expect(r.crashes).toEqual([]);
    expect(r.slow).toEqual([]);
  }, RUN_MS);
});
