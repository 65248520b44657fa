// Build records as the API shows them: a status read from the row (the proxy writes a running
// build again every batch interval; one its replica stopped refreshing is "lost"), and the
// figures behind the Builds charts, computed in Postgres over one organization or satellite.
import { type Db, Prisma } from "@satellites/db";
import { BUILD_LOST_AFTER_MS } from "@satellites/state";

export const BUILD_STATUSES = ["running", "succeeded", "failed", "cancelled", "lost"] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

/** A running build whose replica has not re-written it for this long is lost (its proxy crashed). */
export const LOST_AFTER_MS = BUILD_LOST_AFTER_MS;
/** gRPC CANCELLED, and -1: the call ended in a reset (client gone, Ctrl-C). */
const CANCELLED = [1, -1];

export function buildStatus(row: { endedAt: Date | null; grpcCode: number | null; seenAt: Date }, now = Date.now()): BuildStatus {
  if (row.endedAt === null) return now - row.seenAt.getTime() > LOST_AFTER_MS ? "lost" : "running";
  if (row.grpcCode === 0) return "succeeded";
  return row.grpcCode !== null && CANCELLED.includes(row.grpcCode) ? "cancelled" : "failed";
}

/** The rows with `status`, as a Prisma filter. */
export function statusWhere(status: BuildStatus, now = Date.now()): Prisma.BuildWhereInput {
  const fresh = new Date(now - LOST_AFTER_MS);
  switch (status) {
    case "running":
      return { endedAt: null, seenAt: { gte: fresh } };
    case "lost":
      return { endedAt: null, seenAt: { lt: fresh } };
    case "succeeded":
      return { endedAt: { not: null }, grpcCode: 0 };
    case "cancelled":
      return { endedAt: { not: null }, grpcCode: { in: CANCELLED } };
    case "failed":
      return { endedAt: { not: null }, grpcCode: { notIn: [0, ...CANCELLED] } };
  }
}

const GRPC_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];
export function grpcCodeName(code: number | null): string | null {
  if (code === null) return null;
  if (code === -1) return "RESET";
  return GRPC_NAMES[code] ?? `CODE_${code}`;
}

/** BuildKit's words (any case) when one of its own writes found the satellite's disk full (ENOSPC). */
const NO_SPACE = "no space left on device";

/**
 * A failed build that ran out of disk: BuildKit said so in its answer (a COPY, an export, the
 * cache), or a step's own output did (a RUN step fails with its exit code; the proxy read its
 * words in the build's Status stream: `stepOutOfSpace`).
 */
export function ranOutOfDisk(row: { error: string | null; stepOutOfSpace: boolean }, status: BuildStatus): boolean {
  return status === "failed" && (row.stepOutOfSpace || (row.error !== null && row.error.toLowerCase().includes(NO_SPACE)));
}

/** The same rule as a query: failed builds that ran out of disk. */
export function ranOutOfDiskWhere(): Prisma.BuildWhereInput {
  return { AND: [statusWhere("failed"), { OR: [{ stepOutOfSpace: true }, { error: { contains: NO_SPACE, mode: "insensitive" } }] }] };
}

/** How many of a satellite's builds ran out of disk since `since`, and when the last began. */
export async function outOfDiskBuilds(db: Db, satelliteId: string, since: Date): Promise<{ count: number; lastAt: Date | null }> {
  const where: Prisma.BuildWhereInput = { satelliteId, startedAt: { gte: since }, ...ranOutOfDiskWhere() };
  const [count, last] = await Promise.all([db.build.count({ where }), db.build.findFirst({ where, orderBy: { startedAt: "desc" }, select: { startedAt: true } })]);
  return { count, lastAt: last?.startedAt ?? null };
}

export interface BuildScope {
  orgId: string;
  satelliteId?: string | undefined;
}

export interface BuildDay {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  builds: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Median and 95th percentile of finished builds' durations that day; null with none. */
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  totalDurationMs: number;
}

interface DayRow {
  day: Date;
  builds: bigint;
  succeeded: bigint;
  failed: bigint;
  cancelled: bigint;
  p50: number | null;
  p95: number | null;
  total: bigint | null;
}

/** One row per UTC day of [from, to), days without builds included. */
export async function buildDays(db: Db, scope: BuildScope, from: Date, to: Date): Promise<BuildDay[]> {
  const where = scope.satelliteId ? Prisma.sql`"satelliteId" = ${scope.satelliteId}` : Prisma.sql`"orgId" = ${scope.orgId}`;
  const rows = await db.$queryRaw<DayRow[]>`
    SELECT d.day,
      count(b.id) AS builds,
      count(b.id) FILTER (WHERE b."grpcCode" = 0) AS succeeded,
      count(b.id) FILTER (WHERE b."endedAt" IS NOT NULL AND b."grpcCode" NOT IN (0, 1, -1)) AS failed,
      count(b.id) FILTER (WHERE b."grpcCode" IN (1, -1)) AS cancelled,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY b."durationMs") AS p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY b."durationMs") AS p95,
      sum(b."durationMs") AS total
    FROM generate_series(date_trunc('day', ${from.toISOString()}::timestamp), ${to.toISOString()}::timestamp, interval '1 day') AS d(day)
    LEFT JOIN build b ON ${where} AND b."startedAt" >= d.day AND b."startedAt" < d.day + interval '1 day'
      AND b."startedAt" >= ${from.toISOString()}::timestamp AND b."startedAt" < ${to.toISOString()}::timestamp
    GROUP BY d.day ORDER BY d.day`;
  return rows.map((r) => ({
    day: r.day.toISOString().slice(0, 10),
    builds: Number(r.builds),
    succeeded: Number(r.succeeded),
    failed: Number(r.failed),
    cancelled: Number(r.cancelled),
    p50DurationMs: r.p50 === null ? null : Math.round(r.p50),
    p95DurationMs: r.p95 === null ? null : Math.round(r.p95),
    totalDurationMs: Number(r.total ?? 0),
  }));
}

/** Calls other than builds in the window (sessions, status, health…), summed. */
export async function callTotals(db: Db, scope: BuildScope, from: Date, to: Date): Promise<{ calls: number; failed: number; bytesUp: number; bytesDown: number }> {
  const r = await db.callStat.aggregate({
    where: { ...(scope.satelliteId ? { satelliteId: scope.satelliteId } : { orgId: scope.orgId }), minute: { gte: from, lt: to } },
    _sum: { calls: true, failed: true, bytesUp: true, bytesDown: true },
  });
  return { calls: r._sum.calls ?? 0, failed: r._sum.failed ?? 0, bytesUp: Number(r._sum.bytesUp ?? 0), bytesDown: Number(r._sum.bytesDown ?? 0) };
}
