// Which builds ran during which OOM kills, matched when read, by time. A kill's event names the
// builds whose records looked running when it was recorded, but records lag both ways: the
// kernel reports a kill at once while the proxy writes build records every second (and holds
// them while the database is away), so a short build killed for memory may be recorded after its
// kill; and a build's end is written a moment after its Solve answered (the session's last bytes
// first), so one that passed just before a kill could still look running. A record's times, read
// now, decide; the names count only for builds whose records are gone.
import { type BuildSpan, type MemoryKillDetail, ranDuring } from "@satellites/state";
import { db } from "./services.ts";

export interface MemoryEvent {
  id: bigint;
  satelliteId: string;
  startedAt: Date;
  finishedAt: Date;
  detail: unknown;
}

type Build = BuildSpan & { id: string; satelliteId: string };

const detailOf = (e: MemoryEvent) => e.detail as Partial<MemoryKillDetail> | null;

/** Whether `b` ran during `e`'s kills, by its record's times. */
function during(b: Build, e: MemoryEvent): boolean {
  return b.satelliteId === e.satelliteId && ranDuring(b, { first: e.startedAt, last: e.finishedAt });
}

/** Processes killed for memory during each build of `page` (a build.list page). */
export async function memoryKillsDuring(orgId: string, page: Build[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!page.length) return out;
  const events: MemoryEvent[] = await db().satelliteEvent.findMany({
    where: { orgId, cause: "memory", satelliteId: { in: [...new Set(page.map((b) => b.satelliteId))] }, finishedAt: { gte: new Date(Math.min(...page.map((b) => b.startedAt.getTime()))) } },
    select: { id: true, satelliteId: true, startedAt: true, finishedAt: true, detail: true },
    take: 1000,
  });
  for (const e of events) {
    for (const b of page) if (during(b, e)) out.set(b.id, (out.get(b.id) ?? 0) + (detailOf(e)?.kills ?? 1));
  }
  return out;
}

/** How many builds ran during each "memory" event of a history page, by event id. */
export async function buildsDuringKills(events: MemoryEvent[]): Promise<Map<bigint, number>> {
  const out = new Map<bigint, number>();
  if (!events.length) return out;
  // A build that ran during a kill started by its last, and ended (if it has) at most moments before its first.
  const builds: Build[] = await db().build.findMany({
    where: {
      satelliteId: { in: [...new Set(events.map((e) => e.satelliteId))] },
      startedAt: { lte: new Date(Math.max(...events.map((e) => e.finishedAt.getTime()))) },
      // (a minute before the first kill: more than the slack a failed build is given)
      OR: [{ endedAt: null }, { endedAt: { gte: new Date(Math.min(...events.map((e) => e.startedAt.getTime())) - 60_000) } }],
    },
    select: { id: true, satelliteId: true, startedAt: true, endedAt: true, seenAt: true, grpcCode: true },
    take: 5000,
  });
  const found = new Set(builds.map((b) => b.id));
  for (const e of events) {
    // A build the event named whose record is gone (retention) still ran during it.
    const gone = (detailOf(e)?.builds ?? []).filter((id) => !found.has(id)).length;
    out.set(e.id, gone + builds.filter((b) => during(b, e)).length);
  }
  return out;
}
