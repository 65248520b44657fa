// `npm test`: type checks and lint (fail fast), then every integration test (vitest across
// the workspaces), the attack suite, the front door's suites on Node 22, and the browser tests
// against the real processes. Every suite always runs, so one report shows everything; the
// last lines name what failed, then the total.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PEER_BUILD_COMMAND, peerPath } from "@satellites/testing/peers";

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

// The front door's suites again on Node 22 (peer node22), the runtime docs/deployment.md
// recommends: what a runtime changes under the proxy is nghttp2 (1.61 on 20, 1.69 on 22) and
// OpenSSL, and some of the proxy's answers depend on nghttp2's version. Every process those
// tests start runs on the Node that runs them.
const FRONT_DOOR = ["h2spec", "grpc-interop", "transparency", "headers", "metadata", "tenancy", "lingering-close", "drain", "certificate-calls", "upstream-resets", "unreachable"].map((f) => `apps/proxy/test/${f}.test.ts`);
const node22 = peerPath("node22");
const onNode22 = (args: string[]) =>
  node22
    ? { cmd: node22, args: [path.join("node_modules", "vitest", "vitest.mjs"), "run", ...args], env: { PATH: `${path.dirname(node22)}:${process.env.PATH}` } }
    : { cmd: "sh", args: ["-c", `echo 'peer node22 is not built on this machine; build it with: ${PEER_BUILD_COMMAND} -- node22'; exit 1`] };

const suites: { label: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv }[] = [
  { label: "integration tests", cmd: "npx", args: ["vitest", "run"] },
  { label: "attack suite (alone: it measures a tenant's latency)", cmd: "npx", args: ["vitest", "run", "--config", "vitest.alone.config.ts"] },
  { label: "the front door on Node 22", ...onNode22(FRONT_DOOR) },
  { label: "attack suite on Node 22", ...onNode22(["--config", "vitest.alone.config.ts"]) },
  { label: "browser tests (e2e)", cmd: "npm", args: ["run", "-s", "e2e"] },
];
let failedSuites = 0;
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];
for (const [i, s] of suites.entries()) {
  const summary = path.join(dir, `summary-${i}.json`);
  const status = run(s.label, s.cmd, s.args, { ...s.env, SATELLITES_TEST_SUMMARY: summary });
  const before = failures.length;
  try {
    const t = JSON.parse(readFileSync(summary, "utf8")) as typeof totals & { failures?: string[] };
    totals.passed += t.passed;
    totals.failed += t.failed;
    totals.skipped += t.skipped;
    for (const f of t.failures ?? []) failures.push(`${s.label}: ${f}`);
  } catch {
    totals.failed += 1; // the suite did not even report
  }
  if (status !== 0) failedSuites++;
  if (status !== 0 && failures.length === before) failures.push(`${s.label}: exited ${status}, no failed test named (see its output above)`);
}
rmSync(dir, { recursive: true, force: true });
if (failedSuites && totals.failed === 0) totals.failed = failedSuites;
// What failed, right above the total: a log read from its end names it.
if (failures.length) process.stdout.write(`\nfailed:\n${failures.map((f) => `  ${f}`).join("\n")}\n`);
process.stdout.write(`\nall suites: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(failedSuites ? 1 : 0);
