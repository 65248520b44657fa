// OOM kills on a satellite, in its history. A build step killed for memory fails with "exit
// code 137" and nothing else; the history says what was killed, at which limit, during which
// builds. Every watching jobs process reports the kills it sees, and again after a restart;
// each kill is kept once, by its id: an advisory lock per satellite makes "which of these are
// new" and the insert one step across processes.
import type { Db } from "@satellites/db";
import { BUILD_LOST_AFTER_MS } from "./builds.ts";
import { noteEvent } from "./history.ts";

export interface MemoryKillReport {
  satelliteId: string;
  limitMiB: number;
  kills: { id: string; at: Date; process: string | null; hostWide: boolean }[];
}

/** What a "memory" event's detail holds. */
export interface MemoryKillDetail {
  memory: "oom_kill";
  kills: number;
  killIds: string[];
  /** The killed processes' names (as the kernel gave them), each once. */
  processes: string[];
  limitMiB: number;
  /** The host as a whole ran out, not the satellite's limit. */
  hostWide: boolean;
  /**
   * Builds that looked running at the first kill (or had failed moments before it) when the kills
   * were recorded. Records lag: a build's can come later (the proxy writes them every second,
   * and holds them while the database is away), and its end is written a moment after it
   * answered, so one that had just passed can still look running. Readers match builds to kills
   * by their records' times (`ranDuring`); these names count only for records gone since.
   */
  builds: string[];
}

/** The kills of one "memory" event: its first and last (the event's startedAt and finishedAt). */
export interface KillWindow {
  first: Date;
  last: Date;
}

/** What `ranDuring` reads of a build record. */
export interface BuildSpan {
  startedAt: Date;
  endedAt: Date | null;
  seenAt: Date;
  grpcCode: number | null;
}

/**
 * A build that failed this shortly before a kill may be the one the kill ended (the kill's time
 * comes from the kernel's clock, the build's end from the proxy's). One that succeeded was not:
 * naming it marked a build that had just passed "out of memory" when the next one was killed.
 */
const ENDED_SLACK_MS = 2_000;
const MAX_BUILDS_NAMED = 50;
/** Kills are re-reported from the kernel's ring buffer, which holds far fewer than this. */
const RECENT_EVENTS = 200;

/**
 * Whether the build ran when the kills happened: started by the last, and still running at the
 * first (ended after it, or not ended and not lost by then), or failed moments before it.
 */
export function ranDuring(b: BuildSpan, w: KillWindow): boolean {
  if (b.startedAt > w.last) return false;
  if (b.endedAt === null) return b.seenAt.getTime() >= w.first.getTime() - BUILD_LOST_AFTER_MS;
  if (b.endedAt >= w.first) return true;
  return b.grpcCode !== 0 && b.endedAt.getTime() >= w.first.getTime() - ENDED_SLACK_MS;
}

/** Records the kills not recorded yet as one event; null when there are none (or the satellite is gone). */
export async function recordMemoryKills(db: Db, report: MemoryKillReport): Promise<MemoryKillDetail | null> {
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`memory-kills:${report.satelliteId}`}, 0))`;
    const sat = await tx.satellite.findUnique({ where: { id: report.satelliteId } });
    if (!sat || sat.state === "deleted") return null;
    const recent = await tx.satelliteEvent.findMany({ where: { satelliteId: sat.id, cause: "memory" }, orderBy: { id: "desc" }, take: RECENT_EVENTS, select: { detail: true } });
    const seen = new Set(recent.flatMap((e) => (e.detail as Partial<MemoryKillDetail> | null)?.killIds ?? []));
    const fresh = report.kills.filter((k) => !seen.has(k.id));
    if (!fresh.length) return null;
    const first = new Date(Math.min(...fresh.map((k) => k.at.getTime())));
    const last = new Date(Math.max(...fresh.map((k) => k.at.getTime())));
    const candidates = await tx.build.findMany({
      where: { satelliteId: sat.id, startedAt: { lte: last }, OR: [{ endedAt: null }, { endedAt: { gte: new Date(first.getTime() - ENDED_SLACK_MS) } }] },
      orderBy: { startedAt: "desc" },
      take: MAX_BUILDS_NAMED * 4,
      select: { id: true, startedAt: true, endedAt: true, seenAt: true, grpcCode: true },
    });
    const builds = candidates.filter((b) => ranDuring(b, { first, last })).slice(0, MAX_BUILDS_NAMED);
    const detail: MemoryKillDetail = {
      memory: "oom_kill",
      kills: fresh.length,
      killIds: fresh.map((k) => k.id),
      processes: [...new Set(fresh.flatMap((k) => (k.process ? [k.process] : [])))],
      limitMiB: report.limitMiB,
      hostWide: fresh.some((k) => k.hostWide),
      builds: builds.map((b) => b.id),
    };
    await noteEvent(tx, sat, { cause: "memory", actor: "system", startedAt: first, finishedAt: last, detail: { ...detail } });
    return detail;
  });
}

/** The history's words for a "memory" event; `builds`: how many ran during it, as read now (default: those it named). */
export function memoryKillNote(d: Partial<MemoryKillDetail>, builds = d.builds?.length ?? 0): string {
  const n = d.kills ?? 1;
  const names = d.processes ?? [];
  const what = n === 1 && names.length === 1 ? names[0] : `${n} process${n === 1 ? "" : "es"}${names.length ? ` (${names.join(", ")})` : ""}`;
  const during = builds === 0 ? "" : builds === 1 ? " during a build" : ` during ${builds} builds`;
  const where = d.hostWide ? "the host ran out of memory" : `at the ${d.limitMiB ?? "?"} MiB memory limit`;
  return `Out of memory: killed ${what}, ${where}${during}`;
}
