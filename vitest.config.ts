import os from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Caches and state go to a throwaway home, not the user's ~/.amiboot.
    env: { AMIBOOT_HOME: path.join(os.tmpdir(), `amiboot-test-home-${process.pid}`) },
    reporters: ["default", "./test/summary-reporter.ts"],
    // Real boots take seconds and use both cores: test files run one after another.
    fileParallelism: false,
    projects: [
      {
        // No VM, no network, no server process: `npm run test:unit`, well under a minute.
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/fuzz/**/*.test.ts"],
          testTimeout: 10_000,
          hookTimeout: 10_000,
        },
      },
      {
        // Real boots, servers and clients.
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
