// One chaos run: a private Postgres and Redis, the EC2 emulator (AWS's throttling on, faults
// injected), two jobs processes and two proxies, all real. A seeded plan of intents (create,
// limits, resize, calls, long streams, sleep, idle, delete, wake) runs through the product's
// own lifecycle functions and proxies while processes are SIGKILLed, Redis and Postgres are
// crashed and restarted, and EC2 answers with errors or not at all. Then everything is brought
// back, the run settles for two reconcile periods, and the invariants are checked.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultLimits, type Limits, type PlatformName, type SizeName } from "@satellites/catalog";
import { createDb, type Db, type Satellite } from "@satellites/db";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { EMULATOR_AMIS, startEmulator, type Emulator } from "@satellites/ec2-emulator";
import { freePort, TEST_CREDENTIALS } from "@satellites/ec2-emulator/testing";
import { requestDelete, requestLaunch, requestLimits, requestResize, requestSleep, requestWake } from "@satellites/lifecycle";
import { loadOrCreateCa } from "@satellites/pki";
import { createQueues, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { generateToken } from "@satellites/tokens";
import type { Redis } from "ioredis";
import { ProxyClients, type CallRecord } from "./calls.ts";
import { check, describeCall, type Findings, type Kill } from "./invariants.ts";
import { makePlan, type Fault, type Intent, type Plan } from "./plan.ts";
import { jobsMember, proxyMember, type Member } from "./processes.ts";
import { startPostgres, startRedis, type PrivatePostgres, type PrivateRedis } from "./services.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TINY_HEALTH = `${process.execPath} ${path.join(ROOT, "packages/testing/src/tiny-health.mjs")} --host {host} --port {port} --tls-ca {tlsCa} --tls-cert {tlsCert} --tls-key {tlsKey}`;

export interface ChaosOptions {
  seed: number;
  intents: number;
  /** The jobs' reconcile period; the settle lasts two of them. */
  reconcileMs: number;
  /** At most this many live satellites (a create beyond it becomes a call). */
  maxSatellites: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  counters: Record<string, number | string>;
  findings: Findings;
}

const SIZES: SizeName[] = ["xsmall", "small", "medium"];
const ACTOR = "user:chaos";

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? (() => {});
  const plan = makePlan(opts.seed, opts.intents);
  const dir = mkdtempSync(path.join(tmpdir(), "satellites-chaos-"));
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const pg = await startPostgres(dir);
    cleanup.push(() => pg.stop());
    const redis = await startRedis(dir);
    cleanup.push(() => redis.stop());
    const databaseUrl = pg.urlFor("satellites_chaos");
    await ensureDatabase(databaseUrl);
    await migrate(databaseUrl);
    const caDir = path.join(dir, "ca");
    await loadOrCreateCa(caDir);
    const emu = await startEmulator({ satellitePort: await freePort(), command: TINY_HEALTH });
    cleanup.push(() => emu.close());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? "error",
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: "chaos",
      SATELLITE_CA_DIR: caDir,
      PROVIDER: "ec2",
      AWS_ENDPOINT_URL_EC2: emu.endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      EC2_AMI_AMD64: EMULATOR_AMIS.amd64,
      EC2_AMI_ARM64: EMULATOR_AMIS.arm64,
      SATELLITE_PORT: String(emu.satellitePort),
      RECONCILE_EVERY_MS: String(opts.reconcileMs),
      IDLE_SCAN_EVERY_MS: "1000",
      IDLE_MIN_SECONDS: "0",
      ORPHAN_GRACE_SECONDS: "10",
      JOBS_LOCK_MS: "5000",
      PROXY_WAKE_TIMEOUT_MS: "60000",
    };
    const jobs = [await jobsMember("jobs-0", env), await jobsMember("jobs-1", env)];
    const proxies = [await proxyMember("proxy-0", env), await proxyMember("proxy-1", env)];
    const members = [...jobs, ...proxies];
    cleanup.push(() => Promise.all(members.map((m) => m.stop())));
    await Promise.all(members.map((m) => m.start()));
    log(`up: postgres, redis, emulator ${emu.endpoint}, ${members.map((m) => m.name).join(", ")}`);

    const world = await World.open(databaseUrl, redis.url);
    cleanup.push(() => world.close());
    const clients = new ProxyClients(proxies.map((p) => p.port!));
    cleanup.push(async () => clients.close());
    const result = await drive({ plan, opts, world, clients, jobs, proxies, pg, redis, emu, log });
    return result;
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The driver's own handles: the database, queues and a tenant with its token. */
class World {
  private constructor(
    readonly db: Db,
    readonly redis: Redis,
    readonly queues: SatelliteQueues,
    readonly orgId: string,
    readonly token: string,
  ) {}

  static async open(databaseUrl: string, redisUrl: string): Promise<World> {
    const db = createDb(databaseUrl);
    const redis = redisConnection(redisUrl);
    const queues = createQueues(redis, "chaos");
    const org = await db.organization.create({ data: { id: randomUUID(), name: "chaos", slug: "chaos" } });
    const { token, prefix, hash } = generateToken();
    await db.apiToken.create({ data: { orgId: org.id, name: "chaos", prefix, hash } });
    return new World(db, redis, queues, org.id, token);
  }

  async close(): Promise<void> {
    await this.queues.close();
    this.redis.disconnect();
    await this.db.$disconnect();
  }
}

interface DriveDeps {
  plan: Plan;
  opts: ChaosOptions;
  world: World;
  clients: ProxyClients;
  jobs: Member[];
  proxies: Member[];
  pg: PrivatePostgres;
  redis: PrivateRedis;
  emu: Emulator;
  log: (line: string) => void;
}

async function drive(d: DriveDeps): Promise<ChaosResult> {
  const { plan, world, log } = d;
  const calls: CallRecord[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    const q = p.catch(() => {}).finally(() => inFlight.delete(q));
    inFlight.add(q);
  };
  const counters = { intents: 0, intent_errors: 0, kills: 0, redis_restarts: 0, pg_restarts: 0, ec2_faults: 0 };
  const proxyKills: Kill[] = [];
  let created = 0;
  let faultIndex = 0;
  const began = Date.now();

  for (const [i, intent] of plan.intents.entries()) {
    await sleep(intent.gapMs);
    while (plan.faults[faultIndex]?.atIntent === i) {
      const f = plan.faults[faultIndex++]!;
      track(inject(f, d, counters, proxyKills, log));
    }
    counters.intents++;
    const p = perform(intent, d, calls, () => created++).catch((err: unknown) => {
      counters.intent_errors++;
      log(`intent ${i} ${intent.kind} failed: ${(err as Error).message.split("\n")[0]}`);
    });
    track(p);
    // Lifecycle intents are quick; calls and streams run on while the next intents come.
    if (intent.kind !== "call" && intent.kind !== "stream") await Promise.race([p, sleep(5_000)]);
  }
  log(`${counters.intents} intents in ${Math.round((Date.now() - began) / 1000)} s; waiting for ${inFlight.size} calls and faults to end`);
  while (inFlight.size) await Promise.all([...inFlight]);

  // Settle: every process back, EC2 healthy again, then two reconcile periods.
  await Promise.all([...d.jobs, ...d.proxies].map((m) => m.start()));
  d.emu.control.reset();
  const settleMs = 2 * d.opts.reconcileMs;
  log(`settling for ${settleMs} ms`);
  const settledFrom = new Date();
  await sleep(settleMs);
  const findings = await check(world.db, d.emu.control.instances(), calls, proxyKills, d.emu.satellitePort, settledFrom);
  const tally = (kind: string) => {
    const codes: Record<string, number> = {};
    for (const c of calls.filter((x) => x.kind === kind)) {
      const k = `${c.code === "hung" ? "hung" : grpc.status[c.code]}${c.kind === "stream" && c.servedAt === null && c.code !== "hung" ? " (never served)" : ""}`;
      codes[k] = (codes[k] ?? 0) + 1;
    }
    return JSON.stringify(codes);
  };
  log(`calls: ${tally("call")}; streams: ${tally("stream")}`);
  const why: Record<string, number> = {};
  for (const c of calls) if (c.code !== 0) why[c.details.slice(0, 100)] = (why[c.details.slice(0, 100)] ?? 0) + 1;
  log(`why calls did not succeed: ${JSON.stringify(why)}`);
  for (const c of calls) {
    if (c.kind !== "stream" || c.servedAt === null || c.code === 0) continue;
    const killed = proxyKills.some((k) => k.proxy === c.proxy && k.at >= c.servedAt! && k.at <= c.ended + 1000);
    log(`stream cut (any cause): ${describeCall(c)}${killed ? "; its proxy was killed" : ""}`);
  }
  const cut = calls.filter((c) => c.kind === "stream" && c.servedAt !== null && c.code !== 0).length;
  return {
    counters: {
      seed: plan.seed,
      ...counters,
      stuck: findings.stuck.length,
      orphans: findings.orphans.length,
      history_violations: findings.history_violations.length,
      builds_cut_by_sleep: findings.builds_cut_by_sleep.length,
      calls_without_clear_status: findings.calls_without_clear_status.length,
      limits_mismatch: findings.limits_mismatch.length,
      satellites: created,
      calls: calls.filter((c) => c.kind === "call").length,
      streams: calls.filter((c) => c.kind === "stream").length,
      streams_served: calls.filter((c) => c.kind === "stream" && c.servedAt !== null).length,
      streams_cut_any_cause: cut,
      seconds: Math.round((Date.now() - began) / 1000),
    },
    findings,
  };
}

async function inject(f: Fault, d: DriveDeps, counters: Record<string, number>, proxyKills: Kill[], log: (l: string) => void): Promise<void> {
  switch (f.kind) {
    case "killProxy":
    case "killJobs": {
      const m = (f.kind === "killProxy" ? d.proxies : d.jobs)[f.which]!;
      if (!m.alive()) return;
      await m.kill9();
      counters.kills!++;
      if (f.kind === "killProxy") proxyKills.push({ proxy: f.which, at: Date.now() });
      log(`SIGKILL ${m.name}; back in ${f.downMs} ms`);
      await sleep(f.downMs);
      await m.start();
      return;
    }
    case "redis":
      counters.redis_restarts!++;
      log("redis: crash and restart");
      await d.redis.restart();
      return;
    case "postgres":
      counters.pg_restarts!++;
      log("postgres: crash and restart");
      await d.pg.restart();
      return;
    case "ec2": {
      counters.ec2_faults! += f.count;
      log(`ec2: ${f.ec2} × ${f.count}`);
      if (f.ec2 === "timeout") d.emu.control.failNext({ hangMs: 25_000, count: f.count, actions: ["RunInstances", "StartInstances", "StopInstances", "ModifyInstanceAttribute", "TerminateInstances", "DescribeInstances"] });
      else if (f.ec2 === "IncorrectInstanceState") d.emu.control.failNext({ code: "IncorrectInstanceState", count: f.count, actions: ["StartInstances", "StopInstances", "ModifyInstanceAttribute"] });
      else if (f.ec2 === "RequestLimitExceeded") d.emu.control.failNext({ code: "RequestLimitExceeded", status: 503, count: f.count, actions: ["RunInstances", "StartInstances", "StopInstances", "DescribeInstances", "ModifyInstanceAttribute"] });
      else d.emu.control.failNext({ code: "InsufficientInstanceCapacity", count: f.count });
      return;
    }
  }
}

async function perform(intent: Intent, d: DriveDeps, calls: CallRecord[], nextName: () => number): Promise<void> {
  const { world } = d;
  const live = await world.db.satellite.findMany({ where: { orgId: world.orgId, state: { not: "deleted" } }, orderBy: { createdAt: "asc" } });
  const target: Satellite | undefined = live[intent.target % Math.max(1, live.length)];
  let kind = intent.kind;
  if (kind === "create" && live.length >= d.opts.maxSatellites) kind = "call";
  if (kind !== "create" && !target) kind = "create";
  const size = SIZES[intent.arg % SIZES.length]!;
  switch (kind) {
    case "create": {
      const n = nextName();
      // The shortest idle timeout there is: idle sleeps race with builds all through a long run.
      await requestLaunch(world.db, world.queues, { orgId: world.orgId, name: `c${n}`, size, platform: intent.arg % 7 === 0 ? "arm64" : "amd64", provider: "ec2", idleTimeoutSeconds: 60, actor: ACTOR });
      return;
    }
    case "limits": {
      const s = target!;
      const sz = s.size as SizeName;
      const base = defaultLimits(sz, 60);
      const limits: Limits = {
        ...base,
        cpuPercent: 10 + (intent.arg % 86),
        memoryMiB: 256 + (intent.arg % (base.memoryMiB - 256)),
        swapMiB: (intent.arg % 4) * 256,
        oomScoreAdj: -(intent.arg % 1000),
      };
      await requestLimits(world.db, world.queues, s, limits);
      return;
    }
    case "resize": {
      const s = target!;
      const platform: PlatformName = intent.arg % 5 === 0 ? (s.platform === "amd64" ? "arm64" : "amd64") : (s.platform as PlatformName);
      await requestResize(world.db, world.queues, s, { size, platform, force: intent.force, actor: ACTOR });
      return;
    }
    case "sleep":
      await requestSleep(world.db, world.queues, target!, { cause: "manual", actor: ACTOR });
      return;
    case "idle":
      // Time passes: the satellite's last activity is now its idle timeout ago (as for a build
      // stream open longer than that, whose activity was recorded when it began). The idle
      // scan takes it within a second, unless a proxy holds a lease on it.
      await world.db.$executeRaw`UPDATE satellite SET "lastActivityAt" = (now() AT TIME ZONE 'UTC') - make_interval(secs => "idleTimeoutSeconds" + 1) WHERE id = ${target!.id} AND state = 'awake'`;
      return;
    case "delete":
      await requestDelete(world.db, world.queues, target!, { actor: ACTOR, force: intent.force });
      return;
    case "wake":
      await requestWake(world.db, world.queues, target!.id, { cause: "manual", actor: ACTOR });
      return;
    case "call": {
      const s = target!;
      calls.push(await d.clients.call(replica(d.proxies, intent.arg), s.id, d.clients.metadata(s.name, world.orgId, world.token), 40_000));
      return;
    }
    case "stream": {
      const s = target!;
      const lengthMs = 2_000 + (intent.arg % 10_000);
      calls.push(await d.clients.stream(replica(d.proxies, intent.arg), s.id, d.clients.metadata(s.name, world.orgId, world.token), { lengthMs, everyMs: 250, wakeDeadlineMs: 40_000 }));
      return;
    }
  }
}

/**
 * The proxy a new call goes to: the drawn one, or the other while the drawn one is down, as a
 * health-checked load balancer in front of the replicas does. A killed proxy restarts in tens
 * of seconds on a loaded machine; sending calls to its closed port meanwhile only measured
 * "connection refused" (seed 3: 50 of 92 calls and streams), never a satellite.
 */
function replica(proxies: Member[], drawn: number): number {
  const i = drawn % proxies.length;
  if (proxies[i]!.ready()) return i;
  const other = proxies.findIndex((p) => p.ready());
  // Both down: the call goes to the drawn one and gets its connection refused (UNAVAILABLE).
  return other === -1 ? i : other;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
