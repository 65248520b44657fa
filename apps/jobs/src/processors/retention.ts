// Retention: history older than HISTORY_RETENTION_DAYS, build records and call counts older than
// BUILD_RETENTION_DAYS, and deleted satellites' rows older than
// DELETED_RETENTION_DAYS (their history goes with them) are purged in small batches, so a
// pass never holds long locks. Only rows past the windows go: figures computed inside them
// (the dashboard's) are unaffected.
import type { JobsContext } from "../context.ts";

const BATCH = 5_000;
/** Bounds one pass; the next pass continues where this one stopped. */
const MAX_BATCHES = 20;

export interface RetentionResult {
  events: number;
  satellites: number;
  /** Build records and per-minute call counts (BUILD_RETENTION_DAYS). */
  builds: number;
}

export async function purgeExpired(ctx: Pick<JobsContext, "db" | "config">, now = new Date()): Promise<RetentionResult> {
  const day = 24 * 3600 * 1000;
  const eventsBefore = new Date(now.getTime() - ctx.config.HISTORY_RETENTION_DAYS * day);
  const deletedBefore = new Date(now.getTime() - ctx.config.DELETED_RETENTION_DAYS * day);
  const satellites = await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM satellite WHERE id IN (
      SELECT id FROM satellite WHERE state = 'deleted' AND "deletedAt" < ${deletedBefore} ORDER BY "deletedAt" LIMIT ${BATCH})`,
  );
  const events = await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM satellite_event WHERE id IN (
      SELECT id FROM satellite_event WHERE "finishedAt" < ${eventsBefore} ORDER BY "finishedAt" LIMIT ${BATCH})`,
  );
  const buildsBefore = new Date(now.getTime() - ctx.config.BUILD_RETENTION_DAYS * day);
  const builds = await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM build WHERE id IN (
      SELECT id FROM build WHERE "startedAt" < ${buildsBefore} ORDER BY "startedAt" LIMIT ${BATCH})`,
  );
  await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM call_stat WHERE ctid IN (
      SELECT ctid FROM call_stat WHERE minute < ${buildsBefore} ORDER BY minute LIMIT ${BATCH})`,
  );
  return { events, satellites, builds };
}

/** Runs one bounded DELETE until it removes less than a batch (or MAX_BATCHES ran); the rows removed. */
async function inBatches(deleteBatch: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const n = await deleteBatch();
    total += n;
    if (n < BATCH) break;
  }
  return total;
}
