// Prints the run's totals as a plain closing line ("N passed, N failed, N skipped") that CI
// log readers recognise whatever the runner, and hands `npm test` the failed tests' names and
// first error lines: a CI log is often read from its end only, so the closing lines must say
// what failed, not just how many.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

const firstLine = (errors: ReadonlyArray<{ message?: string }> | undefined) =>
  (errors?.[0]?.message ?? "").split("\n").find((l) => l.trim())?.trim().slice(0, 200) ?? "";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let skipped = 0;
    const failures: string[] = [];
    for (const m of modules) {
      const file = path.relative(process.cwd(), m.moduleId);
      for (const t of m.children.allTests()) {
        const r = t.result();
        if (r.state === "passed") passed++;
        else if (r.state === "failed") failures.push(`${file} > ${t.fullName}: ${firstLine(r.errors)}`);
        else skipped++;
      }
      if (m.state() === "failed" && ![...m.children.allTests()].some((t) => t.result().state === "failed")) {
        failures.push(`${file} (the file itself): ${firstLine(m.errors())}`);
      }
    }
    for (const e of errors) failures.push(`unhandled: ${firstLine([e as { message?: string }])}`);
    const failed = failures.length;
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    for (const f of failures) process.stdout.write(`  failed: ${f}\n`);
    // `npm test` adds the suites up into one closing line, after the names of what failed.
    if (process.env.SATELLITES_TEST_SUMMARY) writeFileSync(process.env.SATELLITES_TEST_SUMMARY, JSON.stringify({ passed, failed, skipped, failures }));
  }
}
