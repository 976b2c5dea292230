import os from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real boots take seconds and use both cores: run files one after another.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // Caches and state go to a throwaway home, not the user's ~/.amiboot.
    env: { AMIBOOT_HOME: path.join(os.tmpdir(), `amiboot-test-home-${process.pid}`) },
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
