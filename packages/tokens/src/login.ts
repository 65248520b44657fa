// Login tokens: what Earthly's CLI gets from POST /api/v0/account/login for an API token, and
// then sends as `authorization: Bearer` to the cloud API and as `satellite_token` to the proxy.
// `satl_` + 40 random base62 characters, valid for LOGIN_TOKEN_TTL_MS (never past the API
// token's own expiry), stored hashed. Each use re-checks the API token it came from and that
// token's creator, so revoking the token or removing the person ends every login made with it.
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { hashToken, randomBase62 } from "./secret.ts";
import { CREATOR_ROLE, TOKEN_ROLE_COLUMNS, type TokenRoleRow, type TokenWithRole, tokenLive, tokenWithRole, utc } from "./with-role.ts";

export const LOGIN_TOKEN_PREFIX = "satl_";
/** Long enough for a day of builds on one login; the CLI logs in again once it passes. */
export const LOGIN_TOKEN_TTL_MS = 12 * 3600_000;
const LOGIN_TOKEN_RE = /^satl_[0-9A-Za-z]{40}$/;

export function looksLikeLoginToken(value: string): boolean {
  return LOGIN_TOKEN_RE.test(value);
}

export interface LoginTokenGrant {
  token: string;
  expiresAt: Date;
}

/** A new login token for the API token `apiTokenId` (already verified by the caller). */
export async function issueLoginToken(db: Db, apiToken: { id: string; expiresAt: Date | null }, now = new Date()): Promise<LoginTokenGrant> {
  const token = LOGIN_TOKEN_PREFIX + randomBase62(40);
  let expiresAt = new Date(now.getTime() + LOGIN_TOKEN_TTL_MS);
  if (apiToken.expiresAt && apiToken.expiresAt < expiresAt) expiresAt = apiToken.expiresAt;
  // Each `earthly` run may log in; expired logins of this token go as new ones come — in the
  // same statement (one round trip, atomic), not a transaction of four.
  await db.$executeRaw`
    WITH expired AS (
      DELETE FROM "login_token" WHERE "apiTokenId" = ${apiToken.id} AND "expiresAt" <= ${utc(now)}
    )
    INSERT INTO "login_token" ("id", "apiTokenId", "hash", "expiresAt", "createdAt")
    VALUES (${randomUUID()}, ${apiToken.id}, ${hashToken(token)}, ${utc(expiresAt)}, ${utc(now)})`;
  return { token, expiresAt };
}

export interface VerifiedLogin {
  /** The API token the login was made with: actions are attributed to it. */
  tokenId: string;
  orgId: string;
  scopes: string[];
  createdById: string;
  /** The login's own expiry, or its API token's when that comes first. */
  stopsAt: Date | null;
}

/** The login's identity while it, its API token and that token's creator's membership hold. */
export async function verifyLoginToken(db: Db, token: string, now = new Date()): Promise<VerifiedLogin | null> {
  const t = await readLoginToken(db, token, now);
  return t && { tokenId: t.tokenId, orgId: t.orgId, scopes: t.scopes, createdById: t.createdById, stopsAt: t.stopsAt };
}

/** verifyLoginToken with the creator's role and the API token's expiry, in one query. */
export async function readLoginToken(db: Db, token: string, now = new Date()): Promise<TokenWithRole | null> {
  if (!looksLikeLoginToken(token)) return null;
  const rows = await db.$queryRaw<TokenRoleRow[]>`
    SELECT ${TOKEN_ROLE_COLUMNS}, (LEAST(l."expiresAt", t."expiresAt") AT TIME ZONE 'UTC') AS "stopsAt"
    FROM "login_token" l JOIN "api_token" t ON t."id" = l."apiTokenId" ${CREATOR_ROLE}
    WHERE l."hash" = ${hashToken(token)} AND l."expiresAt" > ${utc(now)} AND ${tokenLive(now)}`;
  return tokenWithRole(rows[0]);
}
