// Satellites: create, read, change and operate them. The web never talks to a provider: each
// mutation records an intent (a state transition and/or columns) through @satellites/state or
// @satellites/lifecycle, which enqueue the job the worker carries out.
//
// Roles: any member (or a token) may read, watch, wake and sleep satellites — that is what
// running builds needs. Creating, resizing, deleting and changing limits need admin or owner.
import { defaultLimits, limitsOf, PLATFORMS, SIZES, SIZE_SPECS } from "@satellites/catalog";
import { changes, recordAudit } from "@satellites/audit";
import { config } from "@satellites/config";
import type { Prisma } from "@satellites/db";
import { requestDelete, requestLaunch, requestLimits, requestResize, requestSleep, requestWake } from "@satellites/lifecycle";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireOrg, requireSatellite } from "../access.ts";
import { searchText } from "../../lib/fields.ts";
import { idSchema, limitSchema, orgIdSchema, satelliteName, stateSchema } from "../inputs.ts";
import { db, queues } from "../services.ts";
import { actorOf, authedProcedure, router, whoOf } from "../trpc.ts";
import { earthlyConnection, proxyAddress, satelliteInternals, satelliteView } from "../views.ts";
import { watchStream } from "../watch-stream.ts";
import { cacheProcedures } from "./satellite-cache.ts";
import { certificateProcedures } from "./satellite-certificates.ts";
import { scheduleProcedures } from "./satellite-schedule.ts";

const sizeSchema = z.enum(SIZES, { message: `size must be one of ${SIZES.join(", ")}` });
const platformSchema = z.enum(PLATFORMS, { message: `platform must be one of ${PLATFORMS.join(", ")}` });
const idleSchema = z
  .number({ message: "idleTimeoutSeconds must be a number" })
  .int("idleTimeoutSeconds must be a whole number of seconds")
  .min(60, "Idle timeout must be at least 60 seconds")
  .max(7 * 24 * 3600, "Idle timeout must be at most 7 days (604800 seconds)");
const num = (name: string) => z.number({ message: `${name} must be a number` });

/** "satellite is awake; …" → "Satellite is awake; …" for people. */
const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const refused = (reason: string, code: "PRECONDITION_FAILED" | "CONFLICT" = "PRECONDITION_FAILED") => new TRPCError({ code, message: sentence(reason) });

export const satelliteRouter = router({
  // Client certificates (issueCertificate, certificates, revokeCertificate): their own file.
  ...certificateProcedures,
  // Cache (cache, measureCache, resetCache) and the daemon's log (logs): their own file.
  ...cacheProcedures,
  // Keep-warm schedules (getSchedule, setSchedule): their own file.
  ...scheduleProcedures,

  create: authedProcedure
    .input(
      z.object({
        orgId: orgIdSchema,
        name: satelliteName,
        size: sizeSchema.default("medium"),
        platform: platformSchema.default("amd64"),
        idleTimeoutSeconds: idleSchema.optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { orgId } = await requireOrg(ctx.principal, input.orgId, "admin", "create satellites");
      const c = config();
      const r = await requestLaunch(db(), queues(), {
        orgId,
        name: input.name,
        size: input.size,
        platform: input.platform,
        provider: c.PROVIDER,
        idleTimeoutSeconds: input.idleTimeoutSeconds ?? c.IDLE_TIMEOUT_DEFAULT_SECONDS,
        actor: actorOf(ctx.principal),
      }, (tx, s) =>
        recordAudit(tx, { orgId, ...whoOf(ctx), action: "satellite.create", targetType: "satellite", targetId: s.id, detail: { name: s.name, size: s.size, platform: s.platform, idleTimeoutSeconds: s.idleTimeoutSeconds } }),
      );
      if (r.kind === "exists") throw new TRPCError({ code: "CONFLICT", message: `A satellite named "${input.name}" already exists in this organization` });
      if (r.kind === "over-quota") throw new TRPCError({ code: "FORBIDDEN", message: r.reason });
      return satelliteView(r.satellite);
    }),

  list: authedProcedure
    .input(
      z
        .object({
          orgId: orgIdSchema,
          /** Name of the last satellite of the previous page. */
          cursor: z.string().regex(/^[a-z0-9-]{1,63}$/, "cursor is not valid: pass nextCursor from the previous page").nullish(),
          limit: limitSchema(200, 100),
          search: searchText.optional(),
          state: z.array(stateSchema).max(9).optional(),
        })
        .default({ limit: 100 }),
    )
    .query(async ({ ctx, input }) => {
      const { orgId } = await requireOrg(ctx.principal, input.orgId, "member", "list satellites");
      // Live satellites have liveName set; ordering by it walks the (orgId, liveName) unique index.
      const where: Prisma.SatelliteWhereInput = {
        orgId,
        liveName: { not: null, ...(input.cursor ? { gt: input.cursor } : {}), ...(input.search ? { contains: input.search.toLowerCase() } : {}) },
        ...(input.state?.length ? { state: { in: input.state } } : {}),
      };
      const [rows, grouped] = await Promise.all([
        db().satellite.findMany({ where, orderBy: { liveName: "asc" }, take: input.limit + 1 }),
        // The per-state counts ignore paging and filters: they summarise the organization.
        input.cursor ? Promise.resolve(null) : db().satellite.groupBy({ by: ["state"], where: { orgId, liveName: { not: null } }, _count: { _all: true } }),
      ]);
      const more = rows.length > input.limit;
      const items = (more ? rows.slice(0, input.limit) : rows).map(satelliteView);
      const counts = grouped ? Object.fromEntries(grouped.map((g) => [g.state, g._count._all])) : null;
      return { items, nextCursor: more ? items[items.length - 1]!.name : null, counts, proxyAddress: proxyAddress() };
    }),

  get: authedProcedure.input(z.object({ id: idSchema("id") })).query(async ({ ctx, input }) => {
    // A deleted satellite stays readable by its organization (state "deleted", history kept).
    const { satellite, role } = await requireSatellite(ctx.principal, input.id, "member", "view satellites", { allowDeleted: true });
    const org = await db().organization.findUnique({ where: { id: satellite.orgId }, select: { slug: true } });
    return {
      ...satelliteView(satellite),
      role,
      connection: { address: proxyAddress(), orgId: satellite.orgId, orgSlug: org?.slug ?? "", name: satellite.name, earthly: earthlyConnection() },
      // Members never see the satellite's address; admins see it marked internal.
      internal: role === "member" ? null : satelliteInternals(satellite),
    };
  }),

  update: authedProcedure
    .input(
      z
        .object({ id: idSchema("id"), size: sizeSchema.optional(), platform: platformSchema.optional(), force: z.boolean({ message: "force must be true or false" }).default(false) })
        .refine((v) => v.size !== undefined || v.platform !== undefined, { message: "Pass a new size and/or platform", path: ["size"] }),
    )
    .mutation(async ({ ctx, input }) => {
      const { satellite } = await requireSatellite(ctx.principal, input.id, "admin", "change a satellite's size or platform");
      const size = input.size ?? satellite.size;
      const platform = input.platform ?? satellite.platform;
      if (size === satellite.size && platform === satellite.platform) return satelliteView(satellite);
      if (satellite.state === "awake" && !input.force) {
        throw refused("The satellite is awake: put it to sleep first, or pass force: true to put it to sleep and then resize");
      }
      if (satellite.state !== "asleep" && satellite.state !== "awake") throw refused(`Cannot change the size while the satellite is ${satellite.state}`);
      const r = await requestResize(db(), queues(), satellite, { size, platform, force: input.force, actor: actorOf(ctx.principal) }, (tx) =>
        recordAudit(tx, { orgId: satellite.orgId, ...whoOf(ctx), action: "satellite.resize", targetType: "satellite", targetId: satellite.id, detail: { name: satellite.name, ...changes({ size: satellite.size, platform: satellite.platform }, { size, platform }), force: input.force } }),
      );
      if (r.kind === "refused") throw refused(r.reason);
      return satelliteView(r.satellite);
    }),

  delete: authedProcedure
    .input(z.object({ id: idSchema("id"), force: z.boolean({ message: "force must be true or false" }).default(false) }))
    .mutation(async ({ ctx, input }) => {
      const { satellite } = await requireSatellite(ctx.principal, input.id, "admin", "delete satellites");
      const r = await requestDelete(db(), queues(), satellite, { actor: actorOf(ctx.principal), force: input.force }, (tx) =>
        recordAudit(tx, { orgId: satellite.orgId, ...whoOf(ctx), action: "satellite.delete", targetType: "satellite", targetId: satellite.id, detail: { name: satellite.name, state: satellite.state, force: input.force } }),
      );
      if (r.kind === "refused") throw refused(r.reason);
      return satelliteView(r.satellite);
    }),

  wake: authedProcedure.input(z.object({ id: idSchema("id") })).mutation(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "member", "wake satellites");
    const r = await requestWake(db(), queues(), satellite.id, { cause: "manual", actor: actorOf(ctx.principal) }, satellite);
    if (r.kind === "unavailable") throw refused(r.reason);
    return { outcome: r.kind, satellite: satelliteView(r.satellite) };
  }),

  sleep: authedProcedure.input(z.object({ id: idSchema("id") })).mutation(async ({ ctx, input }) => {
    const { satellite } = await requireSatellite(ctx.principal, input.id, "member", "put satellites to sleep");
    const r = await requestSleep(db(), queues(), satellite, { cause: "manual", actor: actorOf(ctx.principal) });
    if (r.kind === "refused") throw refused(r.reason, r.satellite ? "PRECONDITION_FAILED" : "CONFLICT");
    return { outcome: r.kind, satellite: satelliteView(r.satellite) };
  }),

  setLimits: authedProcedure
    .input(
      z.object({
        id: idSchema("id"),
        // Any subset; the rest keep their current values. Ranges depend on the size, so they
        // are checked against the satellite below.
        limits: z
          .object({
            cpuPercent: num("CPU").optional(),
            memoryMiB: num("Memory").optional(),
            swapMiB: num("Swap").optional(),
            diskGiB: num("Disk").optional(),
            oomScoreAdj: num("OOM score adjustment").optional(),
            idleTimeoutSeconds: num("Idle timeout").optional(),
          })
          .strict(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { satellite } = await requireSatellite(ctx.principal, input.id, "admin", "change limits");
      // Merged over the limits and checked against the size as they are when saved (under the
      // row's lock: a resize or another save meanwhile is seen).
      const r = await requestLimits(db(), queues(), satellite, input.limits, async (tx, saved, before) => {
        const changed = changes({ ...before }, { ...limitsOf(saved) });
        if (Object.keys(changed).length) await recordAudit(tx, { orgId: satellite.orgId, ...whoOf(ctx), action: "satellite.limits", targetType: "satellite", targetId: satellite.id, detail: { name: satellite.name, ...changed } });
      });
      if (r.kind === "invalid") throw new TRPCError({ code: "BAD_REQUEST", message: r.issues.join("; ") });
      if (r.kind === "refused") throw refused(r.reason);
      return satelliteView(r.satellite);
    }),

  /** Size catalog for forms: specs, prices and default limits per size. */
  sizes: authedProcedure.query(() =>
    SIZES.map((size) => ({ size, vcpu: SIZE_SPECS[size].vcpu, memoryMiB: SIZE_SPECS[size].memoryMiB, instanceType: SIZE_SPECS[size].instanceType, hourlyUsd: SIZE_SPECS[size].hourlyUsd, defaults: defaultLimits(size) })),
  ),

  /**
   * Server-sent events with every committed state change of one satellite (`id`) or of all
   * satellites of an organization. The first event is sent once the subscription is in place:
   * with `id` a snapshot of the current state, so "subscribe, then wait for awake" cannot miss a
   * change that happened in between; without, a resync (re-read the list now). No change older
   * than what that first event stood for follows it (version-floor.ts).
   */
  watch: authedProcedure
    .input(z.object({ orgId: orgIdSchema, id: idSchema("id").optional() }).default({}))
    .subscription(({ ctx, input, signal }) => watchStream(ctx.principal, input, signal)),
});
