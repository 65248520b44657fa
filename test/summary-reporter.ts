// Prints the run's totals as a plain closing line ("N passed, N failed, N skipped") that CI
// log readers recognise whatever the runner.
import { writeFileSync } from "node:fs";
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === "passed") passed++;
        else if (s === "failed") failed++;
        else skipped++;
      }
      if (m.state() === "failed" && ![...m.children.allTests()].some((t) => t.result().state === "failed")) failed++;
    }
    failed += errors.length;
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    // `npm test` adds the suites up into one closing line.
    if (process.env.SATELLITES_TEST_SUMMARY) writeFileSync(process.env.SATELLITES_TEST_SUMMARY, JSON.stringify({ passed, failed, skipped }));
  }
}
