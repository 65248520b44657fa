// Revocations are announced by the database in the transaction that makes them, whichever
// path makes them: a token revoked or deleted, a member removed (their tokens there revoked
// with it), an account deleted, a session ended.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrg, testDatabaseUrl, testDb } from "@satellites/testing";
import { Announcements } from "@satellites/db/announcements";
import { generateToken } from "../src/index.ts";
import { followRevocations, REVOCATION_CHANNEL, type Revocation } from "../src/revocations.ts";

const db = testDb();
const heard: Revocation[] = [];
let listener: Announcements;
beforeAll(async () => {
  listener = await Announcements.start(testDatabaseUrl(), [REVOCATION_CHANNEL]);
  followRevocations(listener, (r) => heard.push(r));
});
afterAll(async () => {
  await listener.close();
  await db.$disconnect();
});

async function user(): Promise<string> {
  const id = randomUUID();
  await db.user.create({ data: { id, name: "u", email: `${id}@example.test` } });
  return id;
}

async function token(orgId: string, createdById: string | null): Promise<string> {
  const t = generateToken();
  return (await db.apiToken.create({ data: { orgId, createdById, name: "t", prefix: t.prefix, hash: t.hash } })).id;
}

async function heardWithin(match: (r: Revocation) => boolean, ms = 2000): Promise<Revocation> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = heard.find(match);
    if (r) return r;
    if (Date.now() > deadline) throw new Error(`not announced within ${ms} ms; heard ${JSON.stringify(heard)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe("revocation announcements", () => {
  it("a revoked token is announced once, when the revocation commits", async () => {
    const org = await makeOrg(db);
    const id = await token(org.id, null);
    await db.$transaction(async (tx) => {
      await tx.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
      await new Promise((res) => setTimeout(res, 200));
      expect(heard.some((r) => r.kind === "token" && r.tokenId === id)).toBe(false);
    });
    expect(await heardWithin((r) => r.kind === "token" && r.tokenId === id)).toEqual({ kind: "token", tokenId: id, orgId: org.id });
    // Revoking again changes nothing and says nothing.
    await db.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
    await new Promise((res) => setTimeout(res, 200));
    expect(heard.filter((r) => r.kind === "token" && r.tokenId === id)).toHaveLength(1);
  });

  it("a rolled-back revocation is not announced", async () => {
    const org = await makeOrg(db);
    const id = await token(org.id, null);
    await expect(
      db.$transaction(async (tx) => {
        await tx.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    await new Promise((res) => setTimeout(res, 300));
    expect(heard.some((r) => r.kind === "token" && r.tokenId === id)).toBe(false);
  });

  it("removing a member revokes the tokens they created there, and only those, in the same transaction", async () => {
    const org = await makeOrg(db);
    const other = await makeOrg(db);
    const u = await user();
    await db.member.create({ data: { id: randomUUID(), organizationId: org.id, userId: u, role: "admin" } });
    await db.member.create({ data: { id: randomUUID(), organizationId: other.id, userId: u, role: "admin" } });
    const here = await token(org.id, u);
    const there = await token(other.id, u);
    await db.member.deleteMany({ where: { organizationId: org.id, userId: u } });
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: here } })).revokedAt).not.toBeNull();
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: there } })).revokedAt).toBeNull();
    await heardWithin((r) => r.kind === "member" && r.orgId === org.id && r.userId === u);
    await heardWithin((r) => r.kind === "token" && r.tokenId === here);
  });

  it("deleting an account revokes every token it created and ends its sessions", async () => {
    const org = await makeOrg(db);
    const u = await user();
    const orphan = await token(org.id, u); // created while a member, whatever happened since
    const sessionId = randomUUID();
    await db.session.create({ data: { id: sessionId, token: randomUUID(), userId: u, expiresAt: new Date(Date.now() + 3_600_000) } });
    await db.user.delete({ where: { id: u } });
    const row = await db.apiToken.findUniqueOrThrow({ where: { id: orphan } });
    expect(row).toMatchObject({ createdById: null });
    expect(row.revokedAt).not.toBeNull();
    await heardWithin((r) => r.kind === "token" && r.tokenId === orphan);
    expect(await heardWithin((r) => r.kind === "session" && r.sessionId === sessionId)).toEqual({ kind: "session", sessionId, userId: u });
  });

  it("a deleted token is announced; an already revoked one is not announced again", async () => {
    const org = await makeOrg(db);
    const live = await token(org.id, null);
    const gone = await token(org.id, null);
    await db.apiToken.update({ where: { id: gone }, data: { revokedAt: new Date() } });
    await heardWithin((r) => r.kind === "token" && r.tokenId === gone);
    await db.apiToken.deleteMany({ where: { id: { in: [live, gone] } } });
    await heardWithin((r) => r.kind === "token" && r.tokenId === live);
    await new Promise((res) => setTimeout(res, 200));
    expect(heard.filter((r) => r.kind === "token" && r.tokenId === gone)).toHaveLength(1);
  });

  it("deleting an organization takes its members and their tokens with it, announcing each token", async () => {
    const org = await makeOrg(db);
    const u = await user();
    await db.member.create({ data: { id: randomUUID(), organizationId: org.id, userId: u, role: "owner" } });
    const ids = [await token(org.id, u), await token(org.id, u), await token(org.id, null)];
    await db.organization.delete({ where: { id: org.id } });
    expect(await db.apiToken.count({ where: { orgId: org.id } })).toBe(0);
    for (const id of ids) await heardWithin((r) => r.kind === "token" && r.tokenId === id);
    await heardWithin((r) => r.kind === "member" && r.orgId === org.id && r.userId === u);
  });
});
