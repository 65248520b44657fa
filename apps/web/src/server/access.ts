// Who may do what in an organization. A caller who is not a member of the organization that
// owns a resource gets NOT_FOUND — the same answer as for a resource that does not exist — so
// ids of other tenants reveal nothing. A member without the needed role gets FORBIDDEN.
import type { Satellite } from "@satellites/db";
import { TRPCError } from "@trpc/server";
import { db } from "./services.ts";
import type { Principal } from "./trpc.ts";

export const ROLES = ["member", "admin", "owner"] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { member: 1, admin: 2, owner: 3 };

/** better-auth stores several roles as "admin,member"; the strongest one counts. */
export function strongestRole(stored: string | null | undefined): Role | null {
  let best: Role | null = null;
  for (const r of (stored ?? "").split(",").map((s) => s.trim())) {
    if ((ROLES as readonly string[]).includes(r) && (!best || RANK[r as Role] > RANK[best])) best = r as Role;
  }
  return best;
}

export function atLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

const WHAT: Record<Role, string> = { member: "members", admin: "admins and owners", owner: "owners" };

async function memberRole(userId: string, orgId: string): Promise<Role | null> {
  const m = await db().member.findUnique({ where: { organizationId_userId: { organizationId: orgId, userId } }, select: { role: true } });
  return m ? strongestRole(m.role) : null;
}

/** The caller's role in `orgId`, or null when it has none (not a member, other org's token). */
export async function roleIn(p: Principal, orgId: string): Promise<Role | null> {
  if (p.kind === "user") return memberRole(p.userId, orgId);
  if (p.orgId !== orgId) return null;
  // A token acts with its creator's current role; a creator who left takes the token's power away.
  return p.createdById ? memberRole(p.createdById, orgId) : null;
}

export const orgNotFound = () => new TRPCError({ code: "NOT_FOUND", message: "Organization not found" });
export const satelliteNotFound = () => new TRPCError({ code: "NOT_FOUND", message: "Satellite not found" });

function forbidden(min: Role, action: string): TRPCError {
  return new TRPCError({ code: "FORBIDDEN", message: `Only ${WHAT[min]} can ${action}` });
}

/**
 * Which organization an org-level call is about: the explicit `orgId`, else the token's
 * organization, else the session's active one, else the person's only one.
 */
export async function resolveOrgId(p: Principal, orgId: string | undefined): Promise<string> {
  if (orgId) return orgId;
  if (p.kind === "token") return p.orgId;
  if (p.activeOrgId) return p.activeOrgId;
  const memberships = await db().member.findMany({ where: { userId: p.userId }, select: { organizationId: true }, take: 2 });
  if (memberships.length === 1) return memberships[0]!.organizationId;
  throw new TRPCError({
    code: "BAD_REQUEST",
    message: memberships.length === 0 ? "You are not a member of any organization yet; create one first" : "Pass `orgId`: you belong to several organizations",
  });
}

export async function requireOrg(p: Principal, orgIdInput: string | undefined, min: Role, action: string): Promise<{ orgId: string; role: Role }> {
  const orgId = await resolveOrgId(p, orgIdInput);
  const role = await roleIn(p, orgId);
  if (!role) throw orgNotFound();
  if (!atLeast(role, min)) throw forbidden(min, action);
  return { orgId, role };
}

/**
 * A satellite the caller may act on with at least `min`. Deleted satellites are NOT_FOUND
 * for actions; reads may ask for them (`allowDeleted`) since their row and history are kept.
 */
export async function requireSatellite(p: Principal, id: string, min: Role, action: string, opts: { allowDeleted?: boolean } = {}): Promise<{ satellite: Satellite; role: Role }> {
  const satellite = await db().satellite.findUnique({ where: { id } });
  if (!satellite || (satellite.state === "deleted" && !opts.allowDeleted)) throw satelliteNotFound();
  const role = await roleIn(p, satellite.orgId);
  if (!role) throw satelliteNotFound();
  if (!atLeast(role, min)) throw forbidden(min, action);
  return { satellite, role };
}

/** For long-lived streams: is the caller (and its token, if any) still good for `orgId`? */
export async function stillAllowed(p: Principal, orgId: string): Promise<boolean> {
  if (p.kind === "token") {
    const t = await db().apiToken.findUnique({ where: { id: p.tokenId }, select: { revokedAt: true, expiresAt: true } });
    if (!t || t.revokedAt || (t.expiresAt && t.expiresAt <= new Date())) return false;
  }
  return (await roleIn(p, orgId)) !== null;
}
