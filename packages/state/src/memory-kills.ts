// OOM kills on a satellite, in its history. A build step killed for memory fails with "exit
// code 137" and nothing else; the history says what was killed, at which limit, during which
// builds. Every watching jobs process reports the kills it sees, and again after a restart;
// each kill is kept once, by its id: an advisory lock per satellite makes "which of these are
// new" and the insert one step across processes.
import type { Db } from "@satellites/db";
import { BUILD_LOST_AFTER_MS } from "./builds.ts";
import { announce } from "./transition.ts";

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
  /** Builds running at the first kill (or failed moments before it). */
  builds: string[];
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
    const builds = await tx.build.findMany({
      where: {
        satelliteId: sat.id,
        startedAt: { lte: last },
        OR: [
          { endedAt: null, seenAt: { gte: new Date(first.getTime() - BUILD_LOST_AFTER_MS) } },
          { endedAt: { gte: first } },
          { endedAt: { gte: new Date(first.getTime() - ENDED_SLACK_MS) }, grpcCode: { not: 0 } },
        ],
      },
      orderBy: { startedAt: "desc" },
      take: MAX_BUILDS_NAMED,
      select: { id: true },
    });
    const detail: MemoryKillDetail = {
      memory: "oom_kill",
      kills: fresh.length,
      killIds: fresh.map((k) => k.id),
      processes: [...new Set(fresh.flatMap((k) => (k.process ? [k.process] : [])))],
      limitMiB: report.limitMiB,
      hostWide: fresh.some((k) => k.hostWide),
      builds: builds.map((b) => b.id),
    };
    const now = new Date();
    await tx.satelliteEvent.create({
      data: { satelliteId: sat.id, orgId: sat.orgId, from: sat.state, to: sat.state, cause: "memory", actor: "system", startedAt: first, finishedAt: last, detail: { ...detail } },
    });
    // Pages showing the satellite or its history re-read.
    await announce(tx, { id: sat.id, orgId: sat.orgId, from: sat.state, to: sat.state, version: sat.version, cause: "memory", at: now.toISOString(), upstream: sat.upstream });
    return detail;
  });
}

/** The history's words for a "memory" event. */
export function memoryKillNote(d: Partial<MemoryKillDetail>): string {
  const n = d.kills ?? 1;
  const names = d.processes ?? [];
  const what = n === 1 && names.length === 1 ? names[0] : `${n} process${n === 1 ? "" : "es"}${names.length ? ` (${names.join(", ")})` : ""}`;
  const builds = d.builds?.length ?? 0;
  const during = builds === 0 ? "" : builds === 1 ? " during a build" : ` during ${builds} builds`;
  const where = d.hostWide ? "the host ran out of memory" : `at the ${d.limitMiB ?? "?"} MiB memory limit`;
  return `Out of memory: killed ${what}, ${where}${during}`;
}
