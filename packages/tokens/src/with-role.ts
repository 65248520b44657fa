// A token read together with what every use of it re-checks: its creator's current role in the
// token's organization. Earthly's API answers by role, and the CLI makes about five calls before
// each build: the login, its API token and the membership read in one query (a join on three
// unique keys) instead of one after another saves a round trip or three on every call.
import { Prisma } from "@satellites/db";
import type { VerifiedToken } from "./index.ts";

export interface TokenWithRole extends VerifiedToken {
  createdById: string;
  /** The creator's role in the token's organization, as of this read. */
  role: string;
  /** When the API token stops working; null: never. */
  expiresAt: Date | null;
}

/** What TOKEN_ROLE_COLUMNS selects. */
export interface TokenRoleRow {
  id: string;
  orgId: string;
  scopes: string[];
  createdById: string | null;
  expiresAt: Date | null;
  role: string | null;
  /** A login token's own end (LEAST with its API token's expiry); absent for an API token. */
  stopsAt?: Date;
}

/** The API token `t`'s columns and its creator's role (`m`, joined by CREATOR_ROLE), as a TokenRoleRow. */
export const TOKEN_ROLE_COLUMNS = Prisma.sql`t."id", t."orgId", t."scopes", t."createdById", (t."expiresAt" AT TIME ZONE 'UTC') AS "expiresAt", m."role"`;
export const CREATOR_ROLE = Prisma.sql`LEFT JOIN "member" m ON m."organizationId" = t."orgId" AND m."userId" = t."createdById"`;

/** `at` as the timestamp columns hold it: UTC, without a zone, whatever the session's zone. */
export function utc(at: Date): Prisma.Sql {
  return Prisma.sql`(${at.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
}

/** The API token `t` is neither revoked nor expired at `now`. */
export function tokenLive(now: Date): Prisma.Sql {
  return Prisma.sql`t."revokedAt" IS NULL AND (t."expiresAt" IS NULL OR t."expiresAt" > ${utc(now)})`;
}

/** The row's identity, or null when there is none or its creator is gone or no longer a member. */
export function tokenWithRole(row: TokenRoleRow | undefined): TokenWithRole | null {
  if (!row?.createdById || row.role === null) return null;
  return { tokenId: row.id, orgId: row.orgId, scopes: row.scopes, createdById: row.createdById, role: row.role, expiresAt: row.expiresAt, stopsAt: row.stopsAt ?? row.expiresAt };
}
