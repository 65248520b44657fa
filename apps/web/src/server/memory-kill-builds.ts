// Which builds ran during which OOM kills, matched when read. A kill's event names the builds
// whose records existed when it was recorded, but the kernel reports a kill at once while the
// proxy writes build records every second (and holds them while the database is away): a short
// build killed for memory may be recorded after its kill. Matching by time here, as well as by
// the names, marks it whichever came first.
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

/** Whether `b` ran during `e`'s kills: named by the event, or by time. */
function during(b: Build, e: MemoryEvent): boolean {
  if (b.satelliteId !== e.satelliteId) return false;
  return (detailOf(e)?.builds ?? []).includes(b.id) || ranDuring(b, { first: e.startedAt, last: e.finishedAt });
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
  for (const e of events) {
    const named = new Set(detailOf(e)?.builds ?? []);
    for (const b of builds) if (!named.has(b.id) && during(b, e)) named.add(b.id);
    out.set(e.id, named.size);
  }
  return out;
}
