// `npm test`: type checks and lint (fail fast), then every integration test (vitest across
// the workspaces) and the browser tests against the real processes. Both suites always run,
// so one report shows everything; the last line is the total.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const dir = mkdtempSync(path.join(tmpdir(), "satellites-test-"));
const run = (label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  process.stdout.write(`\n── ${label} ──\n`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  return r.status ?? 1;
};

// The real third-party peers (peers/versions.json) first: built once per machine, reused after.
for (const [label, script] of [["peers", "peers"], ["type check", "typecheck"], ["lint", "lint"]] as const) {
  if (run(label, "npm", ["run", "-s", script]) !== 0) {
    process.stdout.write(`\n${label} failed: 0 passed, 1 failed\n`);
    process.exit(1);
  }
}

const suites = [
  { label: "integration tests", cmd: "npx", args: ["vitest", "run"] },
  { label: "attack suite (alone: it measures a tenant's latency)", cmd: "npx", args: ["vitest", "run", "--config", "vitest.alone.config.ts"] },
  { label: "browser tests (e2e)", cmd: "npm", args: ["run", "-s", "e2e"] },
];
let failedSuites = 0;
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const [i, s] of suites.entries()) {
  const summary = path.join(dir, `summary-${i}.json`);
  const status = run(s.label, s.cmd, s.args, { SATELLITES_TEST_SUMMARY: summary });
  try {
    const t = JSON.parse(readFileSync(summary, "utf8")) as typeof totals;
    totals.passed += t.passed;
    totals.failed += t.failed;
    totals.skipped += t.skipped;
  } catch {
    totals.failed += 1; // the suite did not even report
  }
  if (status !== 0) failedSuites++;
}
rmSync(dir, { recursive: true, force: true });
if (failedSuites && totals.failed === 0) totals.failed = failedSuites;
process.stdout.write(`\nall suites: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(failedSuites ? 1 : 0);
