// Organization API tokens: `sat_` + 32 random base62 characters. Only the SHA-256 of the whole
// token is stored (a fast hash is right for 190 bits of randomness: there is nothing to brute
// force); the visible prefix lets a person tell tokens apart in the list.
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "@satellites/db";

export const TOKEN_PREFIX = "sat_";
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TOKEN_RE = /^sat_[0-9A-Za-z]{32}$/;

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function generateToken(): { token: string; prefix: string; hash: string } {
  // Rejection sampling keeps every character uniformly distributed.
  let body = "";
  while (body.length < 32) {
    for (const b of randomBytes(48)) {
      if (b < 248 && body.length < 32) body += ALPHABET[b % 62];
    }
  }
  const token = TOKEN_PREFIX + body;
  return { token, prefix: token.slice(0, 12), hash: hashToken(token) };
}

/** Cheap shape check before touching the database. */
export function looksLikeToken(value: string): boolean {
  return TOKEN_RE.test(value);
}

export interface VerifiedToken {
  tokenId: string;
  orgId: string;
  scopes: string[];
}

/** The token's identity if it exists, is not revoked and has not expired; otherwise null. */
export async function verifyToken(db: Db, token: string, now = new Date()): Promise<VerifiedToken | null> {
  if (!looksLikeToken(token)) return null;
  const row = await db.apiToken.findUnique({ where: { hash: hashToken(token) }, select: { id: true, orgId: true, scopes: true, revokedAt: true, expiresAt: true } });
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) return null;
  return { tokenId: row.id, orgId: row.orgId, scopes: row.scopes };
}

/** Records use at most once a minute per token, so hot paths do not write on every call. */
export async function touchToken(db: Db, tokenId: string, now = new Date()): Promise<void> {
  await db.apiToken.updateMany({
    where: { id: tokenId, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now.getTime() - 60_000) } }] },
    data: { lastUsedAt: now },
  });
}
