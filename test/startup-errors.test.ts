// A bad value stops a real process at start-up with one clear line — no stack trace — and
// exit code 78 (EX_CONFIG), for every entry point an operator runs.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const entries = ["scripts/start.ts", "scripts/migrate.ts", "apps/jobs/src/main.ts", "apps/web/server.mjs"];

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
  /** Starts the jobs process with a (never run) buildkitd; its fatal line and what it printed on stderr. */
  function startJobs(over: Record<string, string>): { status: number | null; fatal?: { msg: string; err?: string }; stderr: string } {
    const caDir = mkdtempSync(path.join(tmpdir(), "startup-errors-ca-"));
    const env = { ...process.env, LOCAL_BUILDKITD: "/bin/true", SATELLITE_CA_DIR: caDir, ...over };
    const r = spawnSync(process.execPath, ["--import", "tsx", "apps/jobs/src/main.ts"], { env, encoding: "utf8", timeout: 30_000 });
    rmSync(caDir, { recursive: true, force: true });
    const fatal = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string; err?: string })
      .find((l) => l.level === 60);
    return { status: r.status, fatal, stderr: r.stderr };
  }

  it("stops at start-up, saying what is missing and how to install it", () => {
    const r = startJobs({ LOCAL_CNI_BIN_DIR: "/nonexistent/cni" });
    expect(r.status).toBe(1);
    expect(r.fatal?.msg).toBe("cannot set up the satellite provider");
    expect(r.fatal?.err).toContain("not all in /nonexistent/cni");
    expect(r.fatal?.err).toContain("apt-get install containernetworking-plugins iptables");
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it.runIf(process.getuid?.() === 0)("stops at start-up when the satellites' bridge subnets overlap the host's own network, naming the route and the ports", () => {
    // The host's LAN on 10.84.0.0/16: the /24s of ports 21504-21759 under the default range.
    const lan = `satlan${process.pid % 10_000}`;
    execFileSync("ip", ["link", "add", lan, "type", "bridge"]);
    try {
      execFileSync("ip", ["addr", "add", "10.84.3.1/16", "dev", lan]);
      execFileSync("ip", ["link", "set", lan, "up"]);
      const r = startJobs({});
      expect(r.status).toBe(1);
      expect(r.fatal?.msg).toBe("cannot set up the satellite provider");
      expect(r.fatal?.err).toContain(`overlap routes this host already has: 10.84.0.0/16 on ${lan} (ports 21504-21759)`);
      expect(r.fatal?.err).toContain("set LOCAL_BUILDKIT_SUBNETS to a range the host does not use");
    } finally {
      execFileSync("ip", ["link", "del", lan]);
    }
  });
});
