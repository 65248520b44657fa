// Acceptance with the real Earthly CLI (v0.8.14, built from the Go module proxy) pointed at us
// with environment variables and ~/.earthly/config.yml only: account and org commands, every
// `earthly sat` command, and `earthly --sat NAME +target` through the proxy to Earthly's own
// BuildKit fork run by the local provider; refusals name their reason and forward nothing.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { liveLeases, redisConnection } from "@satellites/queue";
import { requirePeer } from "@satellites/testing/peers";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, until } from "./processes.ts";
import { earthlyProject, earthlyWorld, SATELLITE_HOST, type EarthlyWorld } from "./earthly-world.ts";

const BIG = randomBytes(50 * 1024 * 1024);
let w: EarthlyWorld;
let redis: Redis;
let project: string;

beforeAll(async () => {
  // Idle timeouts of a few seconds are honoured (the build-longer-than-idle test needs one).
  w = await earthlyWorld({ jobsEnv: { IDLE_MIN_SECONDS: "0", RECONCILE_EVERY_MS: "3600000" }, replica: true });
  redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  project = mkdtempSync(path.join(tmpdir(), "earthly-project-"));
  earthlyProject(project, BIG);
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  await w?.close();
  if (project) rmSync(project, { recursive: true, force: true });
});

const sat = (name: string) => w.db.satellite.findFirstOrThrow({ where: { orgId: w.org.id, name }, orderBy: { createdAt: "desc" } });
const events = async (name: string) => w.db.satelliteEvent.findMany({ where: { satelliteId: (await sat(name)).id }, orderBy: { id: "asc" } });
const stateOf = async (name: string) => (await sat(name)).state;
const settled = (name: string, state: string, ms = 60_000) => until(`${name} ${state}`, async () => (await stateOf(name)) === state, ms, 100);
/** The first build of the satellite begun since `since`, once the proxy has recorded its end. */
const builtSince = (satelliteId: string, since: Date) =>
  until("the build recorded", async () => (await w.db.build.findFirst({ where: { satelliteId, startedAt: { gte: since }, endedAt: { not: null } } })) ?? undefined, 15_000, 100);

/** The proxy holds a satellite's lease for a few seconds after its last call; sleeping it while
 *  held is refused as "in use", so a test that sleeps right after a build waits that out. */
async function idle(name: string): Promise<void> {
  const id = (await sat(name)).id;
  await until(`${name} not in use`, async () => (await liveLeases(redis, id)) === 0, 30_000, 200);
}

/** Every file under dir, relative path → bytes. */
function tree(dir: string, base = dir, out = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) tree(p, base, out);
    else out.set(path.relative(base, p), readFileSync(p));
  }
  return out;
}

function expectOk(r: { code: number | null; out: string }): void {
  expect(r.code, r.out).toBe(0);
}

describe("account and organization", () => {
  it("earthly account login logs in with the API token and names the user", async () => {
    const r = await w.earthly(["account", "login"]);
    expectOk(r);
    const user = await w.db.user.findUniqueOrThrow({ where: { id: w.member.userId } });
    expect(r.out).toContain(`Logged in as "${user.email}" using token auth`);
  });

  it("account commands we do not serve say so in words the CLI prints, not as an HTML page it cannot read", async () => {
    for (const [args, said] of [
      [["account", "list-tokens"], /tokens are listed, made and revoked in the dashboard/],
      [["account", "remove-token", "ci"], /tokens are listed, made and revoked in the dashboard/],
      [["account", "list-keys"], /not offered by this Satellites installation/],
    ] as const) {
      const r = await w.earthly([...args]);
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(said);
      expect(r.out).not.toMatch(/invalid character|<!DOCTYPE|failed to decode/i);
    }
  });

  it("earthly org ls lists the token's organization", async () => {
    const r = await w.earthly(["org", "ls"]);
    expectOk(r);
    expect(r.out).toMatch(new RegExp(`^\\s*${w.org.slug}\\s+admin\\s*$`, "m"));
  });
});

describe("earthly sat commands", () => {
  it("launch creates the satellite (small) and it becomes operational", async () => {
    const r = await w.earthly(["sat", "launch", "--size", "small", "alpha"]);
    expectOk(r);
    expect(r.out).toContain('Launching Satellite "alpha"');
    const s = await sat("alpha");
    expect(s).toMatchObject({ size: "small", platform: "amd64" });
    await settled("alpha", "awake");
    expect((await events("alpha")).map((e) => e.to)).toEqual(["creating", "awake"]);
  });

  it("ls shows it (columns and --json)", async () => {
    const r = await w.earthly(["sat", "ls"]);
    expectOk(r);
    expect(r.out).toMatch(/NAME\s+PLATFORM\s+SIZE\s+VERSION\s+STATE/);
    expect(r.out).toMatch(/^\s*alpha\s+linux\/amd64\s+small\s+operational\s*$/m);
    const j = await w.earthly(["sat", "ls", "--json"]);
    expectOk(j);
    const list = JSON.parse(j.out.slice(j.out.indexOf("["))) as { name: string; state: string; platform: string; size: string }[];
    expect(list).toEqual([expect.objectContaining({ name: "alpha", state: "Operational", platform: "linux/amd64", size: "small" })]);
  });

  it("inspect shows it and reaches its BuildKit through the proxy", async () => {
    const r = await w.earthly(["sat", "inspect", "alpha"]);
    expectOk(r);
    expect(r.out).toContain(`Address: ${SATELLITE_HOST}:${w.proxyPort}`);
    expect(r.out).toContain("State: Operational");
    expect(r.out).toContain("Size: small");
    expect(r.out).toContain("Version github.com/earthly/buildkit");
    expect(r.out).not.toContain("non-Earthly version");
    expect(r.out).toMatch(/GC stats:/);
  });

  it("sleep puts it to sleep; wake wakes it", async () => {
    await idle("alpha");
    const s = await w.earthly(["sat", "sleep", "alpha"]);
    expectOk(s);
    expect(s.out).toContain("alpha is going to sleep");
    expect(await stateOf("alpha")).toBe("asleep");
    const k = await w.earthly(["sat", "wake", "alpha"]);
    expectOk(k);
    expect(k.out).toMatch(/alpha.*(waking|awake)/i);
    expect(await stateOf("alpha")).toBe("awake");
    const tail = (await events("alpha")).slice(-4);
    expect(tail.map((e) => e.to)).toEqual(["stopping", "asleep", "starting", "awake"]);
    expect(tail[0]!.actor).toMatch(/^(token|user):/);
  });

  it("update --size medium: refused while awake, done with --force (sleeps first), and done while asleep", async () => {
    const refused = await w.earthly(["sat", "update", "--size", "medium", "alpha"]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain("The satellite must be asleep to start the update");
    expect(await sat("alpha")).toMatchObject({ size: "small", state: "awake" });

    await idle("alpha");
    const forced = await w.earthly(["sat", "update", "--force", "--size", "medium", "alpha"]);
    expectOk(forced);
    expect((await sat("alpha")).size).toBe("medium");

    await settled("alpha", "asleep");
    const asleep = await w.earthly(["sat", "update", "--size", "large", "alpha"]);
    expectOk(asleep);
    expect(await sat("alpha")).toMatchObject({ size: "large" });
    const sizes = (await w.earthly(["sat", "ls"])).out;
    expect(sizes).toMatch(/^\s*alpha\s+linux\/amd64\s+large\s+/m);
  });

  it("rm refuses an awake satellite without --force, and deletes it with --force", async () => {
    await w.earthly(["sat", "wake", "alpha"]);
    await settled("alpha", "awake");
    const refused = await w.earthly(["sat", "rm", "alpha"]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain("Cannot destroy a running satellite");
    expect(await stateOf("alpha")).toBe("awake");
    const forced = await w.earthly(["sat", "rm", "--force", "alpha"]);
    expectOk(forced);
    expect(forced.out).toContain('Destroying Satellite "alpha"');
    await settled("alpha", "deleted");
    expect((await events("alpha")).map((e) => e.to).slice(-2)).toEqual(["deleting", "deleted"]);
    expect((await w.earthly(["sat", "ls"])).out).not.toMatch(/^\s*alpha\s/m);
  });
});

/** The same target built straight against Earthly's buildkitd, no proxy: the reference output. */
async function buildDirect(): Promise<Map<string, Buffer>> {
  const port = await freePort();
  const root = mkdtempSync(path.join(tmpdir(), "direct-buildkit-"));
  const daemon = spawn(requirePeer("earthly-buildkit", "buildkitd"), ["--addr", `tcp://${SATELLITE_HOST}:${port}`, "--root", root, "--oci-worker-net", "host"], { stdio: "ignore" });
  const dir = mkdtempSync(path.join(tmpdir(), "direct-project-"));
  try {
    earthlyProject(dir, BIG);
    const r = await w.earthly(["--buildkit-host", `tcp://${SATELLITE_HOST}:${port}`, "+build"], { cwd: dir, env: { EARTHLY_TOKEN: "" } });
    expectOk(r);
    return tree(path.join(dir, "out"));
  } finally {
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.once("exit", r));
    rmSync(root, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("earthly --sat NAME +target", () => {
  let reference: Map<string, Buffer>;

  beforeAll(async () => {
    reference = await buildDirect();
    expect(reference.get("big.bin")?.equals(BIG)).toBe(true);
    expect(reference.get("sums.txt")?.toString()).toMatch(/^[0-9a-f]{64}\s+\/data\/big\.bin$/m);
    expect(await w.earthly(["sat", "launch", "--size", "small", "beta"])).toMatchObject({ code: 0 });
    await settled("beta", "awake");
  }, 300_000);

  const build = async (name = "beta") => {
    rmSync(path.join(project, "out"), { recursive: true, force: true });
    const r = await w.earthly(["--sat", name, "+build"], { cwd: project, timeoutMs: 240_000 });
    expectOk(r);
    expect(r.out).toContain("Earthly Build  ✅ SUCCESS");
    return tree(path.join(project, "out"));
  };

  it("builds through the proxy; artifacts are byte-identical to a build without the proxy", async () => {
    const before = await w.forwardedBytes();
    const since = new Date();
    const out = await build();
    expect([...out.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [file, bytes] of reference) expect(out.get(file)?.equals(bytes), file).toBe(true);
    // The 50 MB file went through the proxy.
    expect((await w.forwardedBytes()) - before).toBeGreaterThan(50 * 1024 * 1024);
    // The satellite was awake: no wait on the build's record.
    const satelliteId = (await sat("beta")).id;
    const row = await builtSince(satelliteId, since);
    expect(row.wakeWaitMs).toBeNull();
    // The CLI names no client of its own (grpc-go's user agent): its reserve says whose build it is.
    expect(row.client).toBe("earthly");
  }, 300_000);

  it("a RUN step has a network of its own: the control plane's Redis on the host's loopback is out of its reach", async () => {
    // This very world's Redis (queues, leases): a step that reached it could wake, sleep or
    // delete any tenant's satellite.
    const redisPort = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379").port || "6379";
    const dir = mkdtempSync(path.join(tmpdir(), "earthly-probe-"));
    try {
      copyFileSync("/usr/bin/busybox", path.join(dir, "busybox"));
      const probe = `(echo PING; sleep 1) | nc -w 2 127.0.0.1 ${redisPort} > /probe/redis.txt 2>&1; echo rc=$? >> /probe/redis.txt; ip -4 addr > /probe/addr.txt`;
      writeFileSync(path.join(dir, "Earthfile"), `VERSION 0.8\nprobe:\n    FROM scratch\n    COPY busybox /bin/busybox\n    COPY busybox /bin/sh\n    RUN busybox --install -s /bin && mkdir /probe && ${probe}\n    SAVE ARTIFACT /probe AS LOCAL out\n`);
      expectOk(await w.earthly(["--sat", "beta", "+probe"], { cwd: dir, timeoutMs: 240_000 }));
      const redisReply = readFileSync(path.join(dir, "out/redis.txt"), "utf8");
      expect(redisReply).not.toContain("PONG");
      expect(redisReply).toMatch(/rc=1/);
      expect(readFileSync(path.join(dir, "out/addr.txt"), "utf8")).toMatch(/inet 10\.\d+\.\d+\.\d+\/24/);
      // The host itself does answer PING on that port (the control: the probe works).
      expect(await redis.ping()).toBe("PONG");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  // `RUN --privileged` needs BuildKit's security.insecure entitlement: a privileged step may
  // leave its sandbox (mount the host's devices, change its network). A user's `--allow-privileged`
  // asks for it; the satellite's daemon grants it to no one.
  it("a privileged RUN step is refused, even with --allow-privileged", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "earthly-privileged-"));
    try {
      copyFileSync("/usr/bin/busybox", path.join(dir, "busybox"));
      writeFileSync(path.join(dir, "Earthfile"), "VERSION 0.8\npriv:\n    FROM scratch\n    COPY busybox /bin/sh\n    RUN --privileged /bin/sh -c 'echo inside'\n");
      const r = await w.earthly(["--allow-privileged", "--sat", "beta", "+priv"], { cwd: dir, timeoutMs: 240_000 });
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(/security\.insecure is not allowed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("a RUN step whose write finds no space: the build fails with the step's exit code, and its record is marked out of space", async () => {
    // The same words a full disk gives (ENOSPC), from /dev/full: what the proxy reads is the
    // step's output in the CLI's Status stream (apps/proxy/test/buildkit-disk-full.test.ts fills
    // a real disk, with buildctl).
    const dir = mkdtempSync(path.join(tmpdir(), "earthly-nospace-"));
    try {
      copyFileSync("/usr/bin/busybox", path.join(dir, "busybox"));
      writeFileSync(path.join(dir, "Earthfile"), "VERSION 0.8\nfull:\n    FROM scratch\n    COPY busybox /bin/busybox\n    COPY busybox /bin/sh\n    RUN busybox --install -s /bin && dd if=/dev/zero of=/dev/full bs=1k count=1\n");
      const satelliteId = (await sat("beta")).id;
      const since = new Date();
      const r = await w.earthly(["--sat", "beta", "+full"], { cwd: dir, timeoutMs: 240_000 });
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(/No space left on device/);
      const row = await builtSince(satelliteId, since);
      expect(row.grpcCode).not.toBe(0);
      expect(row.error ?? "").not.toMatch(/no space left on device/i);
      expect(row.stepOutOfSpace).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("against an asleep satellite: wakes it exactly once and succeeds", async () => {
    await idle("beta");
    expectOk(await w.earthly(["sat", "sleep", "beta"]));
    const wakesBefore = (await events("beta")).filter((e) => e.to === "starting").length;
    const since = new Date();
    const out = await build();
    expect(out.get("big.bin")?.equals(BIG)).toBe(true);
    expect((await events("beta")).filter((e) => e.to === "starting").length).toBe(wakesBefore + 1);
    // The CLI waited in ReserveSatellite, before it dialed BuildKit: its build's record says so.
    const satelliteId = (await sat("beta")).id;
    const row = await builtSince(satelliteId, since);
    expect(row.wakeWaitMs, "the build's wait for the wake").toBeGreaterThan(0);
    expect(row.client).toBe("earthly");
  }, 300_000);

  it("its reserve answered by another proxy replica (a load balancer in front of two): the build still takes the reserve's wait and is the CLI's", async () => {
    await idle("beta");
    expectOk(await w.earthly(["sat", "sleep", "beta"]));
    const since = new Date();
    rmSync(path.join(project, "out"), { recursive: true, force: true });
    // The CLI reserves (and wakes) through the second replica's Earthly API, which hands it the first's address.
    const r = await w.earthly(["--sat", "beta", "+build"], { cwd: project, timeoutMs: 240_000, env: { EARTHLY_GRPC_ADDRESS: `127.0.0.1:${w.replicaApiPort}` } });
    expectOk(r);
    const row = await builtSince((await sat("beta")).id, since);
    expect(row.wakeWaitMs, "the build's wait for the wake").toBeGreaterThan(0);
    expect(row.client).toBe("earthly");
  }, 300_000);

  it("3 concurrent builds against an asleep satellite: one wake, all succeed", async () => {
    await idle("beta");
    expectOk(await w.earthly(["sat", "sleep", "beta"]));
    const wakesBefore = (await events("beta")).filter((e) => e.to === "starting").length;
    const dirs = [0, 1, 2].map(() => mkdtempSync(path.join(tmpdir(), "earthly-concurrent-")));
    try {
      dirs.forEach((d) => earthlyProject(d, BIG));
      const results = await Promise.all(dirs.map((d) => w.earthly(["--sat", "beta", "+build"], { cwd: d, timeoutMs: 240_000 })));
      results.forEach(expectOk);
      for (const d of dirs) expect(readFileSync(path.join(d, "out/big.bin")).equals(BIG)).toBe(true);
    } finally {
      dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
    }
    expect((await events("beta")).filter((e) => e.to === "starting").length).toBe(wakesBefore + 1);
  }, 400_000);

  it("a build longer than the idle timeout is not cut (the satellite sleeps only after it)", async () => {
    const idleSeconds = 3;
    await w.db.satellite.update({ where: { id: (await sat("beta")).id }, data: { idleTimeoutSeconds: idleSeconds } });
    const dir = mkdtempSync(path.join(tmpdir(), "earthly-long-"));
    try {
      earthlyProject(dir, Buffer.from("long build\n"), { sleepSeconds: 3 * idleSeconds });
      const r = await w.earthly(["--sat", "beta", "+build"], { cwd: dir, timeoutMs: 240_000 });
      expectOk(r);
      const sleeps = (await events("beta")).filter((e) => e.to === "stopping" && e.cause === "idle");
      expect(sleeps).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The idle timeout itself works: with the build over, the satellite goes to sleep.
    await settled("beta", "asleep", 60_000);
  }, 300_000);
});

describe("refusals: a clear reason, a non-zero exit, nothing forwarded", () => {
  const refused = async (args: string[], reason: RegExp, env: Record<string, string> = {}) => {
    const before = await w.forwardedBytes();
    const r = await w.earthly(args, { cwd: project, env, timeoutMs: 120_000 });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(reason);
    expect(await w.forwardedBytes()).toBe(before);
    return r;
  };

  it("a deleted satellite", async () => {
    expectOk(await w.earthly(["sat", "launch", "--size", "small", "gone"]));
    await settled("gone", "awake");
    expectOk(await w.earthly(["sat", "rm", "--force", "gone"]));
    await settled("gone", "deleted");
    await refused(["--sat", "gone", "+build"], /satellite "gone" not found/);
  });

  it("a failed satellite", async () => {
    expectOk(await w.earthly(["sat", "launch", "--size", "small", "broken"]));
    await settled("broken", "awake");
    await idle("broken");
    await w.db.satellite.update({ where: { id: (await sat("broken")).id }, data: { state: "failed", failureReason: "disk full on the test machine", version: { increment: 1 } } });
    const eventsBefore = (await events("broken")).length;
    // ReserveSatellite ends with ABORTED and the reason (no FAILED message, at which the CLI
    // would stop with words of its own); the CLI does not retry ABORTED and prints the reason.
    const r = await refused(["--sat", "broken", "+build"], /satellite "broken" failed: disk full on the test machine; retry it with `earthly sat wake` or from the dashboard/);
    expect(r.out).not.toMatch(/retrying connection/);
    // A build does not retry a failed machine: no wake, still failed.
    expect(await stateOf("broken")).toBe("failed");
    expect((await events("broken")).length).toBe(eventsBefore);
  });

  it("another organization's satellite", async () => {
    const { makeOrg } = await import("@satellites/testing");
    const other = await makeOrg(w.db, "other");
    const stranger = await w.newMember(other.id);
    // The other organization's member launches one; ours cannot see or reach it.
    expectOk(await w.earthly(["sat", "launch", "--size", "small", "theirs"], { env: { EARTHLY_TOKEN: stranger.apiToken, EARTHLY_ORG: other.slug } }));
    await until("theirs awake", async () => (await w.db.satellite.findFirst({ where: { orgId: other.id, name: "theirs" } }))?.state === "awake", 60_000);
    await refused(["--sat", "theirs", "+build"], /satellite "theirs" not found/);
  });

  it("the wrong organization", async () => {
    const { makeOrg } = await import("@satellites/testing");
    const other = await makeOrg(w.db, "notmine");
    await refused(["--sat", "beta", "+build"], new RegExp(`invalid org provided: org not found: ${other.slug}`), { EARTHLY_ORG: other.slug });
  });

  it("a revoked token", async () => {
    const m = await w.newMember(w.org.id);
    await w.db.apiToken.update({ where: { id: m.apiTokenId }, data: { revokedAt: new Date() } });
    // The CLI prints no server message for a 401 on login, only "unauthorized".
    await refused(["--sat", "beta", "+build"], /unable to authenticate: failed to execute login request: unauthorized/, { EARTHLY_TOKEN: m.apiToken });
  });
});
