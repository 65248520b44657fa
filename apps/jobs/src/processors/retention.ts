// Retention: history older than HISTORY_RETENTION_DAYS (but each satellite's last one before it),
// build records and call counts older than BUILD_RETENTION_DAYS, and deleted satellites' rows
// older than DELETED_RETENTION_DAYS (their history and certificates first) are purged in small
// batches, so a pass never holds long locks. Only rows past the windows go: figures computed
// inside them (the dashboard's) are unaffected.
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
  // A purged satellite's history and certificates go first, in batches: deleting the row would
  // take them by cascade in one statement (years of events of many satellites in one transaction).
  let events = await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM satellite_event WHERE id IN (
      SELECT e.id FROM satellite_event e JOIN satellite s ON s.id = e."satelliteId"
       WHERE s.state = 'deleted' AND s."deletedAt" < ${deletedBefore} LIMIT ${BATCH})`,
  );
  await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM client_certificate WHERE id IN (
      SELECT c.id FROM client_certificate c JOIN satellite s ON s.id = c."satelliteId"
       WHERE s.state = 'deleted' AND s."deletedAt" < ${deletedBefore} LIMIT ${BATCH})`,
  );
  // Only rows whose history is gone: what a pass left for the next one stays with its satellite.
  const satellites = await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM satellite WHERE id IN (
      SELECT s.id FROM satellite s WHERE s.state = 'deleted' AND s."deletedAt" < ${deletedBefore}
         AND NOT EXISTS (SELECT 1 FROM satellite_event e WHERE e."satelliteId" = s.id)
         AND NOT EXISTS (SELECT 1 FROM client_certificate c WHERE c."satelliteId" = s.id)
       ORDER BY s."deletedAt" LIMIT ${BATCH})`,
  );
  // Each satellite keeps the last event before the cutoff: the figures read the state a
  // satellite was in when a window opens from its last event before it (one asleep for 401 days
  // is asleep, not absent).
  events += await inBatches(
    () => ctx.db.$executeRaw`DELETE FROM satellite_event WHERE id IN (
      SELECT e.id FROM satellite_event e
       WHERE e."finishedAt" < ${eventsBefore}
         AND e.id IS DISTINCT FROM (SELECT l.id FROM satellite_event l
                       WHERE l."satelliteId" = e."satelliteId" AND l.cause <> 'memory' AND l."finishedAt" < ${eventsBefore}
                       ORDER BY l."finishedAt" DESC, l.id DESC LIMIT 1)
       ORDER BY e."finishedAt" LIMIT ${BATCH})`,
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
