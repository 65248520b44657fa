// Earthly's REST account endpoints, as the CLI calls them (served by apps/web under /api/v0):
// login, ping, organizations and token creation. Answers are the protojson of Earthly's
// messages (secrets/account.proto); errors are `{"message": …}` with a 4xx status, which the
// CLI prints. Plain Request → Response, so the route handlers are one line each.
import type { Db } from "@satellites/db";
import { generateToken, issueLoginToken, looksLikeLoginToken } from "@satellites/tokens";
import { type Identity, identifyToken } from "./identity.ts";
import { atLeast } from "./roles.ts";

const message = (status: number, text: string) => Response.json({ message: text }, { status });
const unauthorized = (text: string) => message(401, text);

/** The Bearer token's identity, or the 401 to answer (the CLI then logs in again once). */
async function bearer(db: Db, req: Request): Promise<Identity | Response> {
  const token = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (!token) return unauthorized("missing `Authorization: Bearer <token>`; run `earthly account login`");
  return (await identifyToken(db, token)) ?? unauthorized("token is invalid, expired or revoked; log in again");
}

/** POST /api/v0/account/login with `Authorization: token <API token>` → LoginResponse. */
export async function login(db: Db, req: Request): Promise<Response> {
  const header = req.headers.get("authorization") ?? "";
  const apiToken = header.match(/^token\s+(\S+)\s*$/i)?.[1];
  if (!apiToken) {
    return unauthorized("log in with an API token: set EARTHLY_TOKEN (or run `earthly account login --token …`); password and SSH-key logins are not offered");
  }
  // A login token cannot make another: logins come from API tokens only.
  if (looksLikeLoginToken(apiToken)) return unauthorized("EARTHLY_TOKEN must be an API token (sat_…), not a login token");
  const who = await identifyToken(db, apiToken);
  if (!who) return unauthorized("API token is invalid, expired or revoked");
  const grant = await issueLoginToken(db, { id: who.tokenId, expiresAt: who.expiresAt });
  return Response.json({
    token: grant.token,
    expiry: grant.expiresAt.toISOString(),
    // When the API token itself stops working (never: left out, as protojson does).
    ...(who.expiresAt ? { authMethodExpiry: who.expiresAt.toISOString() } : {}),
  });
}

/**
 * GET /api/v0/account/auth-challenge: the CLI asks for one when it has no token and tries an
 * SSH-key login. We offer token logins only; say so instead of a 404 page it cannot read.
 */
export function authChallenge(): Response {
  return message(400, "SSH-key and password logins are not offered here; set EARTHLY_TOKEN to an API token (sat_…) from the dashboard's API tokens page");
}

/** GET /api/v0/account/ping → PingResponse: who the token acts for. */
export async function ping(db: Db, req: Request): Promise<Response> {
  const who = await bearer(db, req);
  if (who instanceof Response) return who;
  const user = await db.user.findUnique({ where: { id: who.userId }, select: { email: true } });
  if (!user) return unauthorized("token is invalid, expired or revoked; log in again");
  return Response.json({ email: user.email, writeAccess: atLeast(who.role, "admin") });
}

/**
 * GET /api/v0/admin/organizations?includePersonalOrg=… → ListOrgsResponse. A token belongs to
 * one organization, so that is the list; its name for the CLI (EARTHLY_ORG) is the slug.
 */
export async function listOrganizations(db: Db, req: Request): Promise<Response> {
  const include = new URL(req.url).searchParams.get("includePersonalOrg");
  if (include !== null && include !== "true" && include !== "false") return message(400, "includePersonalOrg must be true or false");
  const who = await bearer(db, req);
  if (who instanceof Response) return who;
  const org = await db.organization.findUnique({ where: { id: who.orgId }, select: { id: true, slug: true } });
  if (!org) return unauthorized("token is invalid, expired or revoked; log in again");
  return Response.json({ details: [{ name: org.slug, id: org.id, admin: atLeast(who.role, "admin") }] });
}

const MAX_TOKEN_DAYS = 3650;

/**
 * PUT /api/v0/account/token/NAME with protojson AuthToken `{write, expiry, keep_existing}` →
 * 201 and the new API token as the body. It belongs to the caller's organization and acts with
 * the caller's role, like a token made in the dashboard.
 */
export async function createToken(db: Db, req: Request, rawName: string): Promise<Response> {
  const who = await bearer(db, req);
  if (who instanceof Response) return who;
  let name: string;
  try {
    // The CLI escapes the name with Go's url.QueryEscape (a space is "+").
    name = decodeURIComponent(rawName.replace(/\+/g, " ")).trim();
  } catch {
    return message(400, "token name is not valid URL encoding");
  }
  if (name.length < 1 || name.length > 64) return message(400, "token name must be 1-64 characters");
  let body: { write?: unknown; expiry?: unknown };
  try {
    body = ((await req.json()) ?? {}) as typeof body;
  } catch {
    return message(400, "body must be JSON: {write, expiry}");
  }
  if (typeof body !== "object" || Array.isArray(body)) return message(400, "body must be a JSON object: {write, expiry}");
  // Tokens here act with their creator's role; a read-only token would be a promise not kept.
  if (body.write !== true) return message(400, "tokens act with your role in the organization; read-only tokens are not offered: pass --write");
  let expiresAt: Date | null = null;
  if (body.expiry !== undefined && body.expiry !== null) {
    const at = typeof body.expiry === "string" ? new Date(body.expiry) : new Date(NaN);
    if (Number.isNaN(at.getTime())) return message(400, "expiry must be an RFC 3339 timestamp");
    // Go's zero time (0001-01-01T00:00:00Z) is how a Go client says "no expiry".
    if (at.getUTCFullYear() > 1) {
      if (at.getTime() <= Date.now()) return message(400, "expiry must be in the future");
      if (at.getTime() > Date.now() + MAX_TOKEN_DAYS * 86_400_000) return message(400, `a token can be valid for at most ${MAX_TOKEN_DAYS} days`);
      expiresAt = at;
    }
  }
  const { token, prefix, hash } = generateToken();
  await db.apiToken.create({ data: { orgId: who.orgId, createdById: who.userId, name, prefix, hash, expiresAt } });
  return new Response(token, { status: 201, headers: { "content-type": "text/plain; charset=utf-8" } });
}

