// Builds as the proxy recorded them (apps/proxy/src/build-records.ts): a page of builds, newest
// first, filtered by satellite, actor, status and time; and the figures the Builds charts draw.
// Every query is bounded to one organization the caller belongs to: another organization's
// builds are never listed, whatever ids are passed.
//
// `build.stats` answers (what the "builds per day and durations" chart reads):
//   { from, to, builds, succeeded, failed, cancelled, running,
//     p50DurationMs, p95DurationMs,            // finished builds in the window; null with none
//     bytesUp, bytesDown,                      // sums over the window's builds
//     calls: { calls, failed, bytesUp, bytesDown },   // every other call (sessions, health…)
//     days: [{ day: "YYYY-MM-DD" (UTC), builds, succeeded, failed, cancelled,
//              p50DurationMs, p95DurationMs, totalDurationMs }] }  // one per day, oldest first
import { type Prisma } from "@satellites/db";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireOrg, roleIn, satelliteNotFound } from "../access.ts";
import { BUILD_STATUSES, type BuildScope, buildDays, buildStatus, callTotals, grpcCodeName, ranOutOfDisk, statusWhere } from "../builds.ts";
import { dateSchema, idSchema, limitSchema, orgIdSchema } from "../inputs.ts";
import { memoryKillsDuring } from "../memory-kill-builds.ts";
import { db } from "../services.ts";
import { windowFor } from "../stats.ts";
import { authedProcedure, type Principal, router } from "../trpc.ts";
import { describeActors } from "./history.ts";

/** Builds stay listed after their satellite is deleted (their records are kept for the retention). */
async function scopeFor(p: Principal, orgId: string | undefined, satelliteId: string | undefined): Promise<BuildScope> {
  if (satelliteId) {
    const s = await db().satellite.findUnique({ where: { id: satelliteId }, select: { orgId: true } });
    if (!s || !(await roleIn(p, s.orgId))) throw satelliteNotFound();
    if (orgId && orgId !== s.orgId) throw satelliteNotFound();
    return { orgId: s.orgId, satelliteId };
  }
  return { orgId: (await requireOrg(p, orgId, "member", "read builds")).orgId };
}

const actorSchema = z
  .string()
  .trim()
  .max(120, "actor is not valid")
  .regex(/^(token|user|certificate):[A-Za-z0-9_-]{1,100}$/, "actor must look like token:<id>, user:<id> or certificate:<id>");
const statusSchema = z.enum(BUILD_STATUSES, { message: `status must be one of ${BUILD_STATUSES.join(", ")}` });

const CURSOR = /^(\d{1,15})_([A-Za-z0-9-]{1,64})$/;
function parseCursor(cursor: string): { at: Date; id: string } {
  const m = CURSOR.exec(cursor);
  const at = m ? new Date(Number(m[1])) : null;
  if (!m || !at || Number.isNaN(at.getTime())) throw new TRPCError({ code: "BAD_REQUEST", message: "cursor is not valid: pass nextCursor from the previous page" });
  return { at, id: m[2]! };
}

const daysSchema = z.number({ message: "days must be a number" }).int("days must be a whole number").min(1, "days must be at least 1").max(90, "days must be at most 90").default(14);

export const buildRouter = router({
  list: authedProcedure
    .input(
      z
        .object({
          orgId: orgIdSchema,
          satelliteId: idSchema("satelliteId").optional(),
          actor: actorSchema.optional(),
          status: z.array(statusSchema).max(BUILD_STATUSES.length).optional(),
          /** Builds started in [from, to). */
          from: dateSchema("from").optional(),
          to: dateSchema("to").optional(),
          cursor: z.string().max(100, "cursor is not valid: pass nextCursor from the previous page").nullish(),
          limit: limitSchema(200, 50),
        })
        .default({ limit: 50 })
        .refine((v) => !v.from || !v.to || v.from < v.to, { message: "the start of the period must be before its end", path: ["from"] }),
    )
    .query(async ({ ctx, input }) => {
      const scope = await scopeFor(ctx.principal, input.orgId, input.satelliteId);
      const now = Date.now();
      const c = input.cursor ? parseCursor(input.cursor) : null;
      const startedAt: Prisma.DateTimeFilter = {};
      if (input.from) startedAt.gte = input.from;
      if (input.to) startedAt.lt = input.to;
      if (c) startedAt.lte = input.to && input.to <= c.at ? undefined : c.at;
      const and: Prisma.BuildWhereInput[] = [];
      if (input.status?.length) and.push({ OR: input.status.map((s) => statusWhere(s, now)) });
      if (c) and.push({ OR: [{ startedAt: { lt: c.at } }, { startedAt: c.at, id: { lt: c.id } }] });
      const where: Prisma.BuildWhereInput = {
        orgId: scope.orgId,
        ...(scope.satelliteId ? { satelliteId: scope.satelliteId } : {}),
        ...(input.actor ? { actor: input.actor } : {}),
        ...(Object.keys(startedAt).length ? { startedAt } : {}),
        ...(and.length ? { AND: and } : {}),
      };
      const rows = await db().build.findMany({ where, orderBy: [{ startedAt: "desc" }, { id: "desc" }], take: input.limit + 1 });
      const more = rows.length > input.limit;
      const page = more ? rows.slice(0, input.limit) : rows;
      const [actors, satellites, memoryKills] = await Promise.all([
        describeActors([...new Set(page.map((b) => b.actor))]),
        db().satellite.findMany({ where: { orgId: scope.orgId, id: { in: [...new Set(page.map((b) => b.satelliteId))] } }, select: { id: true, name: true } }),
        memoryKillsDuring(scope.orgId, page),
      ]);
      const names = new Map(satellites.map((s) => [s.id, s.name]));
      const last = page[page.length - 1];
      return {
        items: page.map((b) => {
          const known = actors.get(b.actor);
          const status = buildStatus(b, now);
          return {
            id: b.id,
            satelliteId: b.satelliteId,
            satelliteName: names.get(b.satelliteId) ?? "(removed)",
            actor: b.actor,
            actorLabel: known && known.label !== "(removed)" ? known.label : (b.actorLabel ?? known?.label ?? b.actor),
            client: b.client,
            sessionId: b.sessionId,
            startedAt: b.startedAt,
            endedAt: b.endedAt,
            /** How long it waited for its satellite to wake before it started (not in durationMs); null when it did not. */
            wakeWaitMs: b.wakeWaitMs,
            // A running build's duration so far, as of its row's last write.
            durationMs: b.durationMs ?? Math.max(0, b.seenAt.getTime() - b.startedAt.getTime()),
            bytesUp: Number(b.bytesUp),
            bytesDown: Number(b.bytesDown),
            grpcCode: b.grpcCode,
            grpcStatus: grpcCodeName(b.grpcCode),
            status,
            /** Why it failed, as its client was told (BuildKit names the step and its error); null otherwise. */
            error: b.error,
            /** It failed for a full disk: BuildKit's answer said so, or a step's output did (see ranOutOfDisk). */
            diskFull: ranOutOfDisk(b, status),
            /** Processes the OOM killer killed on the satellite while this build ran (its history says more). */
            memoryKills: memoryKills.get(b.id) ?? 0,
          };
        }),
        nextCursor: more && last ? `${last.startedAt.getTime()}_${last.id}` : null,
      };
    }),

  stats: authedProcedure
    .input(z.object({ orgId: orgIdSchema, satelliteId: idSchema("satelliteId").optional(), days: daysSchema }).default({ days: 14 }))
    .query(async ({ ctx, input }) => {
      const scope = await scopeFor(ctx.principal, input.orgId, input.satelliteId);
      const { from, to } = windowFor(input.days);
      const where: Prisma.BuildWhereInput = { ...(scope.satelliteId ? { satelliteId: scope.satelliteId } : { orgId: scope.orgId }), startedAt: { gte: from, lt: to } };
      const [days, calls, sums, running] = await Promise.all([
        buildDays(db(), scope, from, to),
        callTotals(db(), scope, from, to),
        db().build.aggregate({ where, _sum: { bytesUp: true, bytesDown: true } }),
        db().build.count({ where: { ...(scope.satelliteId ? { satelliteId: scope.satelliteId } : { orgId: scope.orgId }), ...statusWhere("running") } }),
      ]);
      const finished = await db().$queryRaw<{ p50: number | null; p95: number | null }[]>`
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY "durationMs") AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY "durationMs") AS p95
        FROM build WHERE "orgId" = ${scope.orgId} AND (${scope.satelliteId ?? null}::text IS NULL OR "satelliteId" = ${scope.satelliteId ?? null})
          AND "startedAt" >= ${from.toISOString()}::timestamp AND "startedAt" < ${to.toISOString()}::timestamp AND "durationMs" IS NOT NULL`;
      const sum = (f: (d: (typeof days)[number]) => number) => days.reduce((a, d) => a + f(d), 0);
      const p = finished[0];
      return {
        from,
        to,
        builds: sum((d) => d.builds),
        succeeded: sum((d) => d.succeeded),
        failed: sum((d) => d.failed),
        cancelled: sum((d) => d.cancelled),
        running,
        p50DurationMs: p?.p50 == null ? null : Math.round(p.p50),
        p95DurationMs: p?.p95 == null ? null : Math.round(p.p95),
        bytesUp: Number(sums._sum.bytesUp ?? 0),
        bytesDown: Number(sums._sum.bytesDown ?? 0),
        calls,
        days,
      };
    }),

  /** Who ran builds in the organization lately (the Builds page's actor filter). */
  actors: authedProcedure.input(z.object({ orgId: orgIdSchema, days: daysSchema.default(30) }).default({ days: 30 })).query(async ({ ctx, input }) => {
    const scope = await scopeFor(ctx.principal, input.orgId, undefined);
    const rows = await db().build.findMany({
      where: { orgId: scope.orgId, startedAt: { gte: new Date(Date.now() - input.days * 86_400_000) } },
      distinct: ["actor"],
      select: { actor: true, actorLabel: true },
      take: 200,
    });
    const actors = await describeActors(rows.map((r) => r.actor));
    return rows.map((r) => ({ actor: r.actor, label: actors.get(r.actor)?.label === "(removed)" && r.actorLabel ? r.actorLabel : (actors.get(r.actor)?.label ?? r.actor) }));
  }),
});
