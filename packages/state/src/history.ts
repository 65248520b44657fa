import type { Db, Prisma, Satellite, Tx } from "@satellites/db";
import type { Cause, State } from "./table.ts";
import { announce } from "./transition.ts";

/**
 * The event that most recently entered `state`: why the transition now under way began (its
 * cause, actor and detail), so the step that completes it can say the same.
 */
export function enteringEvent(db: Db | Tx, satelliteId: string, state: State) {
  return db.satelliteEvent.findFirst({ where: { satelliteId, to: state }, orderBy: { id: "desc" }, select: { from: true, cause: true, actor: true, detail: true } });
}

export interface NotedEvent {
  cause: Cause;
  actor: string;
  /** When what it records began (default: now) and ended (default: now). */
  startedAt?: Date;
  finishedAt?: Date;
  durationMs?: number;
  error?: string | null;
  detail?: Prisma.InputJsonValue;
}

/**
 * Something that happened to a satellite without changing its state (a cache reset, OOM kills,
 * limits refused): a history row from its state to the same, announced so pages showing the
 * satellite or its history re-read. In the caller's transaction.
 */
export async function noteEvent(tx: Tx, sat: Pick<Satellite, "id" | "orgId" | "state" | "version" | "upstream">, e: NotedEvent): Promise<void> {
  const now = new Date();
  await tx.satelliteEvent.create({
    data: {
      satelliteId: sat.id, orgId: sat.orgId, from: sat.state, to: sat.state, cause: e.cause, actor: e.actor,
      startedAt: e.startedAt ?? now, finishedAt: e.finishedAt ?? now, durationMs: e.durationMs ?? null, error: e.error ?? null,
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
    },
  });
  await announce(tx, { id: sat.id, orgId: sat.orgId, from: sat.state, to: sat.state, version: sat.version, cause: e.cause, at: now.toISOString(), upstream: sat.upstream });
}
