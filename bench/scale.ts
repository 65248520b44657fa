// `npm run bench:scale [-- --large]`: seed 100,000 satellites and 1,000,000 history events
// (--large: 1,000,000 and 10,000,000) in a scratch database, then time one idle-scan pass and
// one reconcile pass (the real ones from the jobs worker, against real Postgres and Redis; the
// reconciler's provider answers at once from the seed, so its time is the database's). Last
// line: one JSON object.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { pino } from "pino";
import { parseConfig } from "@satellites/config";
import { createDb } from "@satellites/db";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { createQueues, redisConnection } from "@satellites/queue";
import { createMetrics } from "../apps/jobs/src/metrics.ts";
import { findIdle, idleScan } from "../apps/jobs/src/processors/idle-scan.ts";
import { reconcile } from "../apps/jobs/src/processors/reconcile.ts";
import type { InstanceInfo, Provider } from "@satellites/provider";
import type { JobsContext } from "../apps/jobs/src/context.ts";
import { benchWeb, seedWeb } from "./scale-web.ts";

const LARGE = process.argv.includes("--large");
const SATELLITES = Number(process.env.BENCH_SATELLITES ?? (LARGE ? 1_000_000 : 100_000));
const EVENTS = Number(process.env.BENCH_EVENTS ?? (LARGE ? 10_000_000 : 1_000_000));
const ORGS = 100;

const config = parseConfig({ ...process.env, NODE_ENV: "test" });
const url = new URL(config.DATABASE_URL);
const dbName = `satellites_bench_${Date.now()}`;
url.pathname = `/${dbName}`;
const databaseUrl = url.toString();
const admin = new URL(databaseUrl);
admin.pathname = "/postgres";

async function sql(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const log = (line: string) => process.stderr.write(`[bench:scale] ${line}\n`);
await ensureDatabase(databaseUrl);
try {
  await migrate(databaseUrl);
  let t = Date.now();
  await sql(`INSERT INTO organization (id, name, slug) SELECT 'org-' || g, 'Org ' || g, 'org-' || g FROM generate_series(1, ${ORGS}) g`);
  // 80 % asleep, 20 % awake; of the awake ones 1 % idle past their timeout.
  await sql(`INSERT INTO satellite (id, "orgId", name, "liveName", platform, size, state, version, "stateChangedAt", provider, "instanceId", upstream,
               "idleTimeoutSeconds", "limitMemoryMiB", "lastActivityAt", "updatedAt")
             SELECT gen_random_uuid()::text, 'org-' || (1 + g % ${ORGS}), 'sat-' || g, 'sat-' || g,
               (CASE WHEN g % 4 = 0 THEN 'arm64' ELSE 'amd64' END)::"Platform", 'medium'::"Size",
               (CASE WHEN g % 5 = 0 THEN 'awake' ELSE 'asleep' END)::"SatelliteState", 4, now() - interval '2 hours', 'local', 'i-' || g,
               CASE WHEN g % 5 = 0 THEN '127.0.0.1:' || (20000 + g % 20000) END,
               1800, 7372,
               CASE WHEN g % 500 = 0 THEN now() - interval '1 hour' ELSE now() - (g % 1700) * interval '1 second' END,
               now()
             FROM generate_series(1, ${SATELLITES}) g`);
  log(`seeded ${SATELLITES} satellites in ${Date.now() - t} ms`);
  t = Date.now();
  await sql(`WITH s AS (SELECT id, "orgId", (row_number() OVER ()) - 1 AS rn FROM satellite)
             INSERT INTO satellite_event ("satelliteId", "orgId", "from", "to", cause, actor, "startedAt", "finishedAt", "durationMs")
             SELECT s.id, s."orgId",
               (CASE WHEN g % 2 = 0 THEN 'asleep' ELSE 'starting' END)::"SatelliteState",
               (CASE WHEN g % 2 = 0 THEN 'starting' ELSE 'awake' END)::"SatelliteState",
               'request'::"EventCause", 'system', now() - (g * interval '1 minute'), now() - (g * interval '1 minute') + interval '20 seconds',
               CASE WHEN g % 2 = 1 THEN 15000 + g % 10000 END
             FROM generate_series(1, ${EVENTS}) g
             JOIN s ON s.rn = g % ${SATELLITES}`);
  await sql(`ANALYZE`);
  log(`seeded ${EVENTS} events in ${Date.now() - t} ms`);

  const db = createDb(databaseUrl);
  const redis = redisConnection(config.REDIS_URL);
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const queues = createQueues(redis, prefix);
  const ctx = { db, redis, queues, config, log: pino({ level: "warn" }), metrics: createMetrics(), provider: { name: "local" }, healthTimeoutMs: 0 } as unknown as JobsContext;
  await db.$queryRaw`SELECT 1`; // warm the pool: we time the scan, not connecting
  const started = performance.now();
  const result = await idleScan(ctx);
  const idleScanMs = performance.now() - started;
  log(`idle scan: ${JSON.stringify(result)} in ${idleScanMs.toFixed(1)} ms`);
  // Its query alone, run again (the next 500 candidates): how much of the pass is finding them
  // rather than moving them (500 transitions with their history rows, and 500 jobs).
  const t1 = performance.now();
  await findIdle(ctx, config.IDLE_MIN_SECONDS);
  const idleFindMs = performance.now() - t1;
  log(`idle scan's query alone: ${idleFindMs.toFixed(1)} ms`);
  // The reconciler's pass with a provider that answers at once, as the seed says the machines
  // are (instance i-<g>: running at its upstream when awake, else stopped): what remains is
  // the pass's database work. The first pass meets rows never checked; the second, rows just
  // checked (the steady state), so both are timed.
  const reconcileCtx = { ...ctx, provider: instantProvider() } as JobsContext;
  const reconcileOpts = { graceMs: 5_000, healthTimeoutMs: 3_000, recheckMs: 30_000, batch: 1_000, concurrency: 8, orphanGraceMs: 600_000 };
  let t0 = performance.now();
  const repairs = await reconcile(reconcileCtx, reconcileOpts);
  const reconcileMs = performance.now() - t0;
  t0 = performance.now();
  await reconcile(reconcileCtx, reconcileOpts);
  const reconcileAgainMs = performance.now() - t0;
  log(`reconcile: ${repairs.length} repairs; first pass ${reconcileMs.toFixed(1)} ms, second ${reconcileAgainMs.toFixed(1)} ms`);
  await queues.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await db.$disconnect();

  // The dashboard's side: one organization with 10,000 satellites and 1,000,000 events, in a
  // scratch database of its own (the fleet above spreads its satellites over 100 orgs).
  const webUrl = new URL(databaseUrl);
  webUrl.pathname = `/${dbName}_web`;
  await ensureDatabase(webUrl.toString());
  let web: Awaited<ReturnType<typeof benchWeb>>;
  try {
    await migrate(webUrl.toString());
    web = await benchWeb(webUrl.toString(), await seedWeb(webUrl.toString()));
  } finally {
    const c = new pg.Client({ connectionString: admin.toString() });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${dbName}_web" WITH (FORCE)`);
    await c.end();
  }
  console.log(
    JSON.stringify({
      satellites: SATELLITES,
      events: EVENTS,
      idle_candidates: result.candidates,
      idle_stopped: result.stopping,
      idle_scan_ms: Math.round(idleScanMs * 10) / 10,
      idle_find_ms: Math.round(idleFindMs * 10) / 10,
      reconcile_ms: Math.round(reconcileMs * 10) / 10,
      reconcile_again_ms: Math.round(reconcileAgainMs * 10) / 10,
      list_p95_ms: web.list_p95_ms,
      history_p95_ms: web.history_p95_ms,
      history_deep_p95_ms: web.history_deep_p95_ms,
      history_satellite_p95_ms: web.history_satellite_p95_ms,
    }),
  );
} finally {
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await c.end();
}
process.exit(0);

/** Describes seeded instances from their id alone (i-<g>: awake when g % 5 = 0, as seeded). */
function instantProvider(): Provider {
  const info = (id: string): InstanceInfo => {
    const g = Number(id.slice(2));
    return g % 5 === 0 ? { instanceId: id, state: "running", upstream: `127.0.0.1:${20000 + (g % 20000)}` } : { instanceId: id, state: "stopped", upstream: null };
  };
  return {
    name: "ec2",
    describe: async (id: string) => info(id),
    describeMany: async (ids: string[]) => new Map(ids.map((id) => [id, info(id)])),
    listOwned: async () => [],
  } as unknown as Provider;
}
