// Every call the Earthly CLI makes is identified first, and the CLI makes about five before each
// build: each identification is one statement to Postgres, a login two (the identification and
// the new login), so the CLI's start is not a chain of database round trips.
import { randomUUID } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "@satellites/db";
import { testDatabaseUrl, testDb } from "@satellites/testing";
import { generateToken } from "@satellites/tokens";
import { afterAll, describe, expect, it } from "vitest";
import { Metadata, status } from "@grpc/grpc-js";
import { Callers } from "../src/caller.ts";
import { identifyToken } from "../src/identity.ts";
import { login } from "../src/rest.ts";
import { org, person } from "./fixtures.ts";

const db = testDb();
// A client of its own that reports every statement it sends.
const counted = new PrismaClient({ adapter: new PrismaPg({ connectionString: testDatabaseUrl(), max: 2 }), log: [{ level: "query", emit: "event" }] });
const sent: string[] = [];
counted.$on("query", (e) => sent.push(e.query));
afterAll(() => counted.$disconnect());

/** The statements `fn` sends, leaving out last-use bookkeeping (fire-and-forget, not waited for). */
async function statementsOf(fn: () => Promise<unknown>): Promise<string[]> {
  await counted.$queryRaw`SELECT 1`;
  sent.length = 0;
  await fn();
  return sent.filter((q) => !/"lastUsedAt"/.test(q));
}

describe("identifying a caller of Earthly's API", () => {
  it("reads a login token, its API token and its creator's role in one statement", async () => {
    const o = await org(db);
    const p = await person(db, o.id, "admin");
    let who: Awaited<ReturnType<typeof identifyToken>> = null;
    const statements = await statementsOf(async () => (who = await identifyToken(counted, p.token)));
    expect(who).toMatchObject({ tokenId: p.apiTokenId, orgId: o.id, userId: p.userId, role: "admin", expiresAt: null });
    expect(statements).toHaveLength(1);
  });

  it("logs in with an API token in two statements, and the login never outlives the token", async () => {
    const o = await org(db);
    const p = await person(db, o.id, "member");
    const t = generateToken();
    const until = new Date(Date.now() + 3_600_000);
    await db.apiToken.create({ data: { id: randomUUID(), orgId: o.id, createdById: p.userId, name: "ci", prefix: t.prefix, hash: t.hash, expiresAt: until } });
    let res: Response | undefined;
    const statements = await statementsOf(async () => (res = await login(counted, new Request("http://x/api/v0/account/login", { method: "POST", headers: { authorization: `token ${t.token}` } }))));
    expect(res!.status).toBe(200);
    const body = (await res!.json()) as { token: string; expiry: string; authMethodExpiry: string };
    expect(new Date(body.authMethodExpiry).getTime()).toBe(until.getTime());
    expect(new Date(body.expiry).getTime()).toBe(until.getTime());
    expect(statements).toHaveLength(2);
    // The login works, and stops when its API token is revoked.
    expect(await identifyToken(db, body.token)).toMatchObject({ orgId: o.id, userId: p.userId, role: "member" });
    await db.apiToken.update({ where: { hash: t.hash }, data: { revokedAt: new Date() } });
    expect(await identifyToken(db, body.token)).toBeNull();
  });

  it("refuses a token whose creator left the organization", async () => {
    const o = await org(db);
    const p = await person(db, o.id, "owner");
    await person(db, o.id, "owner"); // the organization keeps an owner when this one leaves
    expect(await identifyToken(db, p.token)).not.toBeNull();
    await db.member.deleteMany({ where: { organizationId: o.id, userId: p.userId } });
    expect(await identifyToken(db, p.token)).toBeNull();
  });

  it("refuses a string that is not a token's shape without a statement, and keeps none of them", async () => {
    const callers = new Callers(counted, 60_000);
    const md = (v: string) => {
      const m = new Metadata();
      m.set("authorization", `Bearer ${v}`);
      return m;
    };
    const statements = await statementsOf(async () => {
      for (let i = 0; i < 200; i++) await expect(callers.identify({ metadata: md(`${"g".repeat(4000)}${i}`), getPeer: () => "ipv4:127.0.0.1:1" })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    });
    expect(statements).toEqual([]);
    expect(callers.size).toBe(0);
  });
});
