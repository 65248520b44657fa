// Earthly's REST account endpoints, as the CLI calls them (served by apps/web under /api/v0):
// login, ping and organizations; token creation is refused (createToken), and every other path
// answered in words (notOffered). Answers are the
// protojson of Earthly's messages (secrets/account.proto); errors are `{"message": …}` with a
// 4xx status, which the CLI prints. Plain Request → Response, so the route handlers are one line each.
import type { Db } from "@satellites/db";
import { issueLoginToken, looksLikeLoginToken } from "@satellites/tokens";
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

/**
 * PUT /api/v0/account/token/NAME (`earthly account create-token`): refused. Every Earthly login
 * comes from an API token, so a token that could make tokens would let a leaked one outlive its
 * revocation through the tokens it made; the tRPC API refuses tokens the same (docs/security.md).
 * The caller is still identified first, so a bad token gets the 401 every endpoint gives.
 */
export async function createToken(db: Db, req: Request): Promise<Response> {
  const who = await bearer(db, req);
  if (who instanceof Response) return who;
  return message(403, "an API token cannot make another: create API tokens in the dashboard (your organization's API tokens page) or with the API's token.create from a signed-in session");
}

/**
 * Any other /api/v0 request the CLI may make (`account list-tokens` and `remove-token`, the
 * SSH-key commands, an older CLI's project lookups): 404 in the CLI's error shape, saying what is
 * offered, instead of a page it cannot decode.
 */
export function notOffered(req: Request): Response {
  const p = new URL(req.url).pathname;
  if (/^\/api\/v0\/account\/tokens?(\/|$)/.test(p)) {
    return message(404, "tokens are listed, made and revoked in the dashboard (your organization's API tokens page), not with `earthly account`");
  }
  return message(404, `${req.method} ${p.slice(0, 200)} is not offered by this Satellites installation: it serves satellites (earthly sat …, earthly --sat …) and logins with an API token`);
}
