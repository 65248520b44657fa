// A bad value stops a real process at start-up with one clear line — no stack trace — and
// exit code 78 (EX_CONFIG), for every entry point an operator runs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
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

describe("apps/jobs/src/main.ts on a machine that cannot isolate BuildKit's build steps", () => {
  it("stops at start-up, saying what is missing and how to install it", () => {
    const caDir = mkdtempSync(path.join(tmpdir(), "startup-errors-ca-"));
    const env = { ...process.env, LOCAL_BUILDKITD: "/bin/true", LOCAL_CNI_BIN_DIR: "/nonexistent/cni", SATELLITE_CA_DIR: caDir };
    const r = spawnSync(process.execPath, ["--import", "tsx", "apps/jobs/src/main.ts"], { env, encoding: "utf8", timeout: 30_000 });
    rmSync(caDir, { recursive: true, force: true });
    expect(r.status).toBe(1);
    const fatal = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string; err?: string })
      .find((l) => l.level === 60);
    expect(fatal?.msg).toBe("cannot set up the satellite provider");
    expect(fatal?.err).toContain("not all in /nonexistent/cni");
    expect(fatal?.err).toContain("apt-get install containernetworking-plugins iptables");
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
