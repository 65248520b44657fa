// Tokens, invitations and membership through the real better-auth plugin: what a person can
// do with a token, and that leaving or being removed takes a person's tokens away.
import type { Db } from "@satellites/db";
import { verifyToken } from "@satellites/tokens";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth } from "../src/server/auth.ts";
import { handleAuth } from "../src/server/auth-http.ts";
import { clientDbError } from "../src/server/db-errors.ts";
import { addMember, outcome, callerWith, newOrg, satelliteIn, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let db: Db;
let owner: TestUser;

beforeAll(async () => {
  ({ db } = setup());
  owner = await signUp("owner");
});
afterAll(teardown);


describe("organizations", () => {
  it("create makes the caller owner and the active organization", async () => {
    const u = await signUp("founder");
    const org = await u.caller.org.create({ name: "Founders Inc" });
    expect(org.slug).toMatch(/^founders-inc/);
    const fresh = await callerWith({ cookie: u.cookie });
    expect(await fresh.org.list()).toEqual([{ id: org.id, name: "Founders Inc", slug: org.slug, role: "owner", active: true }]);
    // With one organization, orgId may be omitted.
    await expect(fresh.satellite.list()).resolves.toMatchObject({ items: [] });
  });

  it("refuses deletion while satellites exist, then deletes", async () => {
    const org = await owner.caller.org.create({ name: "Short lived" });
    const s = await satelliteIn(db, org.id, "asleep");
    const e = owner.caller.org.delete({ orgId: org.id });
    await expect(e).rejects.toThrow("Delete the organization's 1 satellite first.");
    await db.satellite.update({ where: { id: s.id }, data: { state: "deleted", liveName: null } });
    await db.satellite.delete({ where: { id: s.id } });
    await expect(owner.caller.org.delete({ orgId: org.id })).resolves.toEqual({ id: org.id });
    expect(await db.organization.findUnique({ where: { id: org.id } })).toBeNull();
  });

  // The refusal above was a count before better-auth's delete: a satellite created between the
  // two was cascaded away with its organization (its history too) while its machine launched,
  // and its creator had been told "created".
  it("a delete and a create at once: never both; whatever was created stays with its organization", async () => {
    let both = 0;
    let deleted = 0;
    for (let i = 0; i < 15; i++) {
      const org = await owner.caller.org.create({ name: `Race ${i}` });
      // The create sent 0–28 ms after the delete: either may reach the database first.
      const later = new Promise((r) => setTimeout(r, 2 * i));
      const [del, created] = await Promise.allSettled([owner.caller.org.delete({ orgId: org.id }), later.then(() => owner.caller.satellite.create({ orgId: org.id, name: `s${i}`, size: "xsmall" }))]);
      const orgLeft = await db.organization.count({ where: { id: org.id } });
      const satellites = await db.satellite.count({ where: { orgId: org.id } });
      if (del.status === "fulfilled" && created.status === "fulfilled") both++;
      if (del.status === "fulfilled") {
        deleted++;
        expect(orgLeft).toBe(0);
      }
      if (created.status === "fulfilled") expect({ orgLeft, satellites }).toEqual({ orgLeft: 1, satellites: 1 });
      // A delete refused at its last step (the satellite came first) took nothing with it.
      if (orgLeft === 1) expect(await db.member.count({ where: { organizationId: org.id } })).toBe(1);
      if (del.status === "rejected") expect(String(del.reason)).toMatch(/Delete the organization's 1 satellite first\.|satellite/);
    }
    expect(both).toBe(0);
    expect(deleted).toBeGreaterThan(0);
  });

  it("a person in several organizations must say which", async () => {
    const u = await signUp("multi");
    const a = await newOrg(db);
    const b = await newOrg(db);
    await addMember(db, a, u.id, "member");
    await addMember(db, b, u.id, "member");
    await expect(u.caller.satellite.list()).rejects.toThrow("Pass `orgId`: you belong to several organizations");
  });
});

describe("better-auth's organization endpoints", () => {
  // The dashboard and API manage organizations through tRPC; better-auth's own endpoints answered
  // "not found" and "not a member" differently, telling anyone signed in which slugs and ids exist.
  it("answer 404 over HTTP, whatever exists, so they tell a signed-in outsider nothing", async () => {
    const theirs = await owner.caller.org.create({ name: "Secret org" });
    const outsider = await signUp("prober");
    const call = (path: string, init: { method: string; body?: unknown }) =>
      handleAuth(
        new Request(`http://localhost:3000/api/auth/organization/${path}`, {
          method: init.method,
          headers: { cookie: outsider.cookie, origin: "http://localhost:3000", ...(init.body ? { "content-type": "application/json" } : {}) },
          body: init.body ? JSON.stringify(init.body) : undefined,
        }),
      );
    const answers = await Promise.all([
      call("check-slug", { method: "POST", body: { slug: theirs.slug } }),
      call("check-slug", { method: "POST", body: { slug: `nobody-${Date.now()}` } }),
      call(`get-full-organization?organizationSlug=${theirs.slug}`, { method: "GET" }),
      call(`get-full-organization?organizationId=${theirs.id}`, { method: "GET" }),
      call("get-full-organization?organizationSlug=nobody-at-all", { method: "GET" }),
      call("list-members?organizationId=" + theirs.id, { method: "GET" }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404]);
  });
});

describe("API tokens", () => {
  // Any member could create tokens without end, and the list showed the first 500: past that,
  // tokens in use fell off the page where they are revoked.
  it("an organization holds at most 500 usable tokens (revoked and expired ones do not count); all are listed", async () => {
    const org = await owner.caller.org.create({ name: "Many tokens" });
    const row = (i: number, extra: object = {}) => ({ orgId: org.id, createdById: owner.id, name: `t${i}`, prefix: `sat_${String(i).padStart(6, "0")}`, hash: `h-${org.id}-${i}`, ...extra });
    await db.apiToken.createMany({ data: Array.from({ length: 498 }, (_, i) => row(i)) });
    await db.apiToken.createMany({ data: [row(900, { revokedAt: new Date() }), row(901, { expiresAt: new Date(Date.now() - 1000) })] });
    const tries = await Promise.all(Array.from({ length: 4 }, (_, i) => outcome(owner.caller.token.create({ orgId: org.id, name: `late-${i}` }))));
    expect(tries.sort()).toEqual(["FORBIDDEN", "FORBIDDEN", "OK", "OK"]);
    await expect(owner.caller.token.create({ orgId: org.id, name: "one more" })).rejects.toThrow(/500 tokens in use, the most one organization may have; revoke unused ones first/);
    const listed = await owner.caller.token.list({ orgId: org.id });
    expect(listed.filter((t) => t.status === "active")).toHaveLength(500);
  });

  it("shows the secret once, stores only its hash, works as Bearer, and stops when revoked", async () => {
    const org = await owner.caller.org.create({ name: "Token org" });
    const created = await owner.caller.token.create({ orgId: org.id, name: "ci", expiresInDays: 30 });
    expect(created.token).toMatch(/^sat_[0-9A-Za-z]{32}$/);
    const row = await db.apiToken.findUniqueOrThrow({ where: { id: created.id } });
    expect(JSON.stringify(row)).not.toContain(created.token);
    const listed = await owner.caller.token.list({ orgId: org.id });
    expect(listed).toEqual([expect.objectContaining({ id: created.id, name: "ci", status: "active", canRevoke: true })]);
    expect(JSON.stringify(listed)).not.toContain(created.token);

    const bearer = await callerWith({ authorization: `Bearer ${created.token}` });
    await expect(bearer.satellite.list()).resolves.toMatchObject({ items: [] });
    await expect(bearer.org.get()).resolves.toMatchObject({ id: org.id, role: "owner" });
    // Last use is recorded (at most once a minute).
    await new Promise((r) => setTimeout(r, 50));
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: created.id } })).lastUsedAt).not.toBeNull();

    await owner.caller.token.revoke({ id: created.id });
    expect(await verifyToken(db, created.token)).toBeNull();
    const after = await callerWith({ authorization: `Bearer ${created.token}` });
    await expect(after.satellite.list()).rejects.toThrow("API token is invalid, expired or revoked");
    expect((await owner.caller.token.list({ orgId: org.id }))[0]).toMatchObject({ status: "revoked", canRevoke: false });
  });

  it("rejects malformed Authorization headers and expired tokens", async () => {
    expect(await outcome((await callerWith({ authorization: "Basic abc" })).satellite.list())).toBe("UNAUTHORIZED");
    expect(await outcome((await callerWith({ authorization: "Bearer sat_short" })).satellite.list())).toBe("UNAUTHORIZED");
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const t = await owner.caller.token.create({ orgId: org, name: "soon", expiresInDays: 1 });
    await db.apiToken.update({ where: { id: t.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await outcome((await callerWith({ authorization: `Bearer ${t.token}` })).satellite.list())).toBe("UNAUTHORIZED");
    expect((await owner.caller.token.list({ orgId: org }))[0]!.status).toBe("expired");
  });

  it("a member revokes their own token but not someone else's", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const m = await signUp("member");
    await addMember(db, org, m.id, "member");
    const mine = await m.caller.token.create({ orgId: org, name: "mine" });
    const theirs = await owner.caller.token.create({ orgId: org, name: "theirs" });
    const list = await m.caller.token.list({ orgId: org });
    expect(Object.fromEntries(list.map((t) => [t.name, t.canRevoke]))).toEqual({ mine: true, theirs: false });
    expect(await outcome(m.caller.token.revoke({ id: theirs.id }))).toBe("FORBIDDEN");
    expect(await outcome(m.caller.token.revoke({ id: mine.id }))).toBe("OK");
  });

  it("a member's token acts as a member (no creating satellites)", async () => {
    const org = await newOrg(db);
    await addMember(db, org, owner.id, "owner");
    const m = await signUp("member");
    await addMember(db, org, m.id, "member");
    const t = await m.caller.token.create({ orgId: org, name: "m" });
    const bearer = await callerWith({ authorization: `Bearer ${t.token}` });
    await expect(bearer.satellite.create({ name: "nope" })).rejects.toThrow("Only admins and owners can create satellites");
  });
});

describe("invitations and membership", () => {
  it("invite → sign up with that email → verify from the outbox → accept → member with the invited role", async () => {
    const org = await owner.caller.org.create({ name: "Invite org" });
    const email = `invitee-${Date.now()}@example.test`;
    const inv = await owner.caller.member.invite({ orgId: org.id, email, role: "admin" });
    expect(await owner.caller.member.invitations({ orgId: org.id })).toEqual([expect.objectContaining({ id: inv.id, email, role: "admin" })]);
    // No SMTP_URL in this file: the invitation mail waits in the outbox, with the link.
    const mailed = await db.mailOutbox.findFirstOrThrow({ where: { to: email, subject: { contains: "invited" } } });
    expect(mailed.text).toContain(inv.link!);
    // What the inviter chose is quoted and labelled, never the subject: no mail passing for the operator's.
    expect(mailed.subject).not.toContain("Invite org");
    expect(mailed.text).toContain('the organization named "Invite org"');
    expect(mailed.text).toMatch(/chosen by whoever made it/);

    const invitee = await signUp("invitee", email);
    // Sent after sign-up answers (the answer waits for no mail server).
    const verifyMail = { where: { to: email, subject: { contains: "Verify" } } };
    await expect.poll(() => db.mailOutbox.count(verifyMail)).toBe(1);
    const verification = await db.mailOutbox.findFirstOrThrow(verifyMail);
    const res = await auth().handler(new Request(verification.text.match(/https?:\/\/\S+/)![0], { redirect: "manual" }));
    expect(res.status).toBe(302);
    expect((await invitee.caller.member.myInvitations()).items).toEqual([expect.objectContaining({ id: inv.id, orgName: "Invite org", role: "admin" })]);
    await expect(invitee.caller.member.invitation({ invitationId: inv.id })).resolves.toMatchObject({ forYou: true, status: "pending" });
    // Someone else cannot accept it, or even see it.
    const stranger = await signUp("stranger");
    expect(await outcome(stranger.caller.member.accept({ invitationId: inv.id }))).toBe("NOT_FOUND");
    expect(await outcome(stranger.caller.member.invitation({ invitationId: inv.id }))).toBe("NOT_FOUND");

    await invitee.caller.member.accept({ invitationId: inv.id });
    const members = await owner.caller.member.list({ orgId: org.id });
    expect(members.find((m) => m.email === email)).toMatchObject({ role: "admin" });
    expect(await owner.caller.member.invitations({ orgId: org.id })).toEqual([]);
  });

  it("removing a member revokes their tokens and the client certificates they issued; leaving does too", async () => {
    const org = await owner.caller.org.create({ name: "Removal org" });
    const a = await signUp("leaver");
    const b = await signUp("removed");
    await addMember(db, org.id, a.id, "admin");
    const bMember = await addMember(db, org.id, b.id, "admin");
    const ta = await a.caller.token.create({ orgId: org.id, name: "a" });
    const tb = await b.caller.token.create({ orgId: org.id, name: "b" });
    // A bundle holds its private key: whoever downloaded it keeps it after leaving.
    const sat = await satelliteIn(db, org.id, "asleep");
    const ca = await a.caller.satellite.issueCertificate({ id: sat.id, name: "a's ci" });
    const cb = await b.caller.satellite.issueCertificate({ id: sat.id, name: "b's ci" });
    const co = await owner.caller.satellite.issueCertificate({ id: sat.id, name: "owner's ci" });
    const revokedAt = async (id: string) => (await db.clientCertificate.findUniqueOrThrow({ where: { id } })).revokedAt;

    await owner.caller.member.remove({ memberId: bMember });
    expect(await verifyToken(db, tb.token)).toBeNull();
    expect(await revokedAt(cb.certificate.id)).not.toBeNull();
    expect(await revokedAt(ca.certificate.id)).toBeNull();
    await a.caller.member.leave({ orgId: org.id });
    expect(await verifyToken(db, ta.token)).toBeNull();
    expect(await revokedAt(ca.certificate.id)).not.toBeNull();
    expect(await revokedAt(co.certificate.id)).toBeNull();
    expect(await outcome(a.caller.satellite.list({ orgId: org.id }))).toBe("NOT_FOUND");
  });

  // An invitation carries its sender's authority: it must not outlast it. Before, an admin could
  // invite a second account of their own, be removed, and rejoin as admin with the link.
  it("an inviter removed, leaving or demoted takes their pending invitations with them: the links stop working", async () => {
    const org = await owner.caller.org.create({ name: "Outgrown org" });
    const links: Record<string, { id: string; link: string }> = {};
    const admins: Record<string, { user: TestUser; memberId: string }> = {};
    for (const who of ["removed", "leaving", "demoted"]) {
      const user = await signUp(`inviter-${who}`);
      admins[who] = { user, memberId: await addMember(db, org.id, user.id, "admin") };
      const inv = await user.caller.member.invite({ orgId: org.id, email: `alt-${who}-${Date.now()}@example.test`, role: "admin" });
      links[who] = { id: inv.id, link: inv.link! };
    }
    // An owner made admin may still invite members and admins, not owners.
    const founder = await signUp("co-owner");
    const founderMember = await addMember(db, org.id, founder.id, "owner");
    const ownerInv = await founder.caller.member.invite({ orgId: org.id, email: `alt-owner-${Date.now()}@example.test`, role: "owner" });
    const adminInv = await founder.caller.member.invite({ orgId: org.id, email: `alt-admin-${Date.now()}@example.test`, role: "admin" });

    await owner.caller.member.remove({ memberId: admins.removed!.memberId });
    await admins.leaving!.user.caller.member.leave({ orgId: org.id });
    await owner.caller.member.updateRole({ memberId: admins.demoted!.memberId, role: "member" });
    await owner.caller.member.updateRole({ memberId: founderMember, role: "admin" });

    const pending = (await owner.caller.member.invitations({ orgId: org.id })).map((i) => i.id);
    expect(pending).toEqual([adminInv.id]);
    for (const id of [links.removed!.id, links.leaving!.id, links.demoted!.id, ownerInv.id]) {
      const taker = await signUp("taker");
      const secret = new URL(id === ownerInv.id ? ownerInv.link! : Object.values(links).find((l) => l.id === id)!.link).searchParams.get("token");
      expect(await outcome(taker.caller.member.accept({ invitationId: id, token: secret }))).toBe("PRECONDITION_FAILED");
      expect(await db.member.count({ where: { organizationId: org.id, userId: taker.id } })).toBe(0);
    }
    expect((await db.auditEvent.findMany({ where: { orgId: org.id, action: "invitation.cancel" } })).length).toBe(4);

    // However the membership went (here straight in the database), accepting checks the sender.
    const late = await signUp("inviter-late");
    const lateMember = await addMember(db, org.id, late.id, "admin");
    const lateInv = await late.caller.member.invite({ orgId: org.id, email: `alt-late-${Date.now()}@example.test`, role: "member" });
    await db.member.delete({ where: { id: lateMember } });
    const taker = await signUp("late-taker");
    await expect(taker.caller.member.accept({ invitationId: lateInv.id, token: new URL(lateInv.link!).searchParams.get("token") })).rejects.toThrow(/can no longer invite/);
    expect(await db.member.count({ where: { organizationId: org.id, userId: taker.id } })).toBe(0);
  });

  it("admins cannot touch owners; the last owner cannot leave", async () => {
    const org = await owner.caller.org.create({ name: "Rules org" });
    const admin = await signUp("admin");
    await addMember(db, org.id, admin.id, "admin");
    const ownerMember = (await owner.caller.member.list({ orgId: org.id })).find((m) => m.isYou)!;
    expect(await outcome(admin.caller.member.remove({ memberId: ownerMember.id }))).toMatch(/FORBIDDEN|BAD_REQUEST/);
    expect(await outcome(admin.caller.member.updateRole({ memberId: ownerMember.id, role: "member" }))).toBe("FORBIDDEN");
    expect(await outcome(admin.caller.member.invite({ orgId: org.id, email: "x@example.test", role: "owner" }))).toBe("FORBIDDEN");
    await expect(owner.caller.member.leave({ orgId: org.id })).rejects.toThrow(/only owner/i);
  });

  // better-auth counts the owners, then deletes or demotes in another statement: two owners
  // leaving (or removing or demoting each other) at once both passed the count, and the
  // organization was left with no owner — nobody could delete it or promote anyone again.
  // The database's own guard, without better-auth's count in front of it: both demotions are
  // written before either commits, and only the second commit is refused, answered in words.
  it("two owners demoted in transactions committed at once: the database keeps one (CONFLICT, in words)", async () => {
    const a = await signUp("co-owner-a");
    const b = await signUp("co-owner-b");
    const org = await a.caller.org.create({ name: "Co-owned by the database" });
    const mb = await addMember(db, org.id, b.id, "owner");
    const ma = (await db.member.findFirstOrThrow({ where: { organizationId: org.id, userId: a.id } })).id;
    let written = 0;
    let bothWritten!: () => void;
    const barrier = new Promise<void>((r) => (bothWritten = r));
    const demote = (memberId: string) =>
      db.$transaction(async (tx) => {
        await tx.member.update({ where: { id: memberId }, data: { role: "member" } });
        if (++written === 2) bothWritten();
        await barrier;
      });
    const results = await Promise.allSettled([demote(ma), demote(mb)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!.reason;
    expect(clientDbError(refused)).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/^An organization needs an owner/) });
    expect(await db.member.count({ where: { organizationId: org.id, role: { contains: "owner" } } })).toBe(1);
  });

  it("two owners leaving, removing or demoting each other at once: one stays owner; the other is told why", async () => {
    const moves = {
      leave: (u: TestUser, orgId: string) => u.caller.member.leave({ orgId }),
      remove: (u: TestUser, orgId: string, other: string) => u.caller.member.remove({ memberId: other }),
      demote: (u: TestUser, orgId: string, other: string) => u.caller.member.updateRole({ memberId: other, role: "member" }),
    };
    for (const [move, act] of Object.entries(moves)) {
      for (let i = 0; i < 6; i++) {
        const a = await signUp(`co-owner-a`);
        const b = await signUp(`co-owner-b`);
        const org = await a.caller.org.create({ name: `Co-owned ${move} ${i}` });
        const mb = await addMember(db, org.id, b.id, "owner");
        const ma = (await db.member.findFirstOrThrow({ where: { organizationId: org.id, userId: a.id } })).id;
        const outcomes = await Promise.all([outcome(act(a, org.id, mb)), outcome(act(b, org.id, ma))]);
        const owners = await db.member.count({ where: { organizationId: org.id, role: { contains: "owner" } } });
        expect({ move, owners }).toEqual({ move, owners: 1 });
        // The loser: refused in words (CONFLICT at once; BAD_REQUEST, FORBIDDEN or NOT_FOUND once the
        // other change is in), never a 500.
        expect(outcomes.filter((o) => o === "OK")).toHaveLength(1);
        expect(outcomes.find((o) => o !== "OK")).toMatch(/^(CONFLICT|BAD_REQUEST|FORBIDDEN|NOT_FOUND)$/);
      }
    }
    const a = await signUp("co-owner-a");
    const org = await a.caller.org.create({ name: "Co-owned message" });
    const b = await signUp("co-owner-b");
    await addMember(db, org.id, b.id, "owner");
    const [ra, rb] = await Promise.allSettled([a.caller.member.leave({ orgId: org.id }), b.caller.member.leave({ orgId: org.id })]);
    const refused = [ra, rb].find((r) => r.status === "rejected");
    expect(String((refused as PromiseRejectedResult | undefined)?.reason)).toMatch(/needs an owner|only owner/);
  });
});
