// Finding 4 of issue 13 (open sign-up, no quotas) and finding 10's "no record of who changed
// what": sign-up policy, per-organization quotas set by the instance admin, and the audit log.
// A database of its own, so "the first account" is really the first.
import { pruneAudit, recordAudit } from "@satellites/audit";
import { loadConfigOrExit } from "@satellites/config";
import type { Db } from "@satellites/db";
import type { ScratchDatabase } from "@satellites/db/scratch";
import { ownDatabase } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "../src/server/routers/index.ts";
import { provideServices } from "../src/server/services.ts";
import { createContext } from "../src/server/trpc.ts";
import { addMember, outcome, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let own: ScratchDatabase;
let db: Db;
let admin: TestUser;

function usePolicy(policy: "open" | "invite-only" | "domains", domains = ""): void {
  loadConfigOrExit({ ...process.env, SIGNUP_POLICY: policy, SIGNUP_DOMAINS: domains });
}

beforeAll(async () => {
  setup();
  own = await ownDatabase("accounts");
  db = own.db;
  provideServices({ db });
  usePolicy("invite-only");
  admin = await signUp("first");
});
afterAll(async () => {
  await teardown();
  await own?.drop();
});

describe("sign-up policy (finding 4)", () => {
  it("the first account is allowed whatever the policy and becomes the instance admin", async () => {
    expect((await db.user.findUniqueOrThrow({ where: { id: admin.id } })).instanceAdmin).toBe(true);
    expect(await admin.caller.admin.me()).toEqual({ instanceAdmin: true });
  });

  it("invite-only: a stranger is refused; an invited address may sign up; later accounts are not admins", async () => {
    usePolicy("invite-only");
    await expect(signUp("stranger")).rejects.toThrow(/403.*invitation only/);
    const org = await admin.caller.org.create({ name: "Invite only org" });
    const email = `invited-${Date.now()}@example.test`;
    await admin.caller.member.invite({ orgId: org.id, email });
    const invited = await signUp("invited", email);
    expect((await db.user.findUniqueOrThrow({ where: { id: invited.id } })).instanceAdmin).toBe(false);
    expect(await invited.caller.admin.me()).toEqual({ instanceAdmin: false });
  });

  it("domains: only the listed domains may sign up", async () => {
    usePolicy("domains", "corp.example, Team.Example");
    await expect(signUp("outside", `x-${Date.now()}@elsewhere.example`)).rejects.toThrow(/403.*corp\.example, team\.example/);
    await expect(signUp("inside", `x-${Date.now()}@team.example`)).resolves.toMatchObject({ email: expect.stringContaining("@team.example") });
  });

  it("domains: an allowed but unverified address cannot create an organization until it is verified", async () => {
    usePolicy("domains", "corp.example");
    const typed = await signUp("typed", `x-${Date.now()}@corp.example`);
    await expect(typed.caller.org.create({ name: "Not yet" })).rejects.toThrow(/Verify your email address/);
    await db.user.update({ where: { id: typed.id }, data: { emailVerified: true } });
    await expect(typed.caller.org.create({ name: "Now verified" })).resolves.toMatchObject({ name: "Now verified" });
  });

  it("open: anyone", async () => {
    usePolicy("open");
    await expect(signUp("anyone")).resolves.toBeTruthy();
  });

  it("a later account never becomes instance admin, even when no admin is left", async () => {
    usePolicy("open");
    await db.user.update({ where: { id: admin.id }, data: { instanceAdmin: false } });
    try {
      const late = await signUp("late");
      expect((await db.user.findUniqueOrThrow({ where: { id: late.id } })).instanceAdmin).toBe(false);
    } finally {
      await db.user.update({ where: { id: admin.id }, data: { instanceAdmin: true } });
    }
  });
});

describe("quotas (finding 4)", () => {
  let orgId: string;
  let owner: TestUser;

  beforeAll(async () => {
    usePolicy("open");
    owner = await signUp("quota-owner");
    orgId = (await owner.caller.org.create({ name: "Quota org" })).id;
  });

  it("only the instance admin sets quotas; the organization sees them with its usage", async () => {
    expect(await outcome(owner.caller.admin.setQuota({ orgId, satellites: 100, vcpu: null, largestSize: null }))).toBe("FORBIDDEN");
    await admin.caller.admin.setQuota({ orgId, satellites: 3, vcpu: 6, largestSize: "large" });
    expect(await owner.caller.org.get({ orgId })).toMatchObject({ quota: { satellites: 3, vcpu: 6, largestSize: "large" }, usage: { satellites: 0, vcpu: 0 } });
    expect(await admin.caller.admin.orgs()).toEqual(expect.arrayContaining([expect.objectContaining({ id: orgId, quota: { satellites: 3, vcpu: 6, largestSize: "large" } })]));
  });

  it("a size above the largest allowed is refused with the reason", async () => {
    await expect(owner.caller.satellite.create({ orgId, name: "huge", size: "xlarge" })).rejects.toThrow("Size xlarge is larger than this organization's quota allows (largest: large)");
  });

  it("concurrent creates cannot overshoot the satellite count or vCPU quota", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => outcome(owner.caller.satellite.create({ orgId, name: `q-${i}`, size: "small" }))));
    // 3 satellites and 6 vCPUs (2 each): both quotas allow exactly 3.
    expect(results.filter((r) => r === "OK")).toHaveLength(3);
    expect(results.filter((r) => r === "FORBIDDEN")).toHaveLength(5);
    expect(await db.satellite.count({ where: { orgId, liveName: { not: null } } })).toBe(3);
    expect((await owner.caller.org.get({ orgId })).usage).toEqual({ satellites: 3, vcpu: 6 });
  });

  it("a resize past the vCPU quota is refused; raising the quota allows it", async () => {
    const s = (await db.satellite.findFirstOrThrow({ where: { orgId, liveName: { not: null } } }))!;
    await db.satellite.update({ where: { id: s.id }, data: { state: "asleep" } });
    await expect(owner.caller.satellite.update({ id: s.id, size: "large" })).rejects.toThrow("This would use 8 vCPUs; this organization's quota is 6 (6 in use)");
    await admin.caller.admin.setQuota({ orgId, satellites: 3, vcpu: 8, largestSize: "large" });
    await expect(owner.caller.satellite.update({ id: s.id, size: "large" })).resolves.toMatchObject({ size: "large" });
  });

  // A quota bound one organization, and its owner could make another with none: a new
  // organization now starts with the operator's NEW_ORG_QUOTA_*, and ORGS_PER_USER caps how
  // many a person may be in.
  it("a new organization starts with the configured quota, and a person may make only so many", async () => {
    loadConfigOrExit({ ...process.env, SIGNUP_POLICY: "open", NEW_ORG_QUOTA_SATELLITES: "1", NEW_ORG_QUOTA_VCPU: "4", NEW_ORG_QUOTA_LARGEST_SIZE: "small", ORGS_PER_USER: "2" });
    try {
      const side = await owner.caller.org.create({ name: "Side org" });
      expect((await owner.caller.org.get({ orgId: side.id })).quota).toEqual({ satellites: 1, vcpu: 4, largestSize: "small" });
      await expect(owner.caller.satellite.create({ orgId: side.id, name: "big", size: "medium" })).rejects.toThrow(/larger than this organization's quota allows/);
      await owner.caller.satellite.create({ orgId: side.id, name: "one", size: "small" });
      expect(await outcome(owner.caller.satellite.create({ orgId: side.id, name: "two", size: "small" }))).toBe("FORBIDDEN");
      // The owner is in "Quota org" and "Side org": a third is refused, in words.
      await expect(owner.caller.org.create({ name: "Third org" })).rejects.toThrow(/already in 2 organizations/);
      // Creates at once all pass a count made before any of them: the cap holds all the same.
      const racer = await signUp("org-racer");
      await racer.caller.org.create({ name: "Racer's first" });
      const tries = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(racer.caller.org.create({ name: `Racer's ${i}` }))));
      expect(tries.filter((t) => t === "OK").length).toBeLessThanOrEqual(1);
      expect(tries.filter((t) => t !== "OK").every((t) => t === "FORBIDDEN")).toBe(true);
      expect(await db.member.count({ where: { userId: racer.id } })).toBeLessThanOrEqual(2);
      // The instance admin is not bound by either (it runs the instance).
      const own = await admin.caller.org.create({ name: "Admin's org" });
      expect((await admin.caller.org.get({ orgId: own.id })).quota).toEqual({ satellites: null, vcpu: null, largestSize: null });
    } finally {
      usePolicy("open");
    }
  });
});

describe("audit log (finding 10)", () => {
  let orgId: string;
  let owner: TestUser;
  let ownerFrom: Awaited<ReturnType<typeof createCaller>>;

  beforeAll(async () => {
    usePolicy("open");
    owner = await signUp("audited");
    orgId = (await owner.caller.org.create({ name: "Audited org" })).id;
    // As an HTTP call would arrive: the client address the web app worked out.
    ownerFrom = createCaller(await createContext({ headers: new Headers({ cookie: owner.cookie }), clientAddress: "203.0.113.7" }));
  });

  it("records satellite, token, member, invitation and settings changes with actor, address and before → after", async () => {
    const s = await ownerFrom.satellite.create({ orgId, name: "audited-sat", size: "small" });
    await ownerFrom.satellite.setLimits({ id: s.id, limits: { cpuPercent: 50 } });
    await db.satellite.update({ where: { id: s.id }, data: { state: "asleep" } });
    await ownerFrom.satellite.update({ id: s.id, size: "medium" });
    const t = await ownerFrom.token.create({ orgId, name: "ci" });
    await ownerFrom.token.revoke({ id: t.id });
    const m = await signUp("audited-member");
    const memberId = await addMember(db, orgId, m.id, "member");
    await ownerFrom.member.updateRole({ memberId, role: "admin" });
    await ownerFrom.member.invite({ orgId, email: `audit-${Date.now()}@example.test` });
    await ownerFrom.org.update({ orgId, name: "Audited org 2" });
    await db.satellite.update({ where: { id: s.id }, data: { state: "asleep" } });
    await ownerFrom.satellite.delete({ id: s.id });

    const { items } = await owner.caller.audit.list({ orgId });
    const byAction = Object.fromEntries(items.map((i) => [i.action, i]));
    expect(Object.keys(byAction).sort()).toEqual(
      ["invitation.create", "member.role", "org.create", "org.update", "satellite.create", "satellite.delete", "satellite.limits", "satellite.resize", "token.create", "token.revoke"].sort(),
    );
    expect(byAction["satellite.limits"]).toMatchObject({ actor: `user:${owner.id}`, actorLabel: "audited", ip: "203.0.113.7", targetId: s.id, detail: { cpuPercent: { from: 95, to: 50 } } });
    expect(byAction["satellite.resize"]!.detail).toMatchObject({ size: { from: "small", to: "medium" } });
    expect(byAction["member.role"]!.detail).toMatchObject({ role: { from: "member", to: "admin" } });
    expect(byAction["org.update"]!.detail).toEqual({ name: { from: "Audited org", to: "Audited org 2" } });
    expect(byAction["token.revoke"]).toMatchObject({ targetId: t.id, ip: "203.0.113.7" });

    // Filters and paging.
    expect((await owner.caller.audit.list({ orgId, action: "token" })).items.map((i) => i.action).sort()).toEqual(["token.create", "token.revoke"]);
    expect((await owner.caller.audit.list({ orgId, targetId: s.id, action: "satellite.limits" })).items).toHaveLength(1);
    const p1 = await owner.caller.audit.list({ orgId, limit: 4 });
    const p2 = await owner.caller.audit.list({ orgId, limit: 100, cursor: p1.nextCursor });
    expect([...p1.items, ...p2.items].map((i) => i.id)).toEqual(items.map((i) => i.id));
  });

  it("only admins and owners of the organization read it; other tenants get NOT_FOUND", async () => {
    const member = await signUp("plain-member");
    await addMember(db, orgId, member.id, "member");
    expect(await outcome(member.caller.audit.list({ orgId }))).toBe("FORBIDDEN");
    const outsider = await signUp("outsider");
    await outsider.caller.org.create({ name: "Elsewhere" });
    expect(await outcome(outsider.caller.audit.list({ orgId }))).toBe("NOT_FOUND");
    expect((await outsider.caller.audit.list({})).items.every((i) => i.action === "org.create")).toBe(true);
  });

  it("filters by every action that is recorded, and by each domain (certificates, schedules and cache resets were refused)", async () => {
    const recorded = ["certificate.issue", "certificate.revoke", "satellite.schedule", "satellite.cache.reset"] as const;
    for (const action of recorded) await recordAudit(db, { orgId, actor: `user:${owner.id}`, action, targetType: "satellite", targetId: `t-${action}`, ip: null });
    for (const action of ["certificate", ...recorded]) {
      const { items } = await owner.caller.audit.list({ orgId, action });
      const wanted = action.includes(".") ? [action] : recorded.filter((a) => a.startsWith(`${action}.`));
      // Each is found, and nothing else is.
      expect(new Set(items.map((i) => i.action)), action).toEqual(new Set(wanted));
    }
  });

  it("refuses bad filters naming the field", async () => {
    await expect(owner.caller.audit.list({ orgId, action: "nope" })).rejects.toThrow(/^action: action must be one of/);
    await expect(owner.caller.audit.list({ orgId, cursor: "x" })).rejects.toThrow(/cursor is not valid/);
  });

  it("retention deletes records older than the period, and only those", async () => {
    const old = await db.auditEvent.create({ data: { orgId, actor: "system", action: "org.update", targetType: "organization", targetId: orgId, at: new Date(Date.now() - 40 * 86_400_000) } });
    const before = await db.auditEvent.count({ where: { orgId } });
    expect(await pruneAudit(db, 30)).toBeGreaterThanOrEqual(1);
    expect(await db.auditEvent.findUnique({ where: { id: old.id } })).toBeNull();
    expect(await db.auditEvent.count({ where: { orgId } })).toBe(before - 1);
  });
});
