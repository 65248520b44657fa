import { defineConfig } from "vitest/config";

/** Suites that measure a tenant's latency under attack: run alone (vitest.alone.config.ts), on a machine nothing else in the run is loading. */
export const ALONE = ["apps/proxy/test/attacks.test.ts"];

// One run across the workspaces. The global setup creates a fresh, migrated database for
// this run and checks that Redis answers; every test file gets DATABASE_URL pointing at it.
export default defineConfig({
  test: {
    include: ["{apps,packages}/*/test/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", ...ALONE],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more forks only add contention to the process-level races we test.
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
