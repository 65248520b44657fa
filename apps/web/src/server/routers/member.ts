// Members and invitations. An invitation is mailed (or kept in the outbox) and also shown to
// the inviter once as a link to pass on; accepting needs that link or a verified address equal
// to the invited one (invitations.ts). better-auth's organization plugin enforces who may
// change or remove whom (admins cannot touch owners; the last owner cannot leave).
import { recordAudit } from "@satellites/audit";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireOrg, roleIn, strongestRole } from "../access.ts";
import { auth } from "../auth.ts";
import { viaAuth } from "../auth-call.ts";
import { emailAddress } from "../../lib/fields.ts";
import { idSchema, orgIdSchema } from "../inputs.ts";
import { accept, cancelOutgrownInvitations, invite, proofOf, reject } from "../invitations.ts";
import { db } from "../services.ts";
import { authedProcedure, enforceRateLimit, router, userProcedure, whoOf } from "../trpc.ts";

const roleSchema = z.enum(["member", "admin", "owner"], { message: "role must be member, admin or owner" });
/** The secret from an invitation link (`?token=`). */
const secretSchema = z.string().max(200, "token is not valid").regex(/^[A-Za-z0-9_-]*$/, "token is not valid").nullish();
const notFound = (what: string) => new TRPCError({ code: "NOT_FOUND", message: `${what} not found` });

/** Revoke what a person who left an organization could still use there. */
async function revokeTokensOf(userId: string, orgId: string): Promise<void> {
  await db().apiToken.updateMany({ where: { orgId, createdById: userId, revokedAt: null }, data: { revokedAt: new Date() } });
}

export const memberRouter = router({
  list: authedProcedure.input(z.object({ orgId: orgIdSchema }).default({})).query(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "member", "list members");
    const rows = await db().member.findMany({ where: { organizationId: orgId }, include: { user: { select: { id: true, name: true, email: true } } }, orderBy: { createdAt: "asc" } });
    const me = ctx.principal.kind === "user" ? ctx.principal.userId : null;
    return rows.map((m) => ({ id: m.id, userId: m.userId, name: m.user.name, email: m.user.email, role: strongestRole(m.role) ?? "member", joinedAt: m.createdAt, isYou: m.userId === me }));
  }),

  invitations: userProcedure.input(z.object({ orgId: orgIdSchema }).default({})).query(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "admin", "see invitations");
    const rows = await db().invitation.findMany({
      where: { organizationId: orgId, status: "pending", expiresAt: { gt: new Date() } },
      include: { inviter: { select: { name: true, email: true } } },
      orderBy: { createdAt: "desc" },
    });
    return rows.map((i) => ({ id: i.id, email: i.email, role: strongestRole(i.role) ?? "member", expiresAt: i.expiresAt, createdAt: i.createdAt, invitedBy: i.inviter.name || i.inviter.email }));
  }),

  /**
   * Invites an address. Inviting an address that already has a live invitation changes nothing
   * and says so (`status: "already-invited"`): the link sent first keeps working.
   */
  invite: userProcedure
    .input(z.object({ orgId: orgIdSchema, email: emailAddress, role: roleSchema.default("member") }))
    .mutation(async ({ ctx, input }) => {
      const { orgId, role } = await requireOrg(ctx.principal, input.orgId, "admin", "invite members");
      if (ctx.clientAddress) await enforceRateLimit("invite", ctx.clientAddress);
      if (input.role === "owner" && role !== "owner") throw new TRPCError({ code: "FORBIDDEN", message: "Only owners can invite owners" });
      const r = await invite({ orgId, email: input.email, role: input.role, inviterId: ctx.principal.userId }, whoOf(ctx));
      const i = r.invitation;
      const base = { id: i.id, email: i.email, role: strongestRole(i.role) ?? "member", expiresAt: i.expiresAt };
      if (r.kind === "already-invited") return { ...base, status: "already-invited" as const, invitedAt: i.createdAt, link: null, mailed: false, notMailed: null };
      return { ...base, status: "created" as const, invitedAt: i.createdAt, link: r.link, mailed: r.mailed, notMailed: r.notMailed };
    }),

  cancelInvitation: userProcedure.input(z.object({ invitationId: idSchema("invitationId") })).mutation(async ({ ctx, input }) => {
    const inv = await db().invitation.findUnique({ where: { id: input.invitationId }, select: { organizationId: true, email: true } });
    if (!inv || !(await roleIn(ctx.principal, inv.organizationId))) throw notFound("Invitation");
    await requireOrg(ctx.principal, inv.organizationId, "admin", "cancel invitations");
    await viaAuth(() => auth().api.cancelInvitation({ headers: ctx.headers, body: { invitationId: input.invitationId } }));
    await recordAudit(db(), { orgId: inv.organizationId, ...whoOf(ctx), action: "invitation.cancel", targetType: "invitation", targetId: input.invitationId, detail: { email: inv.email } });
    return { id: input.invitationId };
  }),

  updateRole: userProcedure.input(z.object({ memberId: idSchema("memberId"), role: roleSchema })).mutation(async ({ ctx, input }) => {
    const m = await db().member.findUnique({ where: { id: input.memberId }, select: { organizationId: true, userId: true, role: true } });
    if (!m || !(await roleIn(ctx.principal, m.organizationId))) throw notFound("Member");
    await requireOrg(ctx.principal, m.organizationId, "admin", "change roles");
    await viaAuth(() => auth().api.updateMemberRole({ headers: ctx.headers, body: { memberId: input.memberId, role: input.role, organizationId: m.organizationId } }));
    const from = strongestRole(m.role) ?? "member";
    if (from !== input.role) {
      await recordAudit(db(), { orgId: m.organizationId, ...whoOf(ctx), action: "member.role", targetType: "member", targetId: input.memberId, detail: { userId: m.userId, role: { from, to: input.role } } });
      await cancelOutgrownInvitations(m.organizationId, m.userId, whoOf(ctx));
    }
    return { id: input.memberId, role: input.role };
  }),

  remove: userProcedure.input(z.object({ memberId: idSchema("memberId") })).mutation(async ({ ctx, input }) => {
    const m = await db().member.findUnique({ where: { id: input.memberId }, select: { organizationId: true, userId: true, role: true } });
    if (!m || !(await roleIn(ctx.principal, m.organizationId))) throw notFound("Member");
    await requireOrg(ctx.principal, m.organizationId, "admin", "remove members");
    await viaAuth(() => auth().api.removeMember({ headers: ctx.headers, body: { memberIdOrEmail: input.memberId, organizationId: m.organizationId } }));
    await revokeTokensOf(m.userId, m.organizationId);
    await cancelOutgrownInvitations(m.organizationId, m.userId, whoOf(ctx));
    await recordAudit(db(), { orgId: m.organizationId, ...whoOf(ctx), action: "member.remove", targetType: "member", targetId: input.memberId, detail: { userId: m.userId, role: strongestRole(m.role) ?? "member" } });
    return { id: input.memberId };
  }),

  leave: userProcedure.input(z.object({ orgId: idSchema("orgId") })).mutation(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "member", "leave the organization");
    const m = await db().member.findUnique({ where: { organizationId_userId: { organizationId: orgId, userId: ctx.principal.userId } }, select: { id: true } });
    await viaAuth(() => auth().api.leaveOrganization({ headers: ctx.headers, body: { organizationId: orgId } }));
    await revokeTokensOf(ctx.principal.userId, orgId);
    await cancelOutgrownInvitations(orgId, ctx.principal.userId, whoOf(ctx));
    await recordAudit(db(), { orgId, ...whoOf(ctx), action: "member.leave", targetType: "member", targetId: m?.id ?? ctx.principal.userId, detail: { userId: ctx.principal.userId } });
    return { id: orgId };
  }),

  /**
   * Pending invitations addressed to the signed-in person's email — once that address is
   * verified; before, `unverified` says how many wait for verification.
   */
  myInvitations: userProcedure.query(async ({ ctx }) => {
    const where = { email: { equals: ctx.principal.email, mode: "insensitive" as const }, status: "pending", expiresAt: { gt: new Date() } };
    const me = await db().user.findUnique({ where: { id: ctx.principal.userId }, select: { emailVerified: true } });
    if (!me?.emailVerified) return { verified: false, waiting: await db().invitation.count({ where }), items: [] };
    const rows = await db().invitation.findMany({
      where,
      include: { organization: { select: { name: true } }, inviter: { select: { name: true, email: true } } },
      orderBy: { createdAt: "desc" },
    });
    const items = rows.map((i) => ({ id: i.id, orgId: i.organizationId, orgName: i.organization.name, role: strongestRole(i.role) ?? "member", invitedBy: i.inviter.name || i.inviter.email, expiresAt: i.expiresAt }));
    return { verified: true, waiting: items.length, items };
  }),

  /**
   * One invitation, for its link page. Visible to whoever holds the link (`token`), to its
   * addressee, and to the organization's members.
   */
  invitation: userProcedure.input(z.object({ invitationId: idSchema("invitationId"), token: secretSchema })).query(async ({ ctx, input }) => {
    const i = await db().invitation.findUnique({
      where: { id: input.invitationId },
      include: { organization: { select: { name: true } }, inviter: { select: { name: true, email: true } } },
    });
    if (!i) throw notFound("Invitation");
    const proof = await proofOf(i, ctx.principal, input.token);
    if (proof === "none" && !(await roleIn(ctx.principal, i.organizationId))) throw notFound("Invitation");
    const expired = i.expiresAt <= new Date();
    return {
      id: i.id,
      orgId: i.organizationId,
      orgName: i.organization.name,
      email: i.email,
      role: strongestRole(i.role) ?? "member",
      status: expired && i.status === "pending" ? "expired" : i.status,
      invitedBy: i.inviter.name || i.inviter.email,
      forYou: proof !== "none",
      /** Who accepting would add: the link works for any account, so the page names the one signed in. */
      signedInAs: ctx.principal.email,
      /** The invited address is yours but not verified yet: verify it, or use the link. */
      needsVerification: proof === "unverified-email",
    };
  }),

  /** Accept with the link's secret (`token`), or as the verified owner of the invited address. */
  accept: userProcedure.input(z.object({ invitationId: idSchema("invitationId"), token: secretSchema })).mutation(async ({ ctx, input }) => {
    const r = await accept(input.invitationId, ctx.principal, input.token, whoOf(ctx));
    // The dashboard opens on the organization just joined; a failure here changes nothing else.
    await auth()
      .api.setActiveOrganization({ headers: ctx.headers, body: { organizationId: r.orgId } })
      .catch(() => {});
    return { orgId: r.orgId };
  }),

  reject: userProcedure.input(z.object({ invitationId: idSchema("invitationId"), token: secretSchema })).mutation(async ({ ctx, input }) => {
    await reject(input.invitationId, ctx.principal, input.token, whoOf(ctx));
    return { id: input.invitationId };
  }),
});
