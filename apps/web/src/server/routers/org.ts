// Organizations: the tenant boundary. Everything (satellites, history, tokens) belongs to one.
// Mutations go through better-auth's organization plugin so its ownership rules apply.
import { randomBytes } from "node:crypto";
import { recordAudit } from "@satellites/audit";
import { config } from "@satellites/config";
import { quotaOf } from "@satellites/lifecycle";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { orgNotFound, requireOrg, strongestRole } from "../access.ts";
import { auth, liveSatellitesRefusal } from "../auth.ts";
import { viaAuth } from "../auth-call.ts";
import { orgName } from "../../lib/fields.ts";
import { idSchema, orgIdSchema } from "../inputs.ts";
import { db } from "../services.ts";
import { newOrgAllowance, orgCapRefusal, orgCreationRefusal, overOrgCap } from "../signup-policy.ts";
import { authedProcedure, router, userProcedure, whoOf } from "../trpc.ts";
import { proxyAddress } from "../views.ts";


function slugify(name: string): string {
  const base = name
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return base || "org";
}

export const orgRouter = router({
  /** The caller's organizations with their role, for the switcher. */
  list: userProcedure.query(async ({ ctx }) => {
    const rows = await db().member.findMany({ where: { userId: ctx.principal.userId }, include: { organization: true }, orderBy: { createdAt: "asc" } });
    return rows.map((m) => ({
      id: m.organization.id,
      name: m.organization.name,
      slug: m.organization.slug,
      role: strongestRole(m.role),
      active: m.organization.id === ctx.principal.activeOrgId,
    }));
  }),

  get: authedProcedure.input(z.object({ orgId: orgIdSchema }).default({})).query(async ({ ctx, input }) => {
    const { orgId, role } = await requireOrg(ctx.principal, input.orgId, "member", "view the organization");
    const [org, satellites, members] = await Promise.all([
      db().organization.findUnique({ where: { id: orgId } }),
      db().satellite.count({ where: { orgId, liveName: { not: null } } }),
      db().member.count({ where: { organizationId: orgId } }),
    ]);
    // Deleted between the membership check and this read.
    if (!org) throw orgNotFound();
    const { quota, usage } = await quotaOf(db(), orgId);
    return { id: org.id, name: org.name, slug: org.slug, createdAt: org.createdAt, role, satellites, members, proxyAddress: proxyAddress(), quota, usage };
  }),

  create: userProcedure.input(z.object({ name: orgName })).mutation(async ({ ctx, input }) => {
    // Asked here too, for the refusal in words (better-auth's own check names no figures).
    const refusal = (await orgCreationRefusal(ctx.principal.userId)) ?? (await newOrgAllowance(ctx.principal.userId)).limitReached;
    if (refusal) throw new TRPCError({ code: "FORBIDDEN", message: refusal });
    // Slugs are unique; a short random suffix avoids a round of "taken, try another".
    let slug = slugify(input.name);
    if (await db().organization.findUnique({ where: { slug }, select: { id: true } })) slug = `${slug}-${randomBytes(3).toString("hex")}`;
    const org = await viaAuth(() => auth().api.createOrganization({ headers: ctx.headers, body: { name: input.name, slug } }));
    if (!org) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "Organization was not created" });
    if (await overOrgCap(ctx.principal.userId)) {
      // Made alongside others at the same moment, past the cap: this one goes again (members
      // and invitations with it), and the caller is told why.
      await db().organization.delete({ where: { id: org.id } });
      throw new TRPCError({ code: "FORBIDDEN", message: orgCapRefusal(config().ORGS_PER_USER!) });
    }
    await recordAudit(db(), { orgId: org.id, ...whoOf(ctx), action: "org.create", targetType: "organization", targetId: org.id, detail: { name: org.name, slug: org.slug } });
    return { id: org.id, name: org.name, slug: org.slug };
  }),

  update: userProcedure.input(z.object({ orgId: orgIdSchema, name: orgName })).mutation(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "admin", "rename the organization");
    const before = await db().organization.findUnique({ where: { id: orgId }, select: { name: true } });
    const org = await viaAuth(() => auth().api.updateOrganization({ headers: ctx.headers, body: { organizationId: orgId, data: { name: input.name } } }));
    if (before && before.name !== input.name) {
      await recordAudit(db(), { orgId, ...whoOf(ctx), action: "org.update", targetType: "organization", targetId: orgId, detail: { name: { from: before.name, to: input.name } } });
    }
    return { id: orgId, name: org?.name ?? input.name };
  }),

  delete: userProcedure.input(z.object({ orgId: idSchema("orgId") })).mutation(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "owner", "delete the organization");
    // Deleting an organization would cascade to satellites whose machines still run: refused in words.
    const refusal = await liveSatellitesRefusal(orgId);
    if (refusal) throw new TRPCError({ code: "BAD_REQUEST", message: refusal });
    // Not better-auth's deleteOrganization, which removes members, invitations and then the
    // organization in separate statements: its last owner's removal would be refused (an
    // organization keeps an owner), and a refusal at the end would leave it without members.
    // One statement (members and invitations follow by foreign key) and its audit record, at once.
    await db()
      .$transaction(async (tx) => {
        await tx.organization.delete({ where: { id: orgId } });
        await tx.session.updateMany({ where: { activeOrganizationId: orgId }, data: { activeOrganizationId: null } });
        // Kept after the organization is gone (no foreign key): the instance's record of it.
        await recordAudit(tx, { orgId, ...whoOf(ctx), action: "org.delete", targetType: "organization", targetId: orgId });
      })
      .catch(async (err: unknown) => {
        // A satellite created after the check above: the database's trigger refused the delete.
        const late = await liveSatellitesRefusal(orgId);
        throw late ? new TRPCError({ code: "BAD_REQUEST", message: late }) : err;
      });
    return { id: orgId };
  }),

  /** The organization the dashboard shows; stored on the session. */
  setActive: userProcedure.input(z.object({ orgId: idSchema("orgId") })).mutation(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "member", "switch to the organization");
    await viaAuth(() => auth().api.setActiveOrganization({ headers: ctx.headers, body: { organizationId: orgId } }));
    return { id: orgId };
  }),
});
