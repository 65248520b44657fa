// A token read together with what every use of it re-checks: its creator's current role in the
// token's organization. Earthly's API answers by role, and the CLI sends a call or two per
// build step it takes: reading the login, its API token and the membership in one query (a join
// on three unique keys) instead of one after another saves round trips on every call.
import type { VerifiedToken } from "./index.ts";

export interface TokenWithRole extends VerifiedToken {
  createdById: string;
  /** The creator's role in the token's organization, as of this read. */
  role: string;
  /** When the API token stops working; null: never. */
  expiresAt: Date | null;
}

/** What the joined queries select; expiry and revocation are already checked in SQL. */
export interface TokenRoleRow {
  id: string;
  orgId: string;
  scopes: string[];
  createdById: string | null;
  expiresAt: Date | null;
  role: string | null;
}

/** The row's identity, or null when its creator is gone or no longer a member. */
export function tokenWithRole(row: TokenRoleRow | undefined): TokenWithRole | null {
  if (!row?.createdById || row.role === null) return null;
  return { tokenId: row.id, orgId: row.orgId, scopes: row.scopes, createdById: row.createdById, role: row.role, expiresAt: row.expiresAt };
}

