// The only way a satellite's state changes: compare-and-set on (id, state, version), the
// history event, and the announcement — one transaction. Losing the race writes nothing.
import { type Db, Prisma, type Satellite, type SatelliteEvent, type Tx } from "@satellites/db";
import { STATE_CHANNEL, type StateChange } from "./announce.ts";
import { IllegalTransitionError } from "./errors.ts";
import { type Cause, isAllowed, type State, TRANSITIONAL } from "./table.ts";

/** What the caller last read of the satellite; the CAS holds only if it is still current. */
export interface Snapshot {
  id: string;
  orgId: string;
  state: State;
  version: number;
  stateChangedAt: Date;
}

/** Columns a transition may set together with the state (same row, same transaction). */
export type SatellitePatch = Pick<
  Prisma.SatelliteUpdateManyMutationInput,
  | "instanceId"
  | "upstream"
  | "failureReason"
  | "wakeRequested"
  | "limitsPending"
  | "limitsEnforced"
  | "limitsOomScoreEnforced"
  | "lastActivityAt"
  | "hibernate"
  | "size"
  | "platform"
  // A resize clamps the memory limit to the new size in the same statement as the state change.
  | "limitMemoryMiB"
  | "deletedAt"
  | "liveName"
  | "limitsAppliedVersion"
  | "reconciledAt"
>;

export interface TransitionRequest {
  satellite: Snapshot;
  to: State;
  cause: Cause;
  /** "system", "user:<id>" or "token:<id>". */
  actor: string;
  error?: string;
  detail?: Prisma.InputJsonValue;
  set?: SatellitePatch;
  /**
   * The limitsVersion the machine was given by the work this transition completes (launch,
   * wake, resize): recorded as applied, and limitsPending is cleared only if no newer limits
   * were saved meanwhile — decided in the same statement, so no read can race the commit.
   */
  limitsApplied?: number | null;
}

export type TransitionResult =
  | { won: true; satellite: Satellite; event: SatelliteEvent }
  | { won: false; satellite: null; event: null };

export async function transition(db: Db | Tx, req: TransitionRequest): Promise<TransitionResult> {
  const { satellite: snap, to, cause, actor } = req;
  if (!isAllowed(snap.state, to, cause)) throw new IllegalTransitionError(snap.state, to, cause);
  // One statement: the compare-and-set, the event and the announcement commit together, and
  // no connection is held across round trips — a thousand contenders cost a thousand quick
  // no-op updates, not a queue of open transactions.
  const sets = Object.entries(req.set ?? {}).map(([key, value]) => Prisma.sql`${Prisma.raw(column(key))} = ${sqlValue(key, value)}`);
  if (req.limitsApplied !== undefined) {
    if (req.set && ("limitsPending" in req.set || "limitsAppliedVersion" in req.set)) throw new Error("limitsApplied decides limitsPending itself");
    sets.push(Prisma.sql`"limitsAppliedVersion" = ${req.limitsApplied}`);
    // null: the machine runs limits of an unknown version (e.g. an instance adopted from an
    // earlier attempt), so they stay pending.
    sets.push(Prisma.sql`"limitsPending" = ("limitsVersion" IS DISTINCT FROM ${req.limitsApplied}::int)`);
  }
  // A wake asked for while stopping (updating) is honoured only by reaching asleep; any other
  // way out of those states must not leave the flag behind to wake the next sleep at once.
  if ((snap.state === "stopping" || snap.state === "updating") && to !== "asleep" && req.set?.wakeRequested === undefined) {
    sets.push(Prisma.sql`"wakeRequested" = false`);
  }
  // Once the sleep job has issued the provider stop (markStopIssued), stopping only goes on:
  // a second copy of the job must not return the satellite to awake on a stopping machine.
  const guard = snap.state === "stopping" && to === "awake" ? Prisma.sql`AND "stopIssuedAt" IS NULL` : Prisma.empty;
  if (snap.state === "stopping") sets.push(Prisma.sql`"stopIssuedAt" = NULL`);
  // A changed satellite is the reconciler's next concern: its incremental pass takes never- (or
  // not-since-) checked rows first.
  if (req.set?.reconciledAt === undefined) sets.push(Prisma.sql`"reconciledAt" = NULL`);
  const timed = TRANSITIONAL.has(snap.state);
  const detail = req.detail === undefined ? null : JSON.stringify(req.detail);
  const rows = await db.$queryRaw<{ satellite: Record<string, unknown>; event: Record<string, unknown> }[]>`
    WITH clock AS (
      SELECT (now() AT TIME ZONE 'UTC')::timestamp(3) AS at,
             (${snap.stateChangedAt.toISOString()}::timestamptz AT TIME ZONE 'UTC')::timestamp(3) AS since
    ), moved AS (
      UPDATE satellite
      SET ${Prisma.join([...sets, Prisma.sql`state = ${to}::"SatelliteState"`, Prisma.sql`version = version + 1`, Prisma.sql`"stateChangedAt" = (SELECT at FROM clock)`, Prisma.sql`"updatedAt" = (SELECT at FROM clock)`])}
      WHERE id = ${snap.id} AND state = ${snap.state}::"SatelliteState" AND version = ${snap.version} ${guard}
      RETURNING *
    ), ev AS (
      INSERT INTO satellite_event ("satelliteId", "orgId", "from", "to", cause, actor, "startedAt", "finishedAt", "durationMs", error, detail)
      SELECT moved.id, moved."orgId", ${snap.state}::"SatelliteState", ${to}::"SatelliteState", ${cause}::"EventCause", ${actor},
             clock.since, clock.at,
             CASE WHEN ${timed} THEN GREATEST(0, (EXTRACT(EPOCH FROM (clock.at - clock.since)) * 1000)::int) END,
             ${req.error ?? null}, ${detail}::jsonb
      FROM moved, clock
      RETURNING *
    )
    SELECT row_to_json(moved.*) AS satellite, row_to_json(ev.*) AS event
    FROM moved, ev, clock
    WHERE pg_notify(${STATE_CHANNEL}, json_build_object(
      'id', moved.id, 'orgId', moved."orgId", 'from', ${snap.state}::text, 'to', ${to}::text, 'version', moved.version,
      'cause', ${cause}::text, 'at', to_char(clock.at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'upstream', moved.upstream)::text) IS NOT NULL`;
  const row = rows[0];
  if (!row) return { won: false, satellite: null, event: null };
  return { won: true, satellite: fromJson<Satellite>(row.satellite), event: fromJson<SatelliteEvent>(row.event) };
}

const PATCHABLE = new Set([
  "instanceId", "upstream", "failureReason", "wakeRequested", "limitsPending", "limitsEnforced", "limitsOomScoreEnforced",
  "lastActivityAt", "hibernate", "size", "platform", "limitMemoryMiB", "deletedAt", "liveName",
  "limitsAppliedVersion", "reconciledAt",
]);
const TIMESTAMPS = new Set(["stateChangedAt", "lastActivityAt", "reconciledAt", "createdAt", "updatedAt", "deletedAt", "startedAt", "finishedAt"]);

function column(key: string): string {
  if (!PATCHABLE.has(key)) throw new Error(`transition cannot set ${key}`);
  return `"${key}"`;
}

function sqlValue(key: string, value: unknown): Prisma.Sql {
  if (value instanceof Date) return Prisma.sql`(${value.toISOString()}::timestamptz AT TIME ZONE 'UTC')::timestamp(3)`;
  if (key === "size" && value !== null) return Prisma.sql`${value}::"Size"`;
  if (key === "platform" && value !== null) return Prisma.sql`${value}::"Platform"`;
  return Prisma.sql`${value}`;
}

/** row_to_json gives timestamps without a zone (stored as UTC) and bigint ids as numbers. */
function fromJson<T>(json: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...json };
  for (const [k, v] of Object.entries(out)) {
    if (TIMESTAMPS.has(k) && typeof v === "string") out[k] = new Date(v.endsWith("Z") ? v : `${v}Z`);
  }
  if ("satelliteId" in out && typeof out.id === "number") out.id = BigInt(out.id);
  return out as T;
}

export async function announce(tx: Tx, change: StateChange): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify(${STATE_CHANNEL}, ${JSON.stringify(change)})`;
}

/** Read the current snapshot and transition from it if it is in `from`; for callers holding only an id. */
export async function transitionById(
  db: Db,
  id: string,
  from: State | readonly State[],
  rest: Omit<TransitionRequest, "satellite">,
): Promise<TransitionResult> {
  const current = await db.satellite.findUnique({ where: { id } });
  const allowedFrom = typeof from === "string" ? [from] : from;
  if (!current || !allowedFrom.includes(current.state)) return { won: false, satellite: null, event: null };
  return transition(db, { ...rest, satellite: current });
}
