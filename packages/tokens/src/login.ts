// Login tokens: what Earthly's CLI gets from POST /api/v0/account/login for an API token, and
// then sends as `authorization: Bearer` to the cloud API and as `satellite_token` to the proxy.
// `satl_` + 40 random base62 characters, valid for LOGIN_TOKEN_TTL_MS (never past the API
// token's own expiry), stored hashed. Each use re-checks the API token it came from and that
// token's creator, so revoking the token or removing the person ends every login made with it.
import type { Db } from "@satellites/db";
import { hashToken, randomBase62 } from "./secret.ts";

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
  // Each `earthly` run may log in; expired logins of this token go as new ones come.
  await db.$transaction([
    db.loginToken.deleteMany({ where: { apiTokenId: apiToken.id, expiresAt: { lte: now } } }),
    db.loginToken.create({ data: { apiTokenId: apiToken.id, hash: hashToken(token), expiresAt } }),
  ]);
  return { token, expiresAt };
}

export interface VerifiedLogin {
  /** The API token the login was made with: actions are attributed to it. */
  tokenId: string;
  orgId: string;
  scopes: string[];
  createdById: string;
}

/** The login's identity while it, its API token and that token's creator's membership hold. */
export async function verifyLoginToken(db: Db, token: string, now = new Date()): Promise<VerifiedLogin | null> {
  if (!looksLikeLoginToken(token)) return null;
  const row = await db.loginToken.findUnique({
    where: { hash: hashToken(token) },
    select: { expiresAt: true, apiToken: { select: { id: true, orgId: true, scopes: true, revokedAt: true, expiresAt: true, createdById: true } } },
  });
  if (!row || row.expiresAt <= now) return null;
  const t = row.apiToken;
  if (t.revokedAt || (t.expiresAt && t.expiresAt <= now) || !t.createdById) return null;
  const member = await db.member.findUnique({ where: { organizationId_userId: { organizationId: t.orgId, userId: t.createdById } }, select: { id: true } });
  if (!member) return null;
  return { tokenId: t.id, orgId: t.orgId, scopes: t.scopes, createdById: t.createdById };
}
