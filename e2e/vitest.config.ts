import { defineConfig } from "vitest/config";

// Browser tests against the real processes: one global setup builds the dashboard and starts
// web, proxy and jobs (local provider) on a fresh database; tests run one file at a time.
export default defineConfig({
  test: {
    include: ["test/**/*.e2e.test.ts"],
    globalSetup: ["./global-setup.ts"],
    setupFiles: ["./test/failure-report.ts"],
    testTimeout: 240_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    pool: "forks",
    maxWorkers: 1,
    reporters: ["default", "../test/summary-reporter.ts"],
  },
});
