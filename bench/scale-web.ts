// Web side of `npm run bench:scale`: server time of `satellite.list` with 10,000 satellites in
// one organization and of `history.list` pages over 1,000,000 events (goals: p95 200 ms and
// 100 ms). Calls go through the real tRPC router in-process, authenticated with an API token
// (context creation included), against real Postgres: what a request costs minus HTTP.
//
// Standalone: `npx tsx bench/scale-web.ts` seeds a scratch database and prints one JSON line.
// From bench/scale.ts: `await benchWeb(databaseUrl)` on a database seeded with `seedWeb`.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { parseConfig } from "@satellites/config";
import { createDb } from "@satellites/db";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { generateToken } from "@satellites/tokens";

const SATELLITES = Number(process.env.BENCH_WEB_SATELLITES ?? 10_000);
const EVENTS = Number(process.env.BENCH_WEB_EVENTS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_WEB_RUNS ?? 50);
const log = (line: string) => process.stderr.write(`[bench:scale-web] ${line}\n`);

async function sql(databaseUrl: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

/** One organization with `satellites` satellites and `events` history events; returns an API token for it. */
export async function seedWeb(databaseUrl: string, satellites = SATELLITES, events = EVENTS): Promise<{ orgId: string; token: string }> {
  const orgId = `bench-web-${randomUUID().slice(0, 8)}`;
  const userId = `user-${orgId}`;
  await sql(databaseUrl, `INSERT INTO "user" (id, name, email, "updatedAt") VALUES ($1, 'Bench', $2, now())`, [userId, `${orgId}@example.test`]);
  await sql(databaseUrl, `INSERT INTO organization (id, name, slug) VALUES ($1, 'Bench web', $1)`, [orgId]);
  await sql(databaseUrl, `INSERT INTO member (id, "organizationId", "userId", role) VALUES ($1, $2, $3, 'owner')`, [`m-${orgId}`, orgId, userId]);
  const t = generateToken();
  await sql(databaseUrl, `INSERT INTO api_token (id, "orgId", "createdById", name, prefix, hash) VALUES ($1, $2, $3, 'bench', $4, $5)`, [randomUUID(), orgId, userId, t.prefix, t.hash]);
  let t0 = Date.now();
  await sql(
    databaseUrl,
    `INSERT INTO satellite (id, "orgId", name, "liveName", platform, size, state, version, "stateChangedAt", provider, "idleTimeoutSeconds", "limitMemoryMiB", "lastActivityAt", "updatedAt")
     SELECT gen_random_uuid()::text, $1, 'sat-' || lpad(g::text, 6, '0'), 'sat-' || lpad(g::text, 6, '0'),
       (CASE WHEN g % 4 = 0 THEN 'arm64' ELSE 'amd64' END)::"Platform", 'medium'::"Size",
       (CASE WHEN g % 5 = 0 THEN 'awake' ELSE 'asleep' END)::"SatelliteState", 4, now() - interval '2 hours', 'local', 1800, 7372,
       now() - (g % 1700) * interval '1 second', now()
     FROM generate_series(1, ${satellites}) g`,
    [orgId],
  );
  log(`seeded ${satellites} satellites in one organization in ${Date.now() - t0} ms`);
  t0 = Date.now();
  // A month of wakes and sleeps: four-event cycles (wake request, awake, idle, asleep).
  await sql(
    databaseUrl,
    `WITH s AS (SELECT id, (row_number() OVER (ORDER BY id)) - 1 AS rn FROM satellite WHERE "orgId" = $1)
     INSERT INTO satellite_event ("satelliteId", "orgId", "from", "to", cause, actor, "startedAt", "finishedAt", "durationMs")
     SELECT s.id, $1,
       (ARRAY['asleep','starting','awake','stopping'])[1 + g % 4]::"SatelliteState",
       (ARRAY['starting','awake','stopping','asleep'])[1 + g % 4]::"SatelliteState",
       (ARRAY['request','request','idle','idle'])[1 + g % 4]::"EventCause", 'system',
       now() - (g * interval '2.5 seconds') - interval '20 seconds', now() - (g * interval '2.5 seconds'),
       CASE WHEN g % 2 = 1 THEN 15000 + g % 10000 END
     FROM generate_series(1, ${events}) g
     JOIN s ON s.rn = g % ${satellites}`,
    [orgId],
  );
  await sql(databaseUrl, "ANALYZE");
  log(`seeded ${events} events in ${Date.now() - t0} ms`);
  return { orgId, token: t.token };
}

function p95(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)]! * 10) / 10;
}

async function time(label: string, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(); // warm the pool and the plan cache
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  const v = p95(samples);
  log(`${label}: p95 ${v} ms (median ${Math.round([...samples].sort((a, b) => a - b)[samples.length >> 1]! * 10) / 10} ms, ${RUNS} runs)`);
  return v;
}

/** Times the procedures against `databaseUrl` (already seeded with `seedWeb`). */
export async function benchWeb(databaseUrl: string, seeded: { orgId: string; token: string }) {
  // The web's modules read DATABASE_URL through @satellites/config on first use.
  process.env.DATABASE_URL = databaseUrl;
  const { provideServices } = await import("../apps/web/src/server/services.ts");
  const { createCaller } = await import("../apps/web/src/server/routers/index.ts");
  const { createContext } = await import("../apps/web/src/server/trpc.ts");
  const db = createDb(databaseUrl);
  provideServices({ db });
  const headers = new Headers({ authorization: `Bearer ${seeded.token}` });
  const call = async () => createCaller(await createContext({ headers }));

  const first = await (await call()).satellite.list({ limit: 100 });
  const middle = (await (await call()).satellite.list({ limit: 100, cursor: "sat-005000" })).nextCursor;
  const list_p95_ms = await time("satellite.list first page (100 of 10,000)", async () => (await call()).satellite.list({ limit: 100 }));
  const list_deep_p95_ms = await time("satellite.list page at 5,000", async () => (await call()).satellite.list({ limit: 100, cursor: middle }));
  const list_search_p95_ms = await time("satellite.list search", async () => (await call()).satellite.list({ limit: 100, search: "sat-0042" }));

  const page1 = await (await call()).history.list({ limit: 50 });
  // A cursor half-way through the log: keyset pagination must not get slower with depth.
  const mid = await db.satelliteEvent.findFirst({ where: { orgId: seeded.orgId }, orderBy: [{ finishedAt: "desc" }, { id: "desc" }], skip: Math.floor(EVENTS / 2), select: { id: true, finishedAt: true } });
  const deepCursor = mid ? `${mid.finishedAt.getTime()}_${mid.id}` : page1.nextCursor;
  const satId = first.items[0]!.id;
  const history_p95_ms = await time("history.list first page (50 of 1,000,000)", async () => (await call()).history.list({ limit: 50 }));
  const history_deep_p95_ms = await time("history.list page at 500,000", async () => (await call()).history.list({ limit: 50, cursor: deepCursor }));
  const history_filtered_p95_ms = await time("history.list cause=idle", async () => (await call()).history.list({ limit: 50, cause: ["idle"] }));
  const history_satellite_p95_ms = await time("history.list one satellite", async () => (await call()).history.list({ limit: 50, satelliteId: satId }));
  const stats_satellite_p95_ms = await time("history.stats one satellite (14 days)", async () => (await call()).history.stats({ satelliteId: satId }));
  await db.$disconnect();
  return { list_p95_ms, list_deep_p95_ms, list_search_p95_ms, history_p95_ms, history_deep_p95_ms, history_filtered_p95_ms, history_satellite_p95_ms, stats_satellite_p95_ms };
}

// Standalone run: a scratch database of its own, dropped afterwards.
if (import.meta.url === `file://${process.argv[1]}`) {
  const config = parseConfig({ ...process.env, NODE_ENV: "test" });
  const url = new URL(config.DATABASE_URL);
  const dbName = `satellites_bench_web_${Date.now()}`;
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  try {
    await migrate(databaseUrl);
    const seeded = await seedWeb(databaseUrl);
    const r = await benchWeb(databaseUrl, seeded);
    console.log(JSON.stringify({ satellites: SATELLITES, events: EVENTS, runs: RUNS, ...r }));
  } finally {
    const admin = new URL(databaseUrl);
    admin.pathname = "/postgres";
    await sql(admin.toString(), `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  }
  process.exit(0);
}
