// Organization API tokens: `sat_` + 32 random base62 characters. Only the SHA-256 of the whole
// token is stored; the visible prefix lets a person tell tokens apart in the list. Login tokens
// (login.ts, made from an API token for Earthly's CLI) are accepted wherever API tokens are.
import type { Db } from "@satellites/db";
import { looksLikeLoginToken, readLoginToken, verifyLoginToken } from "./login.ts";
import { RecentUses } from "./recent-uses.ts";
import { hashToken, randomBase62 } from "./secret.ts";
import { CREATOR_ROLE, TOKEN_ROLE_COLUMNS, type TokenRoleRow, type TokenWithRole, tokenLive, tokenWithRole } from "./with-role.ts";

export { hashToken } from "./secret.ts";
export * from "./login.ts";
export { RecentUses } from "./recent-uses.ts";
export type { TokenWithRole } from "./with-role.ts";

export const TOKEN_PREFIX = "sat_";
const TOKEN_RE = /^sat_[0-9A-Za-z]{32}$/;

export function generateToken(): { token: string; prefix: string; hash: string } {
  const token = TOKEN_PREFIX + randomBase62(32);
  return { token, prefix: token.slice(0, 12), hash: hashToken(token) };
}

/** Cheap shape check before touching the database: an API token or a login token. */
export function looksLikeToken(value: string): boolean {
  return TOKEN_RE.test(value) || looksLikeLoginToken(value);
}

export interface VerifiedToken {
  /** The API token (for a login token: the one it was made from). */
  tokenId: string;
  orgId: string;
  scopes: string[];
  /** Whose role the token acts with; null once its creator's account is gone. */
  createdById: string | null;
  /** When it stops working (an API token's expiry; a login token's own, which comes first); null: never. */
  stopsAt: Date | null;
}

/** The token's identity if it exists, is not revoked and has not expired; otherwise null. */
export async function verifyToken(db: Db, token: string, now = new Date()): Promise<VerifiedToken | null> {
  if (looksLikeLoginToken(token)) return verifyLoginToken(db, token, now);
  if (!TOKEN_RE.test(token)) return null;
  const row = await db.apiToken.findUnique({ where: { hash: hashToken(token) }, select: { id: true, orgId: true, scopes: true, revokedAt: true, expiresAt: true, createdById: true } });
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) return null;
  return { tokenId: row.id, orgId: row.orgId, scopes: row.scopes, createdById: row.createdById, stopsAt: row.expiresAt };
}

/**
 * verifyToken plus its creator's current role in the token's organization and the API token's
 * expiry, in one query; null also when the creator is gone or no longer a member.
 */
export async function verifyTokenWithRole(db: Db, token: string, now = new Date()): Promise<TokenWithRole | null> {
  if (looksLikeLoginToken(token)) return readLoginToken(db, token, now);
  if (!TOKEN_RE.test(token)) return null;
  const rows = await db.$queryRaw<TokenRoleRow[]>`
    SELECT ${TOKEN_ROLE_COLUMNS} FROM "api_token" t ${CREATOR_ROLE}
    WHERE t."hash" = ${hashToken(token)} AND ${tokenLive(now)}`;
  return tokenWithRole(rows[0]);
}

/** The tokens whose use this process wrote lately. */
const recent = new RecentUses();

/** Records use at most once a minute per token, so hot paths do not write on every call. */
export async function touchToken(db: Db, tokenId: string, now = new Date()): Promise<void> {
  const at = now.getTime();
  if (!recent.claim(tokenId, at)) return;
  try {
    await db.apiToken.updateMany({
      where: { id: tokenId, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(at - 60_000) } }] },
      data: { lastUsedAt: now },
    });
  } catch (err) {
    recent.release(tokenId, at);
    throw err;
  }
}
