// The history of sleeps and wakes: a page of events (newest first, keyset pagination over
// the (org|satellite, finishedAt DESC, id DESC) indexes, so page 1000 costs what page 1 does),
// the figures cards show, and one satellite's timeline of states.
import type { Prisma } from "@satellites/db";
import { CAUSES, type MemoryKillDetail, memoryKillNote } from "@satellites/state";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireOrg, roleIn, satelliteNotFound } from "../access.ts";
import { causeSchema, dateSchema, idSchema, limitSchema, orgIdSchema, stateSchema } from "../inputs.ts";
import { buildsDuringKills } from "../memory-kill-builds.ts";
import { db } from "../services.ts";
import { dailyStats, type Scope, timeline, wakeHistogram, wakeStats, windowFor } from "../stats.ts";
import { authedProcedure, type Principal, router } from "../trpc.ts";

/** History stays readable after a satellite is deleted, so deleted rows count here. */
async function scopeFor(p: Principal, orgId: string | undefined, satelliteId: string | undefined): Promise<Scope> {
  if (satelliteId) {
    const s = await db().satellite.findUnique({ where: { id: satelliteId }, select: { orgId: true } });
    if (!s || !(await roleIn(p, s.orgId))) throw satelliteNotFound();
    if (orgId && orgId !== s.orgId) throw satelliteNotFound();
    return { orgId: s.orgId, satelliteId };
  }
  return { orgId: (await requireOrg(p, orgId, "member", "read history")).orgId };
}

const MAX_BIGINT = 2n ** 63n - 1n;
const CURSOR = /^(\d{1,15})_(\d{1,19})$/;
export function parseCursor(cursor: string): { at: Date; id: bigint } {
  const m = CURSOR.exec(cursor);
  const at = m ? new Date(Number(m[1])) : null;
  // Event ids are Postgres bigints: a larger number is not a cursor we ever handed out.
  if (!m || !at || Number.isNaN(at.getTime()) || BigInt(m[2]!) > MAX_BIGINT) throw new TRPCError({ code: "BAD_REQUEST", message: "cursor is not valid: pass nextCursor from the previous page" });
  return { at, id: BigInt(m[2]!) };
}

/** "user:…" / "token:…" / "system" → something a person recognises. */
export async function describeActors(actors: string[]): Promise<Map<string, { kind: "user" | "token" | "certificate" | "system"; label: string }>> {
  const userIds = new Set<string>();
  const tokenIds = new Set<string>();
  const certIds = new Set<string>();
  for (const a of actors) {
    if (a.startsWith("user:")) userIds.add(a.slice(5));
    else if (a.startsWith("token:")) tokenIds.add(a.slice(6));
    else if (a.startsWith("certificate:")) certIds.add(a.slice(12));
  }
  const [users, tokens, certs] = await Promise.all([
    userIds.size ? db().user.findMany({ where: { id: { in: [...userIds] } }, select: { id: true, name: true, email: true } }) : [],
    tokenIds.size ? db().apiToken.findMany({ where: { id: { in: [...tokenIds] } }, select: { id: true, name: true, prefix: true } }) : [],
    certIds.size ? db().clientCertificate.findMany({ where: { id: { in: [...certIds] } }, select: { id: true, name: true } }) : [],
  ]);
  const out = new Map<string, { kind: "user" | "token" | "certificate" | "system"; label: string }>();
  for (const u of users) out.set(`user:${u.id}`, { kind: "user", label: u.name || u.email });
  for (const t of tokens) out.set(`token:${t.id}`, { kind: "token", label: `token "${t.name}" (${t.prefix}…)` });
  for (const c of certs) out.set(`certificate:${c.id}`, { kind: "certificate", label: `certificate "${c.name}"` });
  for (const a of actors) {
    if (out.has(a)) continue;
    const kind = a === "system" ? "system" : a.startsWith("token:") ? "token" : a.startsWith("certificate:") ? "certificate" : "user";
    out.set(a, { kind, label: kind === "system" ? "system" : "(removed)" });
  }
  return out;
}

/** What an event that changed no state did, in words (a cache reset and its sizes, OOM kills during `builds` builds). */
function noteOf(detail: unknown, builds: number | undefined): string | null {
  const d = detail as ({ cache?: string; beforeBytes?: number; afterBytes?: number } & Partial<MemoryKillDetail>) | null;
  if (d?.memory === "oom_kill") return memoryKillNote(d, builds);
  if (d?.cache !== "reset") return null;
  const gib = (n: number | undefined) => (n === undefined ? "?" : `${(n / 2 ** 20).toFixed(1)} MiB`);
  return d.beforeBytes === undefined ? "Cache reset" : `Cache reset: ${gib(d.beforeBytes)} → ${gib(d.afterBytes)}`;
}

const daysSchema = z.number({ message: "days must be a number" }).int("days must be a whole number").min(1, "days must be at least 1").max(90, "days must be at most 90").default(14);

export const historyRouter = router({
  list: authedProcedure
    .input(
      z
        .object({
          orgId: orgIdSchema,
          satelliteId: idSchema("satelliteId").optional(),
          cause: z.array(causeSchema).max(CAUSES.length).optional(),
          /** States entered (the event's `to`). */
          state: z.array(stateSchema).max(9).optional(),
          from: dateSchema("from").optional(),
          to: dateSchema("to").optional(),
          cursor: z.string().max(40, "cursor is not valid: pass nextCursor from the previous page").nullish(),
          limit: limitSchema(200, 50),
        })
        .default({ limit: 50 })
        .refine((v) => !v.from || !v.to || v.from < v.to, { message: "from must be before to", path: ["from"] }),
    )
    .query(async ({ ctx, input }) => {
      const scope = await scopeFor(ctx.principal, input.orgId, input.satelliteId);
      const c = input.cursor ? parseCursor(input.cursor) : null;
      const finishedAt: Prisma.DateTimeFilter = {};
      if (input.from) finishedAt.gte = input.from;
      if (input.to) finishedAt.lt = input.to;
      // `finishedAt <= cursor` is an index bound; the OR only breaks ties inside one instant.
      if (c) finishedAt.lte = input.to && input.to <= c.at ? undefined : c.at;
      const where: Prisma.SatelliteEventWhereInput = {
        ...(scope.satelliteId ? { satelliteId: scope.satelliteId } : { orgId: scope.orgId }),
        ...(Object.keys(finishedAt).length ? { finishedAt } : {}),
        ...(input.cause?.length ? { cause: { in: input.cause } } : {}),
        ...(input.state?.length ? { to: { in: input.state } } : {}),
        ...(c ? { OR: [{ finishedAt: { lt: c.at } }, { finishedAt: c.at, id: { lt: c.id } }] } : {}),
      };
      const rows = await db().satelliteEvent.findMany({
        where,
        orderBy: [{ finishedAt: "desc" }, { id: "desc" }],
        take: input.limit + 1,
        include: { satellite: { select: { name: true } } },
      });
      const more = rows.length > input.limit;
      const page = more ? rows.slice(0, input.limit) : rows;
      const [actors, killBuilds] = await Promise.all([describeActors([...new Set(page.map((e) => e.actor))]), buildsDuringKills(page.filter((e) => e.cause === "memory"))]);
      const last = page[page.length - 1];
      return {
        items: page.map((e) => ({
          id: e.id.toString(),
          satelliteId: e.satelliteId,
          satelliteName: e.satellite.name,
          from: e.from,
          to: e.to,
          cause: e.cause,
          actor: e.actor,
          actorLabel: actors.get(e.actor)?.label ?? e.actor,
          actorKind: actors.get(e.actor)?.kind ?? "system",
          startedAt: e.startedAt,
          finishedAt: e.finishedAt,
          durationMs: e.durationMs,
          error: e.error,
          note: noteOf(e.detail, killBuilds.get(e.id)),
        })),
        nextCursor: more && last ? `${last.finishedAt.getTime()}_${last.id}` : null,
      };
    }),

  stats: authedProcedure
    .input(z.object({ orgId: orgIdSchema, satelliteId: idSchema("satelliteId").optional(), days: daysSchema }).default({ days: 14 }))
    .query(async ({ ctx, input }) => {
      const scope = await scopeFor(ctx.principal, input.orgId, input.satelliteId);
      const { from, to } = windowFor(input.days);
      const [days, wakes, wakeDurations] = await Promise.all([dailyStats(db(), scope, from, to), wakeStats(db(), scope, from, to), wakeHistogram(db(), scope, from, to)]);
      const sum = (f: (d: (typeof days)[number]) => number) => days.reduce((a, d) => a + f(d), 0);
      return {
        from,
        to,
        ...wakes,
        awakeHours: sum((d) => d.awakeHours),
        asleepHours: sum((d) => d.asleepHours),
        costAvoidedUsd: sum((d) => d.costAvoidedUsd),
        days,
        wakeDurations,
      };
    }),

  timeline: authedProcedure
    .input(z.object({ satelliteId: idSchema("satelliteId"), days: daysSchema.default(7) }))
    .query(async ({ ctx, input }) => {
      const scope = await scopeFor(ctx.principal, undefined, input.satelliteId);
      // A rolling window: "the last 24 hours" reads better on a chart than "since midnight UTC".
      const to = new Date();
      const from = new Date(to.getTime() - input.days * 86_400_000);
      return { from, to, ...(await timeline(db(), { orgId: scope.orgId, satelliteId: input.satelliteId }, from, to)) };
    }),
});
