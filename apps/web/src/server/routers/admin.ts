// The instance admin (the first account): quotas per organization and the mail outbox. An
// organization's own owners cannot raise their quota; only the instance admin can.
import { changes, recordAudit } from "@satellites/audit";
import { SIZES } from "@satellites/catalog";
import { quotaOf } from "@satellites/lifecycle";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { idSchema, limitSchema } from "../inputs.ts";
import { db } from "../services.ts";
import { router, userProcedure, whoOf } from "../trpc.ts";

const instanceAdminProcedure = userProcedure.use(async ({ ctx, next }) => {
  const u = await db().user.findUnique({ where: { id: ctx.principal.userId }, select: { instanceAdmin: true } });
  if (!u?.instanceAdmin) throw new TRPCError({ code: "FORBIDDEN", message: "Only the instance admin can do this" });
  return next();
});

const countOrNull = (what: string, max: number) =>
  z
    .number({ message: `${what} must be a number or null (no limit)` })
    .int(`${what} must be a whole number`)
    .min(0, `${what} must be at least 0`)
    .max(max, `${what} must be at most ${max}`)
    .nullable();

export const adminRouter = router({
  /** Whether the signed-in person is the instance admin (the dashboard shows the admin pages). */
  me: userProcedure.query(async ({ ctx }) => {
    const u = await db().user.findUnique({ where: { id: ctx.principal.userId }, select: { instanceAdmin: true } });
    return { instanceAdmin: u?.instanceAdmin ?? false };
  }),

  /** Every organization with its quota and what it uses. */
  orgs: instanceAdminProcedure.query(async () => {
    const orgs = await db().organization.findMany({ orderBy: { createdAt: "asc" }, take: 1000, select: { id: true, name: true, slug: true, createdAt: true } });
    return Promise.all(orgs.map(async (o) => ({ ...o, ...(await quotaOf(db(), o.id)) })));
  }),

  /** null means no limit. */
  setQuota: instanceAdminProcedure
    .input(
      z.object({
        orgId: idSchema("orgId"),
        satellites: countOrNull("satellites", 100_000),
        vcpu: countOrNull("vcpu", 1_000_000),
        largestSize: z.enum(SIZES, { message: `largestSize must be one of ${SIZES.join(", ")} or null` }).nullable(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      return db().$transaction(async (tx) => {
        const before = await tx.organization.findUnique({ where: { id: input.orgId }, select: { quotaSatellites: true, quotaVcpu: true, quotaLargestSize: true } });
        if (!before) throw new TRPCError({ code: "NOT_FOUND", message: "Organization not found" });
        const after = { quotaSatellites: input.satellites, quotaVcpu: input.vcpu, quotaLargestSize: input.largestSize };
        await tx.organization.update({ where: { id: input.orgId }, data: after });
        const changed = changes(before, after);
        if (Object.keys(changed).length) await recordAudit(tx, { orgId: input.orgId, ...whoOf(ctx), action: "org.quota", targetType: "organization", targetId: input.orgId, detail: changed });
        return { orgId: input.orgId, quota: { satellites: input.satellites, vcpu: input.vcpu, largestSize: input.largestSize } };
      });
    }),

  /** Mail kept instead of sent (no SMTP_URL), newest first. */
  outbox: instanceAdminProcedure.input(z.object({ limit: limitSchema(200, 50) }).default({ limit: 50 })).query(async ({ input }) => {
    const rows = await db().mailOutbox.findMany({ orderBy: { createdAt: "desc" }, take: input.limit });
    return rows.map((m) => ({ id: m.id, to: m.to, subject: m.subject, text: m.text, createdAt: m.createdAt }));
  }),
});
