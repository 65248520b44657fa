// A satellite's BuildKit cache and its daemon's log, on its page. The cache is measured and reset
// by the jobs process (the only one that talks to satellites; processors/cache.ts): these
// procedures read what it stored and ask it to act. A reset is for admins, refused while a build
// runs (and checked again by the job), audited here and recorded in the history by the job.
// Logs: a local satellite's output file, its last N KiB; EC2 instances' logs are not reachable
// from the control plane, and the answer says so.
import { recordAudit } from "@satellites/audit";
import { config } from "@satellites/config";
import { readLocalLogTail } from "@satellites/provider/local-log";
import { requestCache } from "@satellites/queue";
import { runningBuilds } from "@satellites/state";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireSatellite } from "../access.ts";
import { outOfDiskBuilds } from "../builds.ts";
import { idSchema } from "../inputs.ts";
import { db, queues } from "../services.ts";
import { actorOf, authedProcedure, whoOf } from "../trpc.ts";

const notAwake = (state: string, what: string) =>
  new TRPCError({ code: "PRECONDITION_FAILED", message: `The satellite is ${state}: wake it to ${what} (its cache can only be reached while it is awake)` });

/** How far back the cache card counts builds that ran out of disk. */
const OUT_OF_DISK_WINDOW_MS = 7 * 24 * 3600_000;

const kibSchema = z.number({ message: "kib must be a number" }).int("kib must be a whole number").min(1, "kib must be at least 1").max(1024, "kib must be at most 1024").default(64);

export const cacheProcedures = {
  /** The cache as last measured, the last reset, and whether a build runs now. */
  cache: authedProcedure.input(z.object({ id: idSchema("id") })).query(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "member", "view the cache", { allowDeleted: true });
    const [running, lastReset, outOfDisk] = await Promise.all([
      runningBuilds(db(), satellite.id),
      db().satelliteEvent.findFirst({ where: { satelliteId: satellite.id, detail: { path: ["cache"], equals: "reset" } }, orderBy: { id: "desc" } }),
      outOfDiskBuilds(db(), satellite.id, new Date(Date.now() - OUT_OF_DISK_WINDOW_MS)),
    ]);
    const detail = (lastReset?.detail ?? {}) as { beforeBytes?: number; afterBytes?: number; freedBytes?: number };
    return {
      bytes: satellite.cacheBytes === null ? null : Number(satellite.cacheBytes),
      entries: satellite.cacheEntries,
      measuredAt: satellite.cacheMeasuredAt,
      /** The last measurement that failed, when it is newer than the last one stored. */
      measureFailed:
        satellite.cacheMeasureFailedAt && (!satellite.cacheMeasuredAt || satellite.cacheMeasureFailedAt > satellite.cacheMeasuredAt)
          ? { at: satellite.cacheMeasureFailedAt, reason: satellite.cacheMeasureError ?? "unknown reason" }
          : null,
      /** The disk limit: BuildKit's garbage collection keeps the cache under it (user-data.ts, local-daemon.ts). */
      limitBytes: satellite.limitDiskGiB * 2 ** 30,
      runningBuilds: running,
      /** Builds that ran out of disk in the last 7 days (build.list marks them diskFull), and when the last began. */
      outOfDiskBuilds: outOfDisk,
      lastReset: lastReset ? { at: lastReset.finishedAt, error: lastReset.error, beforeBytes: detail.beforeBytes ?? null, afterBytes: detail.afterBytes ?? null, freedBytes: detail.freedBytes ?? null } : null,
    };
  }),

  /** Asks the jobs process to measure the cache now (awake satellites; otherwise the size from its last sleep stands). */
  measureCache: authedProcedure.input(z.object({ id: idSchema("id") })).mutation(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "member", "measure the cache");
    if (satellite.state !== "awake") throw notAwake(satellite.state, "measure its cache");
    await requestCache(queues().cache, { satelliteId: satellite.id, action: "measure", actor: actorOf(ctx.principal) });
    return { requested: true };
  }),

  /** Empties the cache (BuildKit prune --all). Admins; refused while a build runs. */
  resetCache: authedProcedure.input(z.object({ id: idSchema("id") })).mutation(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "admin", "reset the cache");
    if (satellite.state !== "awake") throw notAwake(satellite.state, "reset its cache");
    const running = await runningBuilds(db(), satellite.id);
    if (running > 0) {
      throw new TRPCError({ code: "CONFLICT", message: `${running} build${running === 1 ? " is" : "s are"} running on this satellite: reset the cache once ${running === 1 ? "it has" : "they have"} finished` });
    }
    await recordAudit(db(), { orgId: satellite.orgId, ...whoOf(ctx), action: "satellite.cache.reset", targetType: "satellite", targetId: satellite.id, detail: { name: satellite.name, bytesBefore: satellite.cacheBytes === null ? null : Number(satellite.cacheBytes) } });
    await requestCache(queues().cache, { satelliteId: satellite.id, action: "reset", actor: actorOf(ctx.principal) });
    return { requested: true };
  }),

  /** The last `kib` KiB of the satellite daemon's log (local provider), or why there is none. */
  logs: authedProcedure.input(z.object({ id: idSchema("id"), kib: kibSchema })).query(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "member", "read the daemon's log");
    if (satellite.provider !== "local") {
      return { available: false as const, note: "This satellite runs on EC2: its daemon's log stays on the instance (journalctl -u buildkit there, or your CloudWatch agent). The control plane cannot read it." };
    }
    if (!satellite.instanceId) return { available: false as const, note: "The satellite has no machine yet: its log starts when it is launched." };
    const tail = await readLocalLogTail(config().LOCAL_DATA_DIR, satellite.instanceId, input.kib * 1024);
    if (!tail) return { available: false as const, note: "No log file for this satellite on this host (it may run on another host than the dashboard, or has not written anything yet)." };
    return { available: true as const, ...tail };
  }),
};
