// Every procedure × every kind of caller × own/other organization. "allowed" means the call
// passed authorization: it succeeded or was refused for a reason that is not about who is
// calling (e.g. a resize refused in that state, the only owner leaving). Never a 500.
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, type Caller, callerWith, newOrg, outcome, satelliteIn, setup, signUp, teardown, tokenFor, type TestUser } from "./helpers.ts";

type Who = "owner" | "admin" | "member" | "adminToken" | "memberToken" | "outsider" | "outsiderToken" | "anonymous";
const WHO: Who[] = ["owner", "admin", "member", "adminToken", "memberToken", "outsider", "outsiderToken", "anonymous"];
type Expect = "allowed" | "FORBIDDEN" | "NOT_FOUND" | "UNAUTHORIZED";

interface World {
  orgId: string;
  callers: Record<Who, Caller>;
  users: { owner: TestUser; admin: TestUser; member: TestUser; outsider: TestUser };
}

let db: Db;
let users: World["users"];

/** A fresh organization A (owner, admin, member, two tokens) and B (outsider and its token). */
async function world(): Promise<World> {
  const orgId = await newOrg(db, "a");
  const other = await newOrg(db, "b");
  await addMember(db, orgId, users.owner.id, "owner");
  await addMember(db, orgId, users.admin.id, "admin");
  await addMember(db, orgId, users.member.id, "member");
  await addMember(db, other, users.outsider.id, "owner");
  const [adminToken, memberToken, outsiderToken] = await Promise.all([tokenFor(db, orgId, users.admin.id), tokenFor(db, orgId, users.member.id), tokenFor(db, other, users.outsider.id)]);
  return {
    orgId,
    users,
    callers: {
      owner: users.owner.caller,
      admin: users.admin.caller,
      member: users.member.caller,
      adminToken: adminToken.caller,
      memberToken: memberToken.caller,
      outsider: users.outsider.caller,
      outsiderToken: outsiderToken.caller,
      anonymous: await callerWith(),
    },
  };
}

// Expectations for a call on organization A's resources.
const ALL_MEMBERS: Record<Who, Expect> = { owner: "allowed", admin: "allowed", member: "allowed", adminToken: "allowed", memberToken: "allowed", outsider: "NOT_FOUND", outsiderToken: "NOT_FOUND", anonymous: "UNAUTHORIZED" };
const ADMINS: Record<Who, Expect> = { ...ALL_MEMBERS, member: "FORBIDDEN", memberToken: "FORBIDDEN" };
const USERS: Record<Who, Expect> = { ...ALL_MEMBERS, adminToken: "FORBIDDEN", memberToken: "FORBIDDEN", outsiderToken: "FORBIDDEN" };
const ADMIN_USERS: Record<Who, Expect> = { ...USERS, member: "FORBIDDEN" };
const OWNER_USER: Record<Who, Expect> = { ...ADMIN_USERS, admin: "FORBIDDEN" };
const ANY_USER: Record<Who, Expect> = { ...USERS, outsider: "allowed" };
const ANY_AUTHED: Record<Who, Expect> = { ...ALL_MEMBERS, outsider: "allowed", outsiderToken: "allowed" };
const NOBODY_BUT_ADDRESSEE: Record<Who, Expect> = { ...USERS, owner: "NOT_FOUND", admin: "NOT_FOUND", member: "NOT_FOUND" };

interface Case {
  name: string;
  expect: Record<Who, Expect>;
  /** Calls the procedure on a resource of organization `orgId`. */
  run: (c: Caller, orgId: string, w: World) => Promise<unknown>;
}

const sat = (orgId: string, state: Parameters<typeof satelliteIn>[2] = "asleep") => satelliteIn(db, orgId, state);

const CASES: Case[] = [
  { name: "satellite.create", expect: ADMINS, run: (c, orgId) => c.satellite.create({ orgId, name: `s-${randomUUID().slice(0, 8)}`, size: "small" }) },
  { name: "satellite.list", expect: ALL_MEMBERS, run: (c, orgId) => c.satellite.list({ orgId }) },
  { name: "satellite.get", expect: ALL_MEMBERS, run: async (c, orgId) => c.satellite.get({ id: (await sat(orgId)).id }) },
  { name: "satellite.update", expect: ADMINS, run: async (c, orgId) => c.satellite.update({ id: (await sat(orgId)).id, size: "large" }) },
  { name: "satellite.delete", expect: ADMINS, run: async (c, orgId) => c.satellite.delete({ id: (await sat(orgId)).id }) },
  { name: "satellite.wake", expect: ALL_MEMBERS, run: async (c, orgId) => c.satellite.wake({ id: (await sat(orgId)).id }) },
  { name: "satellite.sleep", expect: ALL_MEMBERS, run: async (c, orgId) => c.satellite.sleep({ id: (await sat(orgId, "awake")).id }) },
  { name: "satellite.setLimits", expect: ADMINS, run: async (c, orgId) => c.satellite.setLimits({ id: (await sat(orgId)).id, limits: { cpuPercent: 50 } }) },
  { name: "satellite.sizes", expect: ANY_AUTHED, run: (c) => c.satellite.sizes() },
  {
    name: "satellite.watch",
    expect: ALL_MEMBERS,
    run: async (c, orgId) => {
      const s = await sat(orgId);
      const it = (await c.satellite.watch({ id: s.id }))[Symbol.asyncIterator]();
      try {
        const first = await it.next();
        expect(first.value).toMatchObject({ type: "snapshot", id: s.id, state: "asleep" });
      } finally {
        await it.return?.();
      }
    },
  },
  { name: "history.list", expect: ALL_MEMBERS, run: (c, orgId) => c.history.list({ orgId }) },
  { name: "history.list (satellite)", expect: ALL_MEMBERS, run: async (c, orgId) => c.history.list({ satelliteId: (await sat(orgId)).id }) },
  { name: "history.stats", expect: ALL_MEMBERS, run: (c, orgId) => c.history.stats({ orgId }) },
  { name: "history.stats (satellite)", expect: ALL_MEMBERS, run: async (c, orgId) => c.history.stats({ satelliteId: (await sat(orgId)).id }) },
  { name: "history.timeline", expect: ALL_MEMBERS, run: async (c, orgId) => c.history.timeline({ satelliteId: (await sat(orgId)).id }) },
  { name: "token.list", expect: USERS, run: (c, orgId) => c.token.list({ orgId }) },
  { name: "token.create", expect: USERS, run: (c, orgId) => c.token.create({ orgId, name: "ci" }) },
  { name: "token.revoke (someone else's)", expect: ADMIN_USERS, run: async (c, orgId, w) => c.token.revoke({ id: (await tokenFor(db, orgId, w.users.owner.id)).id }) },
  { name: "org.list", expect: ANY_USER, run: (c) => c.org.list() },
  { name: "org.get", expect: ALL_MEMBERS, run: (c, orgId) => c.org.get({ orgId }) },
  { name: "org.create", expect: ANY_USER, run: (c) => c.org.create({ name: "New org" }) },
  { name: "org.update", expect: ADMIN_USERS, run: (c, orgId) => c.org.update({ orgId, name: "Renamed" }) },
  { name: "org.delete", expect: OWNER_USER, run: (c, orgId) => c.org.delete({ orgId }) },
  { name: "org.setActive", expect: USERS, run: (c, orgId) => c.org.setActive({ orgId }) },
  { name: "member.list", expect: ALL_MEMBERS, run: (c, orgId) => c.member.list({ orgId }) },
  { name: "member.invitations", expect: ADMIN_USERS, run: (c, orgId) => c.member.invitations({ orgId }) },
  { name: "member.invite", expect: ADMIN_USERS, run: (c, orgId) => c.member.invite({ orgId, email: `new-${randomUUID().slice(0, 6)}@example.test`, role: "member" }) },
  {
    name: "member.cancelInvitation",
    expect: ADMIN_USERS,
    run: async (c, orgId, w) => {
      const inv = await db.invitation.create({ data: { id: randomUUID(), organizationId: orgId, email: `x-${randomUUID().slice(0, 6)}@example.test`, role: "member", status: "pending", expiresAt: new Date(Date.now() + 86_400_000), inviterId: w.users.owner.id } });
      return c.member.cancelInvitation({ invitationId: inv.id });
    },
  },
  {
    name: "member.updateRole",
    expect: ADMIN_USERS,
    run: async (c, orgId) => {
      const u = await signUpCached();
      const memberId = await addMember(db, orgId, u.id, "member");
      return c.member.updateRole({ memberId, role: "admin" });
    },
  },
  {
    name: "member.remove",
    expect: ADMIN_USERS,
    run: async (c, orgId) => {
      const u = await signUpCached();
      const memberId = await addMember(db, orgId, u.id, "member");
      return c.member.remove({ memberId });
    },
  },
  { name: "member.leave", expect: USERS, run: (c, orgId) => c.member.leave({ orgId }) },
  { name: "member.myInvitations", expect: ANY_USER, run: (c) => c.member.myInvitations() },
  {
    name: "member.invitation (someone else's)",
    expect: USERS,
    run: async (c, orgId, w) => {
      const inv = await db.invitation.create({ data: { id: randomUUID(), organizationId: orgId, email: `y-${randomUUID().slice(0, 6)}@example.test`, role: "member", status: "pending", expiresAt: new Date(Date.now() + 86_400_000), inviterId: w.users.owner.id } });
      return c.member.invitation({ invitationId: inv.id });
    },
  },
  ...(["accept", "reject"] as const).map(
    (op): Case => ({
      name: `member.${op} (someone else's)`,
      expect: NOBODY_BUT_ADDRESSEE,
      run: async (c, orgId, w) => {
        const inv = await db.invitation.create({ data: { id: randomUUID(), organizationId: orgId, email: `z-${randomUUID().slice(0, 6)}@example.test`, role: "member", status: "pending", expiresAt: new Date(Date.now() + 86_400_000), inviterId: w.users.owner.id } });
        return c.member[op]({ invitationId: inv.id });
      },
    }),
  ),
];

// Users for updateRole/remove: signing up costs a password hash, so keep a small pool.
const pool: TestUser[] = [];
async function signUpCached(): Promise<TestUser> {
  return pool.pop() ?? signUp("extra");
}

beforeAll(async () => {
  ({ db } = setup());
  const [owner, admin, member, outsider] = await Promise.all([signUp("owner"), signUp("admin"), signUp("member"), signUp("outsider")]);
  users = { owner, admin, member, outsider };
});
afterAll(teardown);

function judge(result: string, expected: Expect): boolean {
  if (result === "INTERNAL_SERVER_ERROR") return false;
  if (expected === "allowed") return !["UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND"].includes(result);
  return result === expected;
}

describe.each(CASES)("$name", (c) => {
  it.each(WHO)("on its own organization's resources: %s", async (who) => {
    const w = await world();
    const result = await outcome(c.run(w.callers[who], w.orgId, w));
    expect(judge(result, c.expect[who]), `${who} got ${result}, expected ${c.expect[who]}`).toBe(true);
  });

  it("on another organization's resources: NOT_FOUND for every member and token of this one", async () => {
    if (c.expect === ANY_USER || c.expect === ANY_AUTHED) return; // not about an organization
    const w = await world();
    const foreign = await newOrg(db, "foreign");
    for (const who of ["owner", "admin", "member", "adminToken", "memberToken"] as const) {
      const result = await outcome(c.run(w.callers[who], foreign, w));
      // Tokens are refused user-only procedures before any organization is looked at.
      const tokenRefused = who.endsWith("Token") && c.expect.adminToken === "FORBIDDEN";
      const expected = tokenRefused ? "FORBIDDEN" : c.expect === NOBODY_BUT_ADDRESSEE ? c.expect[who] : "NOT_FOUND";
      expect(result, `${who} on another org`).toBe(expected);
    }
  });
});
