// The audit log of an organization: who changed what (satellites, tokens, members, roles,
// invitations, settings), when and from which address. Admins and owners read it; newest first,
// keyset pagination over the (orgId, at DESC, id DESC) index.
import { AUDIT_ACTIONS } from "@satellites/audit";
import type { Prisma } from "@satellites/db";
import { z } from "zod";
import { requireOrg } from "../access.ts";
import { dateSchema, limitSchema, orgIdSchema } from "../inputs.ts";
import { db } from "../services.ts";
import { authedProcedure, router } from "../trpc.ts";
import { describeActors, parseCursor } from "./history.ts";

// `action` filters by one of the recorded actions or by a domain ("satellite").
const DOMAINS = [...new Set(AUDIT_ACTIONS.map((a) => a.split(".")[0]!))];

const actionSchema = z
  .string({ message: "action must be a string" })
  .max(40, "action must be at most 40 characters")
  .refine((a) => (AUDIT_ACTIONS as readonly string[]).includes(a) || DOMAINS.includes(a), `action must be one of ${DOMAINS.join(", ")} or ${AUDIT_ACTIONS.join(", ")}`);
const actorSchema = z
  .string({ message: "actor must be a string" })
  .max(120, "actor must be at most 120 characters")
  .regex(/^(system|(user|token):[A-Za-z0-9_-]{1,100})$/, "actor must be system, user:<id> or token:<id>");

export const auditRouter = router({
  list: authedProcedure
    .input(
      z
        .object({
          orgId: orgIdSchema,
          action: actionSchema.optional(),
          actor: actorSchema.optional(),
          /** A satellite, token, member or invitation id. */
          targetId: z.string().max(100, "targetId must be at most 100 characters").regex(/^[A-Za-z0-9_-]+$/, "targetId is not valid").optional(),
          since: dateSchema("since").optional(),
          until: dateSchema("until").optional(),
          cursor: z.string().max(40, "cursor is not valid: pass nextCursor from the previous page").nullish(),
          limit: limitSchema(200, 50),
        })
        .default({ limit: 50 }),
    )
    .query(async ({ ctx, input }) => {
      const { orgId } = await requireOrg(ctx.principal, input.orgId, "admin", "read the audit log");
      const after = input.cursor ? parseCursor(input.cursor) : null;
      const where: Prisma.AuditEventWhereInput = {
        orgId,
        ...(input.action ? (input.action.includes(".") ? { action: input.action } : { action: { startsWith: `${input.action}.` } }) : {}),
        ...(input.actor ? { actor: input.actor } : {}),
        ...(input.targetId ? { targetId: input.targetId } : {}),
        ...(input.since || input.until ? { at: { ...(input.since ? { gte: input.since } : {}), ...(input.until ? { lt: input.until } : {}) } } : {}),
        ...(after ? { OR: [{ at: { lt: after.at } }, { at: after.at, id: { lt: after.id } }] } : {}),
      };
      const rows = await db().auditEvent.findMany({ where, orderBy: [{ at: "desc" }, { id: "desc" }], take: input.limit + 1 });
      const more = rows.length > input.limit;
      const page = more ? rows.slice(0, input.limit) : rows;
      const actors = await describeActors([...new Set(page.map((r) => r.actor))]);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => ({
          id: r.id.toString(),
          at: r.at,
          action: r.action,
          actor: r.actor,
          actorKind: actors.get(r.actor)!.kind,
          actorLabel: actors.get(r.actor)!.label,
          targetType: r.targetType,
          targetId: r.targetId,
          detail: r.detail,
          ip: r.ip,
        })),
        nextCursor: more && last ? `${last.at.getTime()}_${last.id}` : null,
      };
    }),
});
