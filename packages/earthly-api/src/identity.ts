// A token (login or API) resolved to what Earthly's API needs: its organization, and the
// person it acts for with that person's current role there. No role, no identity: a token
// whose creator left the organization is as good as revoked.
import type { Db } from "@satellites/db";
import { touchToken, verifyTokenWithRole } from "@satellites/tokens";
import { type Role, strongestRole } from "./roles.ts";

export interface Identity {
  tokenId: string;
  orgId: string;
  userId: string;
  role: Role;
  /** For history events: the API token acts. */
  actor: string;
  /** When the API token stops working (a login made with it never outlives it); null: never. */
  expiresAt: Date | null;
}

export async function identifyToken(db: Db, token: string): Promise<Identity | null> {
  // One query: the token (for a login, its API token too) and its creator's role.
  const verified = await verifyTokenWithRole(db, token);
  if (!verified) return null;
  const role = strongestRole(verified.role);
  if (!role) return null;
  // Best effort: last-use bookkeeping must not fail the call.
  void touchToken(db, verified.tokenId).catch(() => {});
  return { tokenId: verified.tokenId, orgId: verified.orgId, userId: verified.createdById, role, actor: `token:${verified.tokenId}`, expiresAt: verified.expiresAt };
}
