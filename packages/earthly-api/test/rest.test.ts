// Earthly's REST account endpoints with the exact JSON the CLI parses (protojson names,
// RFC 3339 timestamps, `{"message"}` errors with 4xx), through the functions apps/web's
// route handlers call.
import type { Db } from "@satellites/db";
import { testDb } from "@satellites/testing";
import { generateToken, LOGIN_TOKEN_TTL_MS, verifyToken } from "@satellites/tokens";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authChallenge, createToken, listOrganizations, login, notOffered, ping } from "../src/rest.ts";
import { org, person, type Person } from "./fixtures.ts";

const db: Db = testDb();
let o: { id: string; slug: string };
let admin: Person;
let member: Person;
let adminApiToken: string;

const req = (path: string, init: RequestInit = {}) => new Request(`http://satellites.test/api/v0${path}`, init);
const bearerOf = (token: string) => ({ authorization: `Bearer ${token}` });

async function apiTokenFor(p: Person): Promise<string> {
  // person() makes an API token row; make one whose secret we know.
  const t = generateToken();
  await db.apiToken.create({ data: { orgId: (await db.apiToken.findUniqueOrThrow({ where: { id: p.apiTokenId } })).orgId, createdById: p.userId, name: "cli", prefix: t.prefix, hash: t.hash } });
  return t.token;
}

beforeAll(async () => {
  o = await org(db);
  admin = await person(db, o.id, "admin");
  member = await person(db, o.id, "member");
  adminApiToken = await apiTokenFor(admin);
});
afterAll(() => db.$disconnect());

describe("POST /api/v0/account/login", () => {
  it("exchanges an API token for a short-lived login token: LoginResponse{token, expiry}", async () => {
    const before = Date.now();
    const res = await login(db, req("/account/login", { method: "POST", headers: { authorization: `token ${adminApiToken}` } }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(["expiry", "token"]);
    expect(body.token).toMatch(/^satl_/);
    expect(body.expiry).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    const expiry = Date.parse(body.expiry!);
    expect(expiry).toBeGreaterThanOrEqual(before + LOGIN_TOKEN_TTL_MS - 1000);
    expect(await verifyToken(db, body.token!)).toMatchObject({ orgId: o.id, createdById: admin.userId });
  });

  it("gives authMethodExpiry when the API token expires, and never a login beyond it", async () => {
    const t = generateToken();
    const expiresAt = new Date(Date.now() + 3600_000);
    await db.apiToken.create({ data: { orgId: o.id, createdById: member.userId, name: "short", prefix: t.prefix, hash: t.hash, expiresAt } });
    const body = (await (await login(db, req("/account/login", { method: "POST", headers: { authorization: `token ${t.token}` } }))).json()) as Record<string, string>;
    expect(body.authMethodExpiry).toBe(expiresAt.toISOString());
    expect(body.expiry).toBe(expiresAt.toISOString());
  });

  it("answers 401 with a message for a missing, wrong-scheme, unknown or revoked token, and for a login token", async () => {
    const cases: Record<string, string | undefined> = {
      missing: undefined,
      basic: "Basic dXNlcjpwYXNz",
      unknown: "token sat_" + "0".repeat(32),
      login: `token ${member.token}`,
    };
    for (const [what, authorization] of Object.entries(cases)) {
      const res = await login(db, req("/account/login", { method: "POST", headers: authorization ? { authorization } : {} }));
      expect(res.status, what).toBe(401);
      expect(((await res.json()) as { message: string }).message.length, what).toBeGreaterThan(10);
    }
  });

  it("revoking the API token ends the login tokens made with it", async () => {
    const p = await person(db, o.id, "member");
    const api = await apiTokenFor(p);
    const { token } = (await (await login(db, req("/account/login", { method: "POST", headers: { authorization: `token ${api}` } }))).json()) as { token: string };
    expect((await ping(db, req("/account/ping", { headers: bearerOf(token) }))).status).toBe(200);
    await db.apiToken.updateMany({ where: { createdById: p.userId }, data: { revokedAt: new Date() } });
    expect((await ping(db, req("/account/ping", { headers: bearerOf(token) }))).status).toBe(401);
    expect((await login(db, req("/account/login", { method: "POST", headers: { authorization: `token ${api}` } }))).status).toBe(401);
  });

  it("removing the token's creator from the organization ends its login tokens", async () => {
    const p = await person(db, o.id, "member");
    expect((await ping(db, req("/account/ping", { headers: bearerOf(p.token) }))).status).toBe(200);
    await db.member.deleteMany({ where: { organizationId: o.id, userId: p.userId } });
    expect((await ping(db, req("/account/ping", { headers: bearerOf(p.token) }))).status).toBe(401);
  });
});

describe("GET /api/v0/account/auth-challenge", () => {
  it("says that only token logins are offered, in the CLI's error shape", async () => {
    const res = authChallenge();
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/set EARTHLY_TOKEN/);
  });
});

describe("GET /api/v0/account/ping", () => {
  it("answers PingResponse{email, writeAccess} for the token's creator", async () => {
    const res = await ping(db, req("/account/ping", { headers: bearerOf(admin.token) }));
    expect(await res.json()).toEqual({ email: admin.email, writeAccess: true });
    expect(await (await ping(db, req("/account/ping", { headers: bearerOf(member.token) }))).json()).toEqual({ email: member.email, writeAccess: false });
    expect((await ping(db, req("/account/ping"))).status).toBe(401);
  });
});

describe("GET /api/v0/admin/organizations", () => {
  it("answers ListOrgsResponse{details:[{name,id,admin}]} with the token's organization (by slug)", async () => {
    const res = await listOrganizations(db, req("/admin/organizations?includePersonalOrg=true", { headers: bearerOf(admin.token) }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ details: [{ name: o.slug, id: o.id, admin: true }] });
    const asMember = await listOrganizations(db, req("/admin/organizations?includePersonalOrg=false", { headers: bearerOf(member.token) }));
    expect(await asMember.json()).toEqual({ details: [{ name: o.slug, id: o.id, admin: false }] });
  });

  it("never lists another organization, and refuses bad input with 4xx", async () => {
    const other = await org(db);
    const outsider = await person(db, other.id, "owner");
    const body = (await (await listOrganizations(db, req("/admin/organizations", { headers: bearerOf(outsider.token) }))).json()) as { details: { id: string }[] };
    expect(body.details.map((d) => d.id)).toEqual([other.id]);
    expect((await listOrganizations(db, req("/admin/organizations?includePersonalOrg=maybe", { headers: bearerOf(admin.token) }))).status).toBe(400);
    expect((await listOrganizations(db, req("/admin/organizations", { headers: bearerOf("nope") }))).status).toBe(401);
  });
});

describe("PUT /api/v0/account/token/NAME", () => {
  const put = (name: string, body: unknown, token: string) =>
    createToken(db, req(`/account/token/${name}`, { method: "PUT", headers: bearerOf(token), body: typeof body === "string" ? body : JSON.stringify(body) }));

  // Every Earthly login comes from an API token, so a token that could make tokens would let a
  // leaked one outlive its revocation through tokens it made (the tRPC API refuses the same).
  it("refuses every token, admin's or member's, API or login token: 403 that says where tokens are made, nothing created", async () => {
    const loginRes = await login(db, req("/account/login", { method: "POST", headers: { authorization: `token ${adminApiToken}` } }));
    const loginToken = ((await loginRes.json()) as { token: string }).token;
    const before = await db.apiToken.count({ where: { orgId: o.id } });
    for (const [who, token] of [["admin API token", adminApiToken], ["admin login token", loginToken], ["member", member.token]] as const) {
      const res = await put("ci+runner", { write: true, expiry: "0001-01-01T00:00:00Z" }, token);
      expect(res.status, who).toBe(403);
      expect(((await res.json()) as { message: string }).message, who).toMatch(/cannot make another.*dashboard/);
    }
    // Names the old code could not store (a NUL from %00: a 500 then) get the same answer.
    expect((await put("a%00b", { write: true }, adminApiToken)).status).toBe(403);
    expect(await db.apiToken.count({ where: { orgId: o.id } })).toBe(before);
  });

  it("answers 401 to a caller without a valid token, as every endpoint does", async () => {
    expect((await put("unauth", { write: true }, "sat_" + "1".repeat(32))).status).toBe(401);
  });
});

describe("any other /api/v0 path", () => {
  it("is a 404 in the CLI's {message} shape that says what is offered, the token paths pointing to the dashboard", async () => {
    const tokens = notOffered(req("/account/tokens"));
    expect(tokens.status).toBe(404);
    expect(((await tokens.json()) as { message: string }).message).toMatch(/tokens are listed, made and revoked in the dashboard/);
    const other = notOffered(req(`/projects/${"x".repeat(500)}`, { method: "GET" }));
    const said = ((await other.json()) as { message: string }).message;
    expect(said).toMatch(/^GET \/api\/v0\/projects\/x+ is not offered by this Satellites installation/);
    expect(said.length).toBeLessThan(400);
  });
});
