// A token (login or API) resolved to what Earthly's API needs: its organization, and the
// person it acts for with that person's current role there. No role, no identity: a token
// whose creator left the organization is as good as revoked.
import type { Db } from "@satellites/db";
import { touchToken, verifyToken } from "@satellites/tokens";
import { type Role, strongestRole } from "./roles.ts";

export interface Identity {
  tokenId: string;
  orgId: string;
  userId: string;
  role: Role;
  /** For history events: the API token acts. */
  actor: string;
}

export async function identifyToken(db: Db, token: string): Promise<Identity | null> {
  const verified = await verifyToken(db, token);
  if (!verified?.createdById) return null;
  const member = await db.member.findUnique({
    where: { organizationId_userId: { organizationId: verified.orgId, userId: verified.createdById } },
    select: { role: true },
  });
  const role = strongestRole(member?.role);
  if (!role) return null;
  // Best effort: last-use bookkeeping must not fail the call.
  void touchToken(db, verified.tokenId).catch(() => {});
  return { tokenId: verified.tokenId, orgId: verified.orgId, userId: verified.createdById, role, actor: `token:${verified.tokenId}` };
}
