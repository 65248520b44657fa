// Rate limits key on the real client and are shared by every web replica (Redis): a new
// X-Forwarded-For on each request buys no new budget, and two handler instances with their
// own Redis connections draw from one budget.
import { randomUUID } from "node:crypto";
import { parseConfig } from "@satellites/config";
import type { Db } from "@satellites/db";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleAuth } from "../src/server/auth-http.ts";
import { PEER_HEADER } from "../src/server/client-address.ts";
import { createRateLimits, provideRateLimits, RATE_LIMITS, type RateLimits } from "../src/server/rate-limits.ts";
import { login } from "@satellites/earthly-api/rest";
import { AUTH_BODY_MAX_BYTES } from "../src/server/request-limits.ts";
import { tokenApiGuard } from "../src/server/token-api-guard.ts";
import { handleTrpc } from "../src/server/trpc-http.ts";
import { addMember, newOrg, setup, signUp, teardown } from "./helpers.ts";

let db: Db;
const redises: Redis[] = [];
const PREFIX = `rl-test-${process.pid}-${randomUUID().slice(0, 8)}`;

/** One "web replica": its own Redis connection, the shared prefix. */
function replica(): RateLimits {
  const r = new Redis(parseConfig().REDIS_URL);
  redises.push(r);
  return createRateLimits(r, PREFIX);
}

beforeAll(() => {
  ({ db } = setup());
});
afterAll(async () => {
  const r = redises[0];
  if (r) {
    const keys = await r.keys(`${PREFIX}:*`);
    if (keys.length) await r.del(...keys);
  }
  await Promise.all(redises.map((x) => x.quit()));
  await teardown();
});

const signIn = (peer: string, xff: string, email: string) =>
  handleAuth(
    new Request("http://localhost:3000/api/auth/sign-in/email", {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://localhost:3000", [PEER_HEADER]: peer, "x-forwarded-for": xff },
      body: JSON.stringify({ email, password: "wrong password!" }),
    }),
  );

describe("sign-in limit", () => {
  it("a new X-Forwarded-For on every request does not buy a new budget", async () => {
    provideRateLimits(replica());
    const { email } = await signUp("victim");
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.signIn.points + 5; i++) {
      statuses.push((await signIn("203.0.113.10", `198.51.100.${i}`, email)).status);
    }
    expect(statuses.slice(0, RATE_LIMITS.signIn.points).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(RATE_LIMITS.signIn.points)).toEqual(Array(5).fill(429));
    const refused = await signIn("203.0.113.10", "192.0.2.77", email);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused.json()) as { message: string }).message).toMatch(/Too many sign-in attempts from your address/);
    // Another client still gets in line.
    expect((await signIn("203.0.113.11", "", email)).status).toBe(401);
  });

  it("a client rotating through its IPv6 /64 is one client; another /64 is another", async () => {
    provideRateLimits(replica());
    const { email } = await signUp("v6victim");
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.signIn.points + 3; i++) statuses.push((await signIn(`2001:db8:5:6::${(i + 1).toString(16)}`, "", email)).status);
    expect(statuses.slice(RATE_LIMITS.signIn.points)).toEqual([429, 429, 429]);
    expect((await signIn("2001:db8:5:7::1", "", email)).status).toBe(401);
  });

  it("two replicas share one budget", async () => {
    const [a, b] = [replica(), replica()];
    const { email } = await signUp("shared");
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.signIn.points + 2; i++) {
      provideRateLimits(i % 2 ? b : a);
      statuses.push((await signIn("203.0.113.20", "", email)).status);
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(RATE_LIMITS.signIn.points);
    expect(statuses.slice(-2)).toEqual([429, 429]);
  });
});

const trpcCall = (peer: string, headers: Record<string, string>, path: string, body?: unknown) =>
  handleTrpc(
    new Request(`http://localhost:3000/api/trpc/${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json", [PEER_HEADER]: peer, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );

describe("token use and invitation limits", () => {
  it("bearer requests from one client are limited (wrong tokens count too)", async () => {
    provideRateLimits(replica());
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.tokenUse.points + 1; i++) {
      statuses.push((await trpcCall("203.0.113.30", { authorization: `Bearer sat_${randomUUID().replaceAll("-", "")}`, "x-forwarded-for": `10.9.${i >> 8}.${i & 255}` }, "satellite.list")).status);
    }
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it("invitations from one client are limited", async () => {
    provideRateLimits(replica());
    const owner = await signUp("inviter");
    const orgId = await newOrg(db);
    await addMember(db, orgId, owner.id, "owner");
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.invite.points + 1; i++) {
      statuses.push((await trpcCall("203.0.113.40", { cookie: owner.cookie }, "member.invite", { orgId, email: `n${i}-${randomUUID().slice(0, 6)}@example.test` })).status);
    }
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    const last = await trpcCall("203.0.113.40", { cookie: owner.cookie }, "member.invite", { orgId, email: `late@example.test` });
    expect(last.status).toBe(429);
    expect(((await last.json()) as { error: { message: string } }).error.message).toMatch(/Too many invitations/);
  });
});

describe("mail on request", () => {
  it("password-reset mails from one client are limited, whatever X-Forwarded-For says", async () => {
    provideRateLimits(replica());
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.authMail.points + 1; i++) {
      const res = await handleAuth(
        new Request("http://localhost:3000/api/auth/request-password-reset", {
          method: "POST",
          headers: { "content-type": "application/json", origin: "http://localhost:3000", [PEER_HEADER]: "203.0.113.50", "x-forwarded-for": `192.0.2.${i}` },
          body: JSON.stringify({ email: `nobody-${i}@example.test`, redirectTo: "/reset-password" }),
        }),
      );
      statuses.push(res.status);
    }
    expect(statuses.slice(0, -1).every((s) => s < 400)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe("Earthly REST endpoints (/api/v0)", () => {
  it("login attempts with API tokens are token use: limited per client, bodies bounded", async () => {
    const POST = tokenApiGuard((req: Request) => login(db, req));
    provideRateLimits(replica());
    const big = await POST(new Request("http://localhost:3000/api/v0/account/login", { method: "POST", headers: { [PEER_HEADER]: "203.0.113.60", authorization: "token sat_x" }, body: "x".repeat(AUTH_BODY_MAX_BYTES + 1) }), undefined);
    expect(big.status).toBe(413);
    expect(((await big.json()) as { message: string }).message).toMatch(/^body: /);
    const statuses: number[] = [big.status];
    while (statuses.length < RATE_LIMITS.tokenUse.points + 1) {
      const res = await POST(new Request("http://localhost:3000/api/v0/account/login", { method: "POST", headers: { [PEER_HEADER]: "203.0.113.60", "x-forwarded-for": `10.8.0.${statuses.length & 255}`, authorization: `token sat_${randomUUID().replaceAll("-", "")}` } }), undefined);
      statuses.push(res.status);
    }
    expect(statuses.slice(1, -1).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });
});
