// A bad value stops a real process at start-up with one clear line — no stack trace — and
// exit code 78 (EX_CONFIG), for every entry point an operator runs.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const entries = ["scripts/start.ts", "scripts/migrate.ts", "apps/jobs/src/main.ts"];

describe.each(entries)("%s", (entry) => {
  it.each([
    [{ DATABASE_URL: "mysql://localhost/db" }, /^Invalid configuration: DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\/ \(got "mysql:\/\/localhost\/db"\)$/],
    [{ PROVIDER: "gcp" }, /^Invalid configuration: PROVIDER must be one of local, ec2 \(got "gcp"\)$/],
  ])("%o", (bad, expected) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", entry], { env: { ...process.env, ...bad }, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(78);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
