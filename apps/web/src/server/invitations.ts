// Invitations bound to proof. Accepting needs either the secret from the invitation link (only
// its SHA-256 is stored) or a verified email equal to the invited one: an account that merely
// claims the address gets nothing. One pending invitation per organization and address is a
// database constraint (partial unique index), so concurrent invites cannot duplicate; inviting
// again returns the live one and says so instead of cancelling the link already sent.
// Anyone may sign up and invite, so the mail must not be theirs to aim: an invitation is mailed
// only for an inviter whose own address is verified (when mail leaves the machine), and at most
// INVITATION_MAILS_PER_DAY an organization; otherwise the inviter passes the link on.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { recordAudit } from "@satellites/audit";
import { config } from "@satellites/config";
import { type Invitation, Prisma, type Tx } from "@satellites/db";
import { TRPCError } from "@trpc/server";
import { atLeast, strongestRole } from "./access.ts";
import { publicOrigin } from "./auth.ts";
import { sendMail } from "./mail.ts";
import { rateLimits } from "./rate-limits.ts";
import { db } from "./services.ts";

export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

export interface Who {
  actor: string;
  ip: string | null;
}

const hashSecret = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex");

export function invitationLink(id: string, secret: string): string {
  return `${publicOrigin()}/invitations/${encodeURIComponent(id)}?token=${encodeURIComponent(secret)}`;
}

/** Does `secret` open this invitation? Constant-time on the hashes. */
export function secretMatches(inv: Pick<Invitation, "tokenHash">, secret: string | undefined | null): boolean {
  if (!secret || !inv.tokenHash) return false;
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(inv.tokenHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";
}

const pendingFor = (orgId: string, email: string) => ({ organizationId: orgId, email: { equals: email, mode: "insensitive" as const }, status: "pending" });

export type InviteOutcome =
  | { kind: "created"; invitation: Invitation; link: string; mailed: boolean; /** Why it was not mailed, for the inviter. */ notMailed: string | null }
  | { kind: "already-invited"; invitation: Invitation };

export async function invite(input: { orgId: string; email: string; role: string; inviterId: string }, who: Who): Promise<InviteOutcome> {
  const email = input.email.trim().toLowerCase();
  const member = await db().member.findFirst({ where: { organizationId: input.orgId, user: { email: { equals: email, mode: "insensitive" } } }, select: { id: true } });
  if (member) throw new TRPCError({ code: "CONFLICT", message: `${email} is already a member of this organization` });
  // An expired invitation is not live: it must not block a new one.
  await db().invitation.updateMany({ where: { ...pendingFor(input.orgId, email), expiresAt: { lte: new Date() } }, data: { status: "expired" } });
  const secret = randomBytes(32).toString("base64url");
  try {
    const invitation = await db().$transaction(async (tx) => {
      const row = await tx.invitation.create({
        data: { id: randomUUID(), organizationId: input.orgId, email, role: input.role, status: "pending", inviterId: input.inviterId, expiresAt: new Date(Date.now() + INVITATION_TTL_MS), tokenHash: hashSecret(secret) },
      });
      await recordAudit(tx, { orgId: input.orgId, actor: who.actor, action: "invitation.create", targetType: "invitation", targetId: row.id, detail: { email, role: input.role }, ip: who.ip });
      return row;
    });
    const link = invitationLink(invitation.id, secret);
    const notMailed = await mailInvitation(invitation, link).catch((err: unknown) => {
      console.error(`invitation mail to ${email} failed: ${(err as Error).message}`);
      return "Not mailed: the mail could not be sent. Send this link to them yourself.";
    });
    return { kind: "created", invitation, link, mailed: notMailed === null, notMailed };
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const live = await db().invitation.findFirst({ where: pendingFor(input.orgId, email) });
    // Cancelled between the violation and this read: rare, and the inviter can simply retry.
    if (!live) throw new TRPCError({ code: "CONFLICT", message: "The invitation changed meanwhile; try again" });
    return { kind: "already-invited", invitation: live };
  }
}

/** Mails the invitation, or says why it was not. */
async function mailInvitation(inv: Invitation, link: string): Promise<string | null> {
  const inviter = await db().user.findUnique({ where: { id: inv.inviterId }, select: { email: true, emailVerified: true } });
  // The outbox mails no one: only mail that leaves the machine needs a verified sender.
  if (config().SMTP_URL && !inviter?.emailVerified) {
    return "Not mailed: verify your email address first (open the link we mailed you when you signed up); until then, send this link to them yourself.";
  }
  const budget = await rateLimits().consume("invitationMail", inv.organizationId);
  if (!budget.ok) {
    const perDay = config().INVITATION_MAILS_PER_DAY;
    return `Not mailed: this organization has sent the ${perDay} invitation mails a day it may (more in ${Math.ceil(budget.retryAfterSeconds / 3600)} h). Send this link to them yourself.`;
  }
  const org = await db().organization.findUnique({ where: { id: inv.organizationId }, select: { name: true } });
  // Anyone may sign up, name an organization and invite: what they chose is quoted and labelled
  // as theirs, never the subject, so the mail cannot pass for a message from the operator.
  const sent = await sendMail({
    to: inv.email,
    subject: "You are invited to join an organization on Satellites",
    text: [
      `The account ${inviter?.email ?? "(deleted)"} invited you to join the organization named "${org?.name ?? ""}" on Satellites, as ${inv.role ?? "member"}.`,
      "",
      `Accept: ${link}`,
      "",
      "The link works for 7 days. Whoever holds it can accept, so do not forward it.",
      `The organization's name was chosen by whoever made it, not by this service, which only ever asks you to sign in at ${publicOrigin()}.`,
      "",
    ].join("\n"),
  }, "invitation");
  if ("limited" in sent) {
    return `Not mailed: ${inv.email} has had the ${config().INVITATION_MAILS_PER_ADDRESS_PER_DAY} invitation mails a day this service sends one address. Send this link to them yourself.`;
  }
  return null;
}

export type Proof = "link" | "verified-email" | "unverified-email" | "none";

/** How the signed-in person relates to an invitation. */
export async function proofOf(inv: Invitation, user: { userId: string; email: string }, secret?: string | null): Promise<Proof> {
  if (secretMatches(inv, secret)) return "link";
  if (inv.email.toLowerCase() !== user.email.toLowerCase()) return "none";
  const u = await db().user.findUnique({ where: { id: user.userId }, select: { emailVerified: true } });
  return u?.emailVerified ? "verified-email" : "unverified-email";
}

const notFound = () => new TRPCError({ code: "NOT_FOUND", message: "Invitation not found" });

/** Throws unless `proof` allows acting on the invitation as its addressee. */
export function requireProof(proof: Proof, email: string): void {
  if (proof === "none") throw notFound();
  if (proof === "unverified-email") {
    throw new TRPCError({ code: "FORBIDDEN", message: `Verify your email address first (we sent a link to ${email}), or open the invitation link you were sent` });
  }
}

function requirePending(inv: Invitation): void {
  if (inv.status !== "pending") throw new TRPCError({ code: "PRECONDITION_FAILED", message: `This invitation was ${inv.status}; ask for a new one` });
  if (inv.expiresAt <= new Date()) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "This invitation has expired; ask for a new one" });
}

export async function accept(invitationId: string, user: { userId: string; email: string }, secret: string | null | undefined, who: Who): Promise<{ orgId: string; role: string }> {
  const inv = await db().invitation.findUnique({ where: { id: invitationId } });
  if (!inv) throw notFound();
  const proof = await proofOf(inv, user, secret);
  requireProof(proof, inv.email);
  requirePending(inv);
  const role = inv.role ?? "member";
  try {
    await db().$transaction(async (tx) => {
      // Only one acceptance wins, however many tabs click at once.
      const { count } = await tx.invitation.updateMany({ where: { id: inv.id, status: "pending" }, data: { status: "accepted" } });
      if (count === 0) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "This invitation is no longer pending" });
      await requireInviterMay(tx, inv);
      const m = await tx.member.create({ data: { id: randomUUID(), organizationId: inv.organizationId, userId: user.userId, role } });
      await recordAudit(tx, { orgId: inv.organizationId, actor: who.actor, action: "invitation.accept", targetType: "member", targetId: m.id, detail: { invitationId: inv.id, email: inv.email, role, proof }, ip: who.ip });
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new TRPCError({ code: "CONFLICT", message: "You are already a member of this organization" });
    throw err;
  }
  return { orgId: inv.organizationId, role };
}

/** Whether someone holding `inviterRole` (null: not a member) may send an invitation for `role`. */
function mayInvite(inviterRole: string | null | undefined, role: string | null): boolean {
  const r = strongestRole(inviterRole);
  if (!r || !atLeast(r, "admin")) return false;
  return strongestRole(role) !== "owner" || r === "owner";
}

const OUTGROWN = "The person who invited you can no longer invite to this organization; ask one of its admins for a new invitation";

/**
 * An invitation carries its sender's authority, so it must not outlast it: cancels the pending
 * invitations `userId` sent to `orgId` that their role now (removed, left, demoted) could not
 * send, each with its audit record. Called after every membership change of theirs.
 */
export async function cancelOutgrownInvitations(orgId: string, userId: string, who: Who): Promise<number> {
  const member = await db().member.findUnique({ where: { organizationId_userId: { organizationId: orgId, userId } }, select: { role: true } });
  const pending = await db().invitation.findMany({ where: { organizationId: orgId, inviterId: userId, status: "pending" }, select: { id: true, email: true, role: true } });
  let n = 0;
  for (const inv of pending.filter((i) => !mayInvite(member?.role, i.role))) {
    await db().$transaction(async (tx) => {
      const { count } = await tx.invitation.updateMany({ where: { id: inv.id, status: "pending" }, data: { status: "canceled" } });
      if (count === 0) return;
      n++;
      await recordAudit(tx, { orgId, actor: who.actor, action: "invitation.cancel", targetType: "invitation", targetId: inv.id, detail: { email: inv.email, reason: "the inviter can no longer invite" }, ip: who.ip });
    });
  }
  return n;
}

/** Refuses, inside the accepting transaction, an invitation whose sender lost the right to send it meanwhile. */
async function requireInviterMay(tx: Tx, inv: Invitation): Promise<void> {
  const inviter = await tx.member.findUnique({ where: { organizationId_userId: { organizationId: inv.organizationId, userId: inv.inviterId } }, select: { role: true } });
  if (!mayInvite(inviter?.role, inv.role)) throw new TRPCError({ code: "PRECONDITION_FAILED", message: OUTGROWN });
}

export async function reject(invitationId: string, user: { userId: string; email: string }, secret: string | null | undefined, who: Who): Promise<void> {
  const inv = await db().invitation.findUnique({ where: { id: invitationId } });
  if (!inv) throw notFound();
  requireProof(await proofOf(inv, user, secret), inv.email);
  requirePending(inv);
  await db().$transaction(async (tx) => {
    const { count } = await tx.invitation.updateMany({ where: { id: inv.id, status: "pending" }, data: { status: "rejected" } });
    if (count === 0) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "This invitation is no longer pending" });
    await recordAudit(tx, { orgId: inv.organizationId, actor: who.actor, action: "invitation.reject", targetType: "invitation", targetId: inv.id, detail: { email: inv.email }, ip: who.ip });
  });
}
