// Organization API tokens. The secret is shown once, at creation; only its SHA-256 is kept
// (packages/tokens). Any member may create tokens — builds need one — and a token acts with
// its creator's role. Members revoke their own tokens; admins and owners revoke any.
import { recordAudit } from "@satellites/audit";
import { generateToken } from "@satellites/tokens";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { atLeast, requireOrg, roleIn } from "../access.ts";
import { tokenName } from "../../lib/fields.ts";
import { idSchema, orgIdSchema } from "../inputs.ts";
import { db } from "../services.ts";
import { router, userProcedure, whoOf } from "../trpc.ts";

/** Tokens one organization may have in use (not revoked, not expired): all of them fit the list. */
const MAX_USABLE_TOKENS = 500;
/** Revoked and expired tokens listed after them, latest first. */
const PAST_LISTED = 100;

const tokenNotFound = () => new TRPCError({ code: "NOT_FOUND", message: "Token not found" });

export const tokenRouter = router({
  list: userProcedure.input(z.object({ orgId: orgIdSchema }).default({})).query(async ({ ctx, input }) => {
    const { orgId, role } = await requireOrg(ctx.principal, input.orgId, "member", "list tokens");
    const now = new Date();
    // Every token in use (at most MAX_USABLE_TOKENS), then the latest revoked or expired ones.
    const usable = { orgId, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] };
    const include = { createdBy: { select: { id: true, name: true, email: true } } };
    const [inUse, past] = await Promise.all([
      db().apiToken.findMany({ where: usable, orderBy: { createdAt: "desc" }, take: MAX_USABLE_TOKENS, include }),
      db().apiToken.findMany({ where: { orgId, NOT: usable }, orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }], take: PAST_LISTED, include }),
    ]);
    const rows = [...inUse, ...past];
    return rows.map((t) => ({
      id: t.id,
      name: t.name,
      prefix: t.prefix,
      createdAt: t.createdAt,
      lastUsedAt: t.lastUsedAt,
      expiresAt: t.expiresAt,
      revokedAt: t.revokedAt,
      status: t.revokedAt ? ("revoked" as const) : t.expiresAt && t.expiresAt <= now ? ("expired" as const) : ("active" as const),
      createdBy: t.createdBy ? { id: t.createdBy.id, name: t.createdBy.name || t.createdBy.email } : null,
      canRevoke: !t.revokedAt && (atLeast(role, "admin") || t.createdById === ctx.principal.userId),
    }));
  }),

  create: userProcedure
    .input(
      z.object({
        orgId: orgIdSchema,
        name: tokenName,
        /** Days until the token stops working; omit for a token that does not expire. */
        expiresInDays: z
          .number({ message: "expiresInDays must be a number" })
          .int("expiresInDays must be a whole number of days")
          .min(1, "A token must be valid for at least 1 day")
          .max(3650, "A token can be valid for at most 3650 days")
          .nullish(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const { orgId } = await requireOrg(ctx.principal, input.orgId, "member", "create tokens");
      const { token, prefix, hash } = generateToken();
      const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
      const row = await db().$transaction(async (tx) => {
        // Counted and inserted under one lock per organization: creates at once cannot pass the cap together.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`api-tokens:${orgId}`}))`;
        const usable = await tx.apiToken.count({ where: { orgId, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] } });
        if (usable >= MAX_USABLE_TOKENS) {
          throw new TRPCError({ code: "FORBIDDEN", message: `This organization has ${usable} tokens in use, the most one organization may have; revoke unused ones first` });
        }
        const r = await tx.apiToken.create({ data: { orgId, createdById: ctx.principal.userId, name: input.name, prefix, hash, expiresAt } });
        await recordAudit(tx, { orgId, ...whoOf(ctx), action: "token.create", targetType: "token", targetId: r.id, detail: { name: r.name, prefix, expiresAt: expiresAt?.toISOString() ?? null } });
        return r;
      });
      // The only time the secret leaves the server.
      return { id: row.id, name: row.name, prefix, token, orgId, expiresAt, createdAt: row.createdAt };
    }),

  revoke: userProcedure.input(z.object({ id: idSchema("id") })).mutation(async ({ ctx, input }) => {
    const t = await db().apiToken.findUnique({ where: { id: input.id } });
    if (!t) throw tokenNotFound();
    const role = await roleIn(ctx.principal, t.orgId);
    if (!role) throw tokenNotFound();
    if (!atLeast(role, "admin") && t.createdById !== ctx.principal.userId) {
      throw new TRPCError({ code: "FORBIDDEN", message: "Only admins and owners can revoke other members' tokens" });
    }
    const revokedAt = t.revokedAt ?? new Date();
    if (!t.revokedAt) {
      await db().$transaction(async (tx) => {
        const { count } = await tx.apiToken.updateMany({ where: { id: t.id, revokedAt: null }, data: { revokedAt } });
        if (count) await recordAudit(tx, { orgId: t.orgId, ...whoOf(ctx), action: "token.revoke", targetType: "token", targetId: t.id, detail: { name: t.name, prefix: t.prefix } });
      });
    }
    return { id: t.id, revokedAt };
  }),
});
