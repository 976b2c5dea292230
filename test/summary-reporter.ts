import type { Reporter } from "vitest/node";

interface TaskLike {
  type: string;
  mode?: string;
  result?: { state?: string };
  tasks?: TaskLike[];
}

/** Ends the run with the plain "N passed, N failed" line CI reads, after vitest's own summary. */
export default class SummaryReporter implements Reporter {
  onFinished(files: TaskLike[] = [], errors: unknown[] = []): void {
    const count = { passed: 0, failed: errors.length, skipped: 0 };
    const stack = [...files];
    while (stack.length) {
      const t = stack.pop()!;
      if (t.type === "test") {
        const state = t.result?.state;
        if (state === "pass") count.passed++;
        else if (state === "fail") count.failed++;
        else count.skipped++;
      } else {
        // A file that failed to load has no tests: count it as a failure.
        if (t.type === "suite" && t.result?.state === "fail" && !t.tasks?.length) count.failed++;
        stack.push(...(t.tasks ?? []));
      }
    }
    process.stdout.write(`\n${count.passed} passed, ${count.failed} failed${count.skipped ? `, ${count.skipped} skipped` : ""}\n`);
  }
}
