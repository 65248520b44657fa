// History figures computed in Postgres: time spent per state per UTC day (from the event
// log, each event opening an interval that the next one closes), wake-time percentiles, and
// the cost a sleeping satellite avoided (hours asleep × its size's hourly price).
//
// Timestamps are `timestamp(3)` without time zone holding UTC (Prisma's mapping); parameters
// are passed as ISO strings cast to `timestamp`, which ignores the zone suffix, so the
// results do not depend on the database session's TimeZone.
import { type PlatformName, SIZE_SPECS, type SizeName } from "@satellites/catalog";
import { type Db, Prisma } from "@satellites/db";

const DAY_MS = 86_400_000;

export interface Scope {
  orgId: string;
  satelliteId?: string;
}

export function windowFor(days: number, now = new Date()): { from: Date; to: Date } {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { from: new Date(today - (days - 1) * DAY_MS), to: now };
}

const ts = (d: Date) => Prisma.sql`${d.toISOString()}::timestamp`;

/**
 * Events in the window plus, per satellite, the last event before it (the state at `from`).
 * OOM kills ("memory") are left out: one may be recorded after the fact, in another state.
 */
function eventsSql(scope: Scope, from: Date, to: Date) {
  const bySat = scope.satelliteId ? Prisma.sql`AND e."satelliteId" = ${scope.satelliteId}` : Prisma.empty;
  const satFilter = scope.satelliteId ? Prisma.sql`AND s.id = ${scope.satelliteId}` : Prisma.empty;
  return Prisma.sql`
    sats AS (SELECT s.id, s.size::text AS size, s.platform::text AS platform FROM satellite s WHERE s."orgId" = ${scope.orgId} ${satFilter}),
    ev AS (
      SELECT e."satelliteId" AS sid, e."to"::text AS state, e."finishedAt" AS at, e.id
        FROM satellite_event e
       WHERE e."orgId" = ${scope.orgId} ${bySat} AND e."finishedAt" >= ${ts(from)} AND e."finishedAt" < ${ts(to)} AND e.cause <> 'memory'
      UNION ALL
      SELECT s.id, p.state, ${ts(from)}, p.id FROM sats s CROSS JOIN LATERAL (
        SELECT e."to"::text AS state, e.id FROM satellite_event e
         WHERE e."satelliteId" = s.id AND e."finishedAt" < ${ts(from)} AND e.cause <> 'memory'
         ORDER BY e."finishedAt" DESC, e.id DESC LIMIT 1) p
    ),
    iv AS (
      SELECT sid, state, at AS a, COALESCE(LEAD(at) OVER (PARTITION BY sid ORDER BY at, id), ${ts(to)}) AS b FROM ev
    )`;
}

export interface DayStat {
  day: string;
  awakeHours: number;
  asleepHours: number;
  costAvoidedUsd: number;
}

export async function dailyStats(db: Db, scope: Scope, from: Date, to: Date): Promise<DayStat[]> {
  const rows = await db.$queryRaw<{ day: string; state: string; size: string; platform: string; seconds: number }[]>(Prisma.sql`
    WITH ${eventsSql(scope, from, to)},
    days AS (SELECT d FROM generate_series(${ts(from)}, ${ts(to)}, interval '1 day') d)
    SELECT to_char(days.d, 'YYYY-MM-DD') AS day, iv.state, s.size, s.platform,
           SUM(EXTRACT(EPOCH FROM LEAST(iv.b, days.d + interval '1 day') - GREATEST(iv.a, days.d)))::float8 AS seconds
      FROM iv
      JOIN days ON iv.a < days.d + interval '1 day' AND iv.b > days.d
      JOIN sats s ON s.id = iv.sid
     WHERE iv.state IN ('awake', 'asleep') AND iv.b > iv.a
     GROUP BY 1, 2, 3, 4`);
  const byDay = new Map<string, DayStat>();
  for (let t = from.getTime(); t <= to.getTime(); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    byDay.set(day, { day, awakeHours: 0, asleepHours: 0, costAvoidedUsd: 0 });
  }
  for (const r of rows) {
    const d = byDay.get(r.day);
    if (!d) continue;
    const hours = Number(r.seconds) / 3600;
    if (r.state === "awake") d.awakeHours += hours;
    else {
      d.asleepHours += hours;
      const spec = SIZE_SPECS[r.size as SizeName];
      d.costAvoidedUsd += hours * (spec?.hourlyUsd[r.platform as PlatformName] ?? 0);
    }
  }
  return [...byDay.values()];
}

export interface WakeStats {
  wakes: number;
  failedWakes: number;
  medianMs: number | null;
  p95Ms: number | null;
}

export async function wakeStats(db: Db, scope: Scope, from: Date, to: Date): Promise<WakeStats> {
  const bySat = scope.satelliteId ? Prisma.sql`AND "satelliteId" = ${scope.satelliteId}` : Prisma.empty;
  const [r] = await db.$queryRaw<{ wakes: number; failed: number; p50: number | null; p95: number | null }[]>(Prisma.sql`
    SELECT count(*) FILTER (WHERE "to" = 'awake')::int AS wakes,
           count(*) FILTER (WHERE "to" = 'failed')::int AS failed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY "durationMs") FILTER (WHERE "to" = 'awake') AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY "durationMs") FILTER (WHERE "to" = 'awake') AS p95
      FROM satellite_event
     WHERE "orgId" = ${scope.orgId} ${bySat} AND "from" = 'starting'
       AND "finishedAt" >= ${ts(from)} AND "finishedAt" < ${ts(to)}`);
  return {
    wakes: r?.wakes ?? 0,
    failedWakes: r?.failed ?? 0,
    medianMs: r?.p50 == null ? null : Math.round(Number(r.p50)),
    p95Ms: r?.p95 == null ? null : Math.round(Number(r.p95)),
  };
}

/** Upper bounds (ms) of the wake-time histogram's buckets; the last bucket is open-ended. */
export const WAKE_BUCKETS_MS = [500, 1000, 2000, 5000, 10_000, 30_000, 60_000] as const;

export interface WakeBucket {
  /** Inclusive lower bound, ms. */
  fromMs: number;
  /** Exclusive upper bound, ms; null for the last, open-ended bucket. */
  toMs: number | null;
  wakes: number;
}

/** How long successful wakes took, counted into fixed buckets (every bucket listed, even empty). */
export async function wakeHistogram(db: Db, scope: Scope, from: Date, to: Date): Promise<WakeBucket[]> {
  const bySat = scope.satelliteId ? Prisma.sql`AND "satelliteId" = ${scope.satelliteId}` : Prisma.empty;
  const bounds = Prisma.sql`ARRAY[${Prisma.join(WAKE_BUCKETS_MS.map((b) => Prisma.sql`${b}::int`))}]`;
  const rows = await db.$queryRaw<{ bucket: number; wakes: number }[]>(Prisma.sql`
    SELECT width_bucket("durationMs", ${bounds})::int AS bucket, count(*)::int AS wakes
      FROM satellite_event
     WHERE "orgId" = ${scope.orgId} ${bySat} AND "from" = 'starting' AND "to" = 'awake' AND "durationMs" IS NOT NULL
       AND "finishedAt" >= ${ts(from)} AND "finishedAt" < ${ts(to)}
     GROUP BY 1`);
  const counts = new Map(rows.map((r) => [Number(r.bucket), Number(r.wakes)]));
  return [0, ...WAKE_BUCKETS_MS].map((lower, i) => ({ fromMs: lower, toMs: WAKE_BUCKETS_MS[i] ?? null, wakes: counts.get(i) ?? 0 }));
}

export interface Interval {
  state: string;
  start: Date;
  end: Date;
}

/** One satellite's state intervals in the window, oldest first, for the timeline chart. */
export async function timeline(db: Db, scope: Required<Scope>, from: Date, to: Date, max = 5000): Promise<{ intervals: Interval[]; truncated: boolean }> {
  const rows = await db.$queryRaw<{ state: string; a: Date; b: Date }[]>(Prisma.sql`
    WITH ${eventsSql(scope, from, to)}
    SELECT state, a, b FROM iv WHERE b > a ORDER BY a DESC LIMIT ${max + 1}`);
  const truncated = rows.length > max;
  const intervals = rows
    .slice(0, max)
    .reverse()
    .map((r) => ({ state: r.state, start: asUtc(r.a), end: asUtc(r.b) }));
  return { intervals, truncated };
}

/** `timestamp` values come back as Dates read in the process's zone; the stored value is UTC. */
function asUtc(d: Date | string): Date {
  if (typeof d === "string") return new Date(d.endsWith("Z") ? d : `${d}Z`);
  return d;
}
