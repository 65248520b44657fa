// The only way a satellite's state changes: compare-and-set on (id, state, version), the
// history event, and the announcement — one transaction. Losing the race writes nothing.
import type { Db, Prisma, Satellite, SatelliteEvent, Tx } from "@satellites/db";
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
  | "lastActivityAt"
  | "hibernate"
  | "size"
  | "platform"
  | "deletedAt"
  | "liveName"
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
}

export type TransitionResult =
  | { won: true; satellite: Satellite; event: SatelliteEvent }
  | { won: false; satellite: null; event: null };

export async function transition(db: Db, req: TransitionRequest): Promise<TransitionResult> {
  const { satellite: snap, to, cause } = req;
  if (!isAllowed(snap.state, to, cause)) throw new IllegalTransitionError(snap.state, to, cause);
  return db.$transaction((tx) => transitionIn(tx, req));
}

/** The same, inside a transaction the caller already holds (e.g. with other writes). */
export async function transitionIn(tx: Tx, req: TransitionRequest): Promise<TransitionResult> {
  const { satellite: snap, to, cause, actor } = req;
  if (!isAllowed(snap.state, to, cause)) throw new IllegalTransitionError(snap.state, to, cause);
  const now = new Date();
  const { count } = await tx.satellite.updateMany({
    where: { id: snap.id, state: snap.state, version: snap.version },
    data: { ...req.set, state: to, version: { increment: 1 }, stateChangedAt: now },
  });
  if (count === 0) return { won: false, satellite: null, event: null };

  const event = await tx.satelliteEvent.create({
    data: {
      satelliteId: snap.id,
      orgId: snap.orgId,
      from: snap.state,
      to,
      cause,
      actor,
      startedAt: snap.stateChangedAt,
      finishedAt: now,
      durationMs: TRANSITIONAL.has(snap.state) ? Math.max(0, now.getTime() - snap.stateChangedAt.getTime()) : null,
      error: req.error ?? null,
      detail: req.detail,
    },
  });
  const satellite = await tx.satellite.findUniqueOrThrow({ where: { id: snap.id } });
  await announce(tx, { id: snap.id, orgId: snap.orgId, from: snap.state, to, version: satellite.version, cause, at: now.toISOString() });
  return { won: true, satellite, event };
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
