// Members and invitations. There is no mail server in a self-hosted install by default, so an
// invitation is a link the inviter passes on; the invitee signs in (or up) with the invited
// email address and accepts. better-auth's organization plugin enforces who may invite, change
// or remove whom (admins cannot touch owners; the last owner cannot leave).
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { requireOrg, roleIn, strongestRole } from "../access.ts";
import { auth } from "../auth.ts";
import { viaAuth } from "../auth-call.ts";
import { emailAddress } from "../../lib/fields.ts";
import { idSchema, orgIdSchema } from "../inputs.ts";
import { db } from "../services.ts";
import { authedProcedure, enforceRateLimit, router, userProcedure } from "../trpc.ts";

const roleSchema = z.enum(["member", "admin", "owner"], { message: "role must be member, admin or owner" });
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

  invite: userProcedure
    .input(z.object({ orgId: orgIdSchema, email: emailAddress, role: roleSchema.default("member") }))
    .mutation(async ({ ctx, input }) => {
      const { orgId } = await requireOrg(ctx.principal, input.orgId, "admin", "invite members");
      if (ctx.clientAddress) await enforceRateLimit("invite", ctx.clientAddress);
      const inv = await viaAuth(() => auth().api.createInvitation({ headers: ctx.headers, body: { email: input.email.toLowerCase(), role: input.role, organizationId: orgId } }));
      return { id: inv.id, email: inv.email, role: input.role, expiresAt: new Date(inv.expiresAt) };
    }),

  cancelInvitation: userProcedure.input(z.object({ invitationId: idSchema("invitationId") })).mutation(async ({ ctx, input }) => {
    const inv = await db().invitation.findUnique({ where: { id: input.invitationId }, select: { organizationId: true } });
    if (!inv || !(await roleIn(ctx.principal, inv.organizationId))) throw notFound("Invitation");
    await requireOrg(ctx.principal, inv.organizationId, "admin", "cancel invitations");
    await viaAuth(() => auth().api.cancelInvitation({ headers: ctx.headers, body: { invitationId: input.invitationId } }));
    return { id: input.invitationId };
  }),

  updateRole: userProcedure.input(z.object({ memberId: idSchema("memberId"), role: roleSchema })).mutation(async ({ ctx, input }) => {
    const m = await db().member.findUnique({ where: { id: input.memberId }, select: { organizationId: true } });
    if (!m || !(await roleIn(ctx.principal, m.organizationId))) throw notFound("Member");
    await requireOrg(ctx.principal, m.organizationId, "admin", "change roles");
    await viaAuth(() => auth().api.updateMemberRole({ headers: ctx.headers, body: { memberId: input.memberId, role: input.role, organizationId: m.organizationId } }));
    return { id: input.memberId, role: input.role };
  }),

  remove: userProcedure.input(z.object({ memberId: idSchema("memberId") })).mutation(async ({ ctx, input }) => {
    const m = await db().member.findUnique({ where: { id: input.memberId }, select: { organizationId: true, userId: true } });
    if (!m || !(await roleIn(ctx.principal, m.organizationId))) throw notFound("Member");
    await requireOrg(ctx.principal, m.organizationId, "admin", "remove members");
    await viaAuth(() => auth().api.removeMember({ headers: ctx.headers, body: { memberIdOrEmail: input.memberId, organizationId: m.organizationId } }));
    await revokeTokensOf(m.userId, m.organizationId);
    return { id: input.memberId };
  }),

  leave: userProcedure.input(z.object({ orgId: idSchema("orgId") })).mutation(async ({ ctx, input }) => {
    const { orgId } = await requireOrg(ctx.principal, input.orgId, "member", "leave the organization");
    await viaAuth(() => auth().api.leaveOrganization({ headers: ctx.headers, body: { organizationId: orgId } }));
    await revokeTokensOf(ctx.principal.userId, orgId);
    return { id: orgId };
  }),

  /** Pending invitations addressed to the signed-in person's email. */
  myInvitations: userProcedure.query(async ({ ctx }) => {
    const rows = await db().invitation.findMany({
      where: { email: ctx.principal.email.toLowerCase(), status: "pending", expiresAt: { gt: new Date() } },
      include: { organization: { select: { name: true } }, inviter: { select: { name: true, email: true } } },
      orderBy: { createdAt: "desc" },
    });
    return rows.map((i) => ({ id: i.id, orgId: i.organizationId, orgName: i.organization.name, role: strongestRole(i.role) ?? "member", invitedBy: i.inviter.name || i.inviter.email, expiresAt: i.expiresAt }));
  }),

  /** One invitation, for its link page; only its addressee (or the organization's admins) may see it. */
  invitation: userProcedure.input(z.object({ invitationId: idSchema("invitationId") })).query(async ({ ctx, input }) => {
    const i = await db().invitation.findUnique({
      where: { id: input.invitationId },
      include: { organization: { select: { name: true } }, inviter: { select: { name: true, email: true } } },
    });
    if (!i) throw notFound("Invitation");
    const addressee = i.email.toLowerCase() === ctx.principal.email.toLowerCase();
    if (!addressee && !(await roleIn(ctx.principal, i.organizationId))) throw notFound("Invitation");
    const expired = i.expiresAt <= new Date();
    return {
      id: i.id,
      orgId: i.organizationId,
      orgName: i.organization.name,
      email: i.email,
      role: strongestRole(i.role) ?? "member",
      status: expired && i.status === "pending" ? "expired" : i.status,
      invitedBy: i.inviter.name || i.inviter.email,
      forYou: addressee,
    };
  }),

  accept: userProcedure.input(z.object({ invitationId: idSchema("invitationId") })).mutation(async ({ ctx, input }) => {
    const i = await db().invitation.findUnique({ where: { id: input.invitationId }, select: { email: true, organizationId: true } });
    if (!i || i.email.toLowerCase() !== ctx.principal.email.toLowerCase()) throw notFound("Invitation");
    await viaAuth(() => auth().api.acceptInvitation({ headers: ctx.headers, body: { invitationId: input.invitationId } }));
    return { orgId: i.organizationId };
  }),

  reject: userProcedure.input(z.object({ invitationId: idSchema("invitationId") })).mutation(async ({ ctx, input }) => {
    const i = await db().invitation.findUnique({ where: { id: input.invitationId }, select: { email: true } });
    if (!i || i.email.toLowerCase() !== ctx.principal.email.toLowerCase()) throw notFound("Invitation");
    await viaAuth(() => auth().api.rejectInvitation({ headers: ctx.headers, body: { invitationId: input.invitationId } }));
    return { id: input.invitationId };
  }),
});
