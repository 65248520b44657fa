// The same compare-and-set as `transition`, for many satellites in ONE statement: used where a
// pass decides for hundreds at once (the idle scan). Per row it is exactly `transition`'s
// contract — the row moves only if (id, state, version) still match, one history event per
// moved row, one announcement per moved row — but it costs one round trip instead of hundreds.
import type { Db, Prisma } from "@satellites/db";
import { STATE_CHANNEL } from "./announce.ts";
import { IllegalTransitionError } from "./errors.ts";
import { type Cause, isAllowed, type State, TRANSITIONAL } from "./table.ts";
import type { Snapshot } from "./transition.ts";

export interface ManyRequest {
  satellites: readonly (Snapshot & { detail?: Prisma.InputJsonValue })[];
  from: State;
  to: State;
  cause: Cause;
  actor: string;
}

/** Returns the satellites that moved, with their new versions; the others lost their race. */
export async function transitionMany(db: Db, req: ManyRequest): Promise<{ id: string; version: number }[]> {
  const { from, to, cause, actor } = req;
  if (!isAllowed(from, to, cause)) throw new IllegalTransitionError(from, to, cause);
  const rows = req.satellites.filter((s) => s.state === from);
  if (rows.length === 0) return [];
  const ids = rows.map((s) => s.id);
  const versions = rows.map((s) => s.version);
  const since = rows.map((s) => s.stateChangedAt.toISOString());
  const details = rows.map((s) => (s.detail === undefined ? null : JSON.stringify(s.detail)));
  const timed = TRANSITIONAL.has(from);
  // Timestamps are stored as UTC without zone, as Prisma writes them.
  return db.$queryRaw<{ id: string; version: number }[]>`
    WITH input AS (
      SELECT * FROM unnest(${ids}::text[], ${versions}::int[], ${since}::timestamptz[], ${details}::jsonb[]) AS t(id, version, since, detail)
    ), clock AS (
      SELECT (now() AT TIME ZONE 'UTC')::timestamp(3) AS at
    ), moved AS (
      UPDATE satellite s
      SET state = ${to}::"SatelliteState", version = s.version + 1, "stateChangedAt" = clock.at, "updatedAt" = clock.at, "reconciledAt" = NULL
      FROM input i, clock
      WHERE s.id = i.id AND s.state = ${from}::"SatelliteState" AND s.version = i.version
      RETURNING s.id, s."orgId", s.version, (i.since AT TIME ZONE 'UTC')::timestamp(3) AS since, i.detail, clock.at
    ), events AS (
      INSERT INTO satellite_event ("satelliteId", "orgId", "from", "to", cause, actor, "startedAt", "finishedAt", "durationMs", detail)
      SELECT id, "orgId", ${from}::"SatelliteState", ${to}::"SatelliteState", ${cause}::"EventCause", ${actor}, since, at,
             CASE WHEN ${timed} THEN GREATEST(0, (EXTRACT(EPOCH FROM (at - since)) * 1000)::int) END, detail
      FROM moved
    )
    SELECT id, version FROM moved
    WHERE pg_notify(${STATE_CHANNEL}, json_build_object(
      'id', id, 'orgId', "orgId", 'from', ${from}::text, 'to', ${to}::text, 'version', version, 'cause', ${cause}::text,
      'at', to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text) IS NOT NULL`;
}
