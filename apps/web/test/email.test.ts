// Mail through better-auth's own flows, delivered over real SMTP (an in-process smtp-server):
// verification on sign-up and password reset, following the links from the received mail.
// Also the invitation findings of issue 13: an account that merely claims an invited address
// cannot join (finding 1), and re-inviting neither cancels the first link nor duplicates
// (finding 8). And invitation mail is no open relay: anyone may sign up and invite, so only a
// verified inviter's invitations are mailed, and each organization sends a bounded number a day.
import { randomUUID } from "node:crypto";
import type { Db } from "@satellites/db";
import { type Mailbox, startMailbox } from "@satellites/testing/mailbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, publicOrigin } from "../src/server/auth.ts";
import { PEER_HEADER } from "../src/server/client-address.ts";
import { callerWith, outcome, satelliteIn, setup, signUp, teardown, type TestUser } from "./helpers.ts";

let db: Db;
let mailbox: Mailbox;
let owner: TestUser;
const MAILS_PER_DAY = 3;
const MAILS_PER_ADDRESS = 4;

beforeAll(async () => {
  mailbox = await startMailbox();
  // Before anything reads the configuration (it is parsed once per process).
  process.env.SMTP_URL = mailbox.url;
  process.env.SMTP_FROM = "Satellites <noreply@satellites.test>";
  process.env.INVITATION_MAILS_PER_DAY = String(MAILS_PER_DAY);
  process.env.INVITATION_MAILS_PER_ADDRESS_PER_DAY = String(MAILS_PER_ADDRESS);
  process.env.AUTH_MAILS_PER_ADDRESS_PER_HOUR = String(MAILS_PER_ADDRESS);
  ({ db } = setup());
  owner = await signUp("owner");
  await verify(owner);
});
afterAll(async () => {
  await teardown();
  await mailbox?.close();
});

/** Follows a link from a mail the way a browser would reach our server. */
async function follow(link: string, cookie?: string): Promise<Response> {
  expect(link.startsWith(publicOrigin())).toBe(true);
  return auth().handler(new Request(link, { headers: cookie ? { cookie } : {}, redirect: "manual" }));
}

let peer = 0;
/** Each request from a client address of its own: the per-address limits are not what is tested here. */
async function post(path: string, body: unknown, cookie?: string): Promise<Response> {
  const headers = { "content-type": "application/json", origin: publicOrigin(), [PEER_HEADER]: `198.18.${Math.floor(++peer / 250)}.${peer % 250}`, ...(cookie ? { cookie } : {}) };
  return auth().handler(new Request(`${publicOrigin()}/api/auth${path}`, { method: "POST", headers, body: JSON.stringify(body) }));
}

/** Resets `email`'s password through the mail, as its owner would. */
async function resetPassword(email: string, newPassword: string): Promise<void> {
  const before = mailbox.received.length;
  expect((await post("/request-password-reset", { email, redirectTo: "/reset-password" })).status).toBe(200);
  await expect.poll(() => mailbox.received.slice(before).find((m) => m.to.includes(email.toLowerCase()) && /reset your satellites password/i.test(m.subject))).toBeTruthy();
  const mail = mailbox.received.slice(before).find((m) => m.to.includes(email.toLowerCase()) && /reset your satellites password/i.test(m.subject))!;
  const landing = new URL((await follow(mail.links[0]!)).headers.get("location")!, publicOrigin());
  expect((await post("/reset-password", { newPassword, token: landing.searchParams.get("token") })).status).toBe(200);
}

const cookieOf = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");

const verified = async (email: string) => (await db.user.findUniqueOrThrow({ where: { email } })).emailVerified;

async function verify(u: TestUser): Promise<void> {
  const mail = await mailbox.waitFor(u.email, /verify your email/i);
  const res = await follow(mail.links[0]!);
  expect(res.status).toBe(302);
  expect(await verified(u.email)).toBe(true);
}

describe("verification mail", () => {
  it("sign-up sends a verification mail over SMTP; its link verifies the address", async () => {
    const u = await signUp("verifier");
    expect(await verified(u.email)).toBe(false);
    const mail = await mailbox.waitFor(u.email, /verify your email/i);
    expect(mail.from).toBe("noreply@satellites.test");
    expect(mail.links).toHaveLength(1);
    const res = await follow(mail.links[0]!);
    expect(res.status).toBe(302);
    expect(await verified(u.email)).toBe(true);
    // Nothing is kept in the outbox when SMTP is configured.
    expect(await db.mailOutbox.count({ where: { to: u.email } })).toBe(0);
  });

  // Login CSRF: an attacker who signs up keeps their own verification link and sends a victim's
  // browser to it (a plain navigation: no origin check). Had the link signed its holder in, the
  // victim would go on as the attacker — and an invitation the victim then accepts by its link
  // would make the attacker's account the member.
  it("a verification link signs no one in: opened signed in as someone else, or as no one, it verifies and leaves the session alone", async () => {
    const attacker = await signUp("csrf-attacker");
    const victim = await signUp("csrf-victim");
    const mail = await mailbox.waitFor(attacker.email, /verify your email/i);
    const res = await follow(mail.links[0]!, victim.cookie);
    expect(res.status).toBe(302);
    expect(await verified(attacker.email)).toBe(true);
    expect(res.headers.getSetCookie().filter((c) => /session_token=/.test(c))).toEqual([]);
    const unsigned = await signUp("csrf-attacker-2");
    const res2 = await follow((await mailbox.waitFor(unsigned.email, /verify your email/i)).links[0]!);
    expect(await verified(unsigned.email)).toBe(true);
    expect(res2.headers.getSetCookie().filter((c) => /session_token=/.test(c))).toEqual([]);
  });

  it("a tampered link verifies nothing", async () => {
    const u = await signUp("tamper");
    const mail = await mailbox.waitFor(u.email, /verify your email/i);
    const bad = mail.links[0]!.replace(/token=([^&]+)/, (_m, t: string) => `token=${t.slice(0, -3)}abc`);
    await follow(bad);
    expect(await verified(u.email)).toBe(false);
  });
});

describe("password reset by mail", () => {
  it("request → mail → link → new password; the old password and old sessions stop working", async () => {
    const u = await signUp("forgetful");
    expect((await post("/request-password-reset", { email: u.email, redirectTo: "/reset-password" })).status).toBe(200);
    const mail = await mailbox.waitFor(u.email, /reset your satellites password/i);
    const res = await follow(mail.links[0]!);
    expect(res.status).toBe(302);
    const landing = new URL(res.headers.get("location")!, publicOrigin());
    expect(landing.pathname).toBe("/reset-password");
    const token = landing.searchParams.get("token");
    expect(token).toBeTruthy();
    expect((await post("/reset-password", { newPassword: "a brand new passphrase", token })).status).toBe(200);
    // The token works once.
    expect((await post("/reset-password", { newPassword: "yet another passphrase", token })).status).toBe(400);

    expect((await post("/sign-in/email", { email: u.email, password: "correct horse battery" })).status).toBe(401);
    const signedIn = await post("/sign-in/email", { email: u.email, password: "a brand new passphrase" });
    expect(signedIn.status).toBe(200);
    expect(cookieOf(signedIn)).toContain("session_token");
    // The session opened with the old password is gone.
    expect(await auth().api.getSession({ headers: new Headers({ cookie: u.cookie }) })).toBeNull();
  });

  // Nothing proves an address at sign-up: someone could sign up with another's, make an
  // organization and a token that never expires, and wait. The owner of the address, unable to
  // sign up, resets the password and takes the account; the squatter's sessions ended, but the
  // token kept acting as the account, now the owner's.
  it("a reset of an account whose address was never verified ends the tokens made before it, and proves the address", async () => {
    const squatter = await signUp("squatted");
    expect(await verified(squatter.email)).toBe(false);
    const org = await squatter.caller.org.create({ name: "Squat" });
    const token = await squatter.caller.token.create({ orgId: org.id, name: "kept" });
    await expect((await callerWith({ authorization: `Bearer ${token.token}` })).org.get()).resolves.toMatchObject({ id: org.id });
    // A client certificate's bundle holds its private key: the squatter keeps that too.
    const sat = await satelliteIn(db, org.id, "asleep");
    const cert = await squatter.caller.satellite.issueCertificate({ id: sat.id, name: "kept" });

    await resetPassword(squatter.email, "the owner's own passphrase");
    await expect((await callerWith({ authorization: `Bearer ${token.token}` })).org.get()).rejects.toThrow("API token is invalid, expired or revoked");
    expect((await db.clientCertificate.findUniqueOrThrow({ where: { id: cert.certificate.id } })).revokedAt).not.toBeNull();
    expect(await verified(squatter.email)).toBe(true);

    // A verified account's reset (someone who forgot a password) leaves its CI's tokens alone.
    const forgetful = await signUp("forgot-with-tokens");
    await verify(forgetful);
    const org2 = await forgetful.caller.org.create({ name: "Has CI" });
    const ci = await forgetful.caller.token.create({ orgId: org2.id, name: "ci" });
    await resetPassword(forgetful.email, "a new passphrase of mine");
    await expect((await callerWith({ authorization: `Bearer ${ci.token}` })).org.get()).resolves.toMatchObject({ id: org2.id });
  });

  it("an unknown address gets the same answer and no mail", async () => {
    const before = mailbox.received.length;
    const res = await post("/request-password-reset", { email: "nobody-here@example.test", redirectTo: "/reset-password" });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(mailbox.received.slice(before).filter((m) => m.to.includes("nobody-here@example.test"))).toEqual([]);
  });
});

describe("invitations bound to proof (finding 1)", () => {
  it("an outsider who signs up with the invited, unverified address cannot see or accept the invitation", async () => {
    const org = await owner.caller.org.create({ name: "Takeover target" });
    const email = `newhire-${Date.now()}@corp.example`;
    const inv = await owner.caller.member.invite({ orgId: org.id, email, role: "admin" });
    expect(inv.status).toBe("created");

    const outsider = await signUp("outsider", email);
    expect(await verified(email)).toBe(false);
    expect(await outsider.caller.member.myInvitations()).toEqual({ verified: false, waiting: 1, items: [] });
    await expect(outsider.caller.member.accept({ invitationId: inv.id })).rejects.toThrow(/Verify your email address first/);
    expect(await outcome(outsider.caller.member.accept({ invitationId: inv.id }))).toBe("FORBIDDEN");
    expect(await outcome(outsider.caller.member.reject({ invitationId: inv.id }))).toBe("FORBIDDEN");
    expect(await db.member.count({ where: { organizationId: org.id, userId: outsider.id } })).toBe(0);
    expect(await outcome(outsider.caller.org.get({ orgId: org.id }))).toBe("NOT_FOUND");
    expect((await db.invitation.findUniqueOrThrow({ where: { id: inv.id } })).status).toBe("pending");
  });

  it("the invited person accepts once their address is verified by the mailed link", async () => {
    const org = await owner.caller.org.create({ name: "Verified joins" });
    const email = `joiner-${Date.now()}@corp.example`;
    const inv = await owner.caller.member.invite({ orgId: org.id, email, role: "admin" });
    const invitee = await signUp("joiner", email);
    await verify(invitee);
    expect((await invitee.caller.member.myInvitations()).items).toEqual([expect.objectContaining({ id: inv.id, orgName: "Verified joins", role: "admin" })]);
    await expect(invitee.caller.member.accept({ invitationId: inv.id })).resolves.toEqual({ orgId: org.id });
    expect((await owner.caller.member.list({ orgId: org.id })).find((m) => m.email === email)).toMatchObject({ role: "admin" });
    // Used up.
    expect(await outcome(invitee.caller.member.accept({ invitationId: inv.id }))).toBe("PRECONDITION_FAILED");
  });

  it("the secret link from the invitation mail lets its holder accept; a wrong secret does not", async () => {
    const org = await owner.caller.org.create({ name: "Link joins" });
    const email = `linked-${Date.now()}@corp.example`;
    const inv = await owner.caller.member.invite({ orgId: org.id, email, role: "member" });
    const mail = await mailbox.waitFor(email, /invited to join an organization/);
    const link = new URL(mail.links[0]!);
    expect(link.pathname).toBe(`/invitations/${inv.id}`);
    const token = link.searchParams.get("token")!;
    expect(inv.link).toBe(mail.links[0]);
    // Only the hash is stored.
    expect(JSON.stringify(await db.invitation.findUniqueOrThrow({ where: { id: inv.id } }))).not.toContain(token);

    const holder = await signUp("holder"); // another address, unverified: the link is the proof
    expect(await outcome(holder.caller.member.invitation({ invitationId: inv.id }))).toBe("NOT_FOUND");
    expect(await outcome(holder.caller.member.accept({ invitationId: inv.id, token: token.slice(0, -2) + "xx" }))).toBe("NOT_FOUND");
    // The link works for any account: the page names the one it would add.
    await expect(holder.caller.member.invitation({ invitationId: inv.id, token })).resolves.toMatchObject({ forYou: true, status: "pending", email, signedInAs: holder.email });
    await expect(holder.caller.member.accept({ invitationId: inv.id, token })).resolves.toEqual({ orgId: org.id });
    expect(await db.member.count({ where: { organizationId: org.id, userId: holder.id } })).toBe(1);
  });
});

describe("re-inviting (finding 8)", () => {
  it("inviting again keeps the first invitation and its link, and tells the inviter", async () => {
    const org = await owner.caller.org.create({ name: "Reinvite org" });
    const email = `twice-${Date.now()}@corp.example`;
    const first = await owner.caller.member.invite({ orgId: org.id, email });
    const second = await owner.caller.member.invite({ orgId: org.id, email: email.toUpperCase() });
    expect(second).toMatchObject({ status: "already-invited", id: first.id, link: null });
    expect(await owner.caller.member.invitations({ orgId: org.id })).toEqual([expect.objectContaining({ id: first.id })]);
    const token = new URL(first.link!).searchParams.get("token")!;
    const invitee = await signUp("twice");
    await expect(invitee.caller.member.accept({ invitationId: first.id, token })).resolves.toEqual({ orgId: org.id });
  });

  it("10 concurrent invites of one address leave exactly one pending invitation", async () => {
    const org = await owner.caller.org.create({ name: "Concurrent org" });
    const email = `race-${Date.now()}@corp.example`;
    const results = await Promise.all(Array.from({ length: 10 }, () => owner.caller.member.invite({ orgId: org.id, email })));
    expect(results.filter((r) => r.status === "created")).toHaveLength(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await db.invitation.count({ where: { organizationId: org.id, email, status: "pending" } })).toBe(1);
  });

  it("the database refuses a second pending invitation even past the application", async () => {
    const org = await owner.caller.org.create({ name: "Constraint org" });
    const email = `direct-${Date.now()}@corp.example`;
    const first = await owner.caller.member.invite({ orgId: org.id, email });
    const row = await db.invitation.findUniqueOrThrow({ where: { id: first.id } });
    await expect(db.invitation.create({ data: { ...row, id: `${row.id}-dup`, email: email.toUpperCase(), tokenHash: null } })).rejects.toThrow(/Unique constraint/i);
  });
});

describe("invitation mail is no open relay", () => {
  const invitee = (label: string) => `${label}-${randomUUID().slice(0, 8)}@elsewhere.example`;
  const mailsTo = (to: string) => mailbox.received.filter((m) => m.to.includes(to)).length;

  it("an inviter whose address is unverified gets the link to pass on; nothing is mailed until they verify", async () => {
    const sender = await signUp("unverified-inviter");
    const org = await sender.caller.org.create({ name: "Buy cheap watches" });
    const first = invitee("first");
    const inv = await sender.caller.member.invite({ orgId: org.id, email: first });
    expect(inv).toMatchObject({ status: "created", mailed: false, notMailed: expect.stringMatching(/verify your email address/) });
    expect(inv.link).toMatch(/\/invitations\/.+\?token=/);
    await verify(sender);
    const second = invitee("second");
    await expect(sender.caller.member.invite({ orgId: org.id, email: second })).resolves.toMatchObject({ status: "created", mailed: true, notMailed: null });
    await mailbox.waitFor(second, /invited to join an organization/);
    expect(mailsTo(first)).toBe(0);
    // The link shown to the unverified inviter works all the same.
    const joiner = await signUp("passed-on");
    await expect(joiner.caller.member.accept({ invitationId: inv.id, token: new URL(inv.link!).searchParams.get("token") })).resolves.toEqual({ orgId: org.id });
  });

  it(`an organization mails at most INVITATION_MAILS_PER_DAY (${MAILS_PER_DAY}) invitations; past it they are made and not mailed, other organizations unaffected`, async () => {
    const org = await owner.caller.org.create({ name: "Mass inviter" });
    const addresses = Array.from({ length: MAILS_PER_DAY + 2 }, (_, i) => invitee(`bulk${i}`));
    const results = [];
    for (const email of addresses) results.push(await owner.caller.member.invite({ orgId: org.id, email }));
    expect(results.map((r) => r.mailed)).toEqual([...Array(MAILS_PER_DAY).fill(true), false, false]);
    expect(results.at(-1)).toMatchObject({ status: "created", notMailed: expect.stringMatching(new RegExp(`${MAILS_PER_DAY} invitation mails a day`)) });
    expect(results.every((r) => r.link)).toBe(true);
    for (const email of addresses.slice(0, MAILS_PER_DAY)) await mailbox.waitFor(email, /invited to join an organization/);
    expect(addresses.slice(MAILS_PER_DAY).map(mailsTo)).toEqual([0, 0]);
    const other = await owner.caller.org.create({ name: "Another org" });
    await expect(owner.caller.member.invite({ orgId: other.id, email: invitee("other") })).resolves.toMatchObject({ mailed: true });
  });
});

// One ordinary account could have the instance mail a victim without end: invite, cancel and
// invite again (each organization's budget is its own, and organizations are free), and anyone
// could add password resets from many client addresses.
describe("no address is mailed without end", () => {
  it(`an address gets at most INVITATION_MAILS_PER_ADDRESS_PER_DAY (${MAILS_PER_ADDRESS}) invitation mails, from all organizations`, async () => {
    const victim = `victim-${randomUUID().slice(0, 8)}@elsewhere.example`;
    const mails = () => mailbox.received.filter((m) => m.to.includes(victim)).length;
    const results = [];
    for (let round = 0; round < 3; round++) {
      const org = await owner.caller.org.create({ name: `Loop ${round}` });
      for (let i = 0; i < 2; i++) {
        const inv = await owner.caller.member.invite({ orgId: org.id, email: victim });
        results.push(inv);
        await owner.caller.member.cancelInvitation({ invitationId: inv.id });
      }
    }
    expect(results.map((r) => r.mailed)).toEqual([...Array(MAILS_PER_ADDRESS).fill(true), false, false]);
    expect(results.at(-1)).toMatchObject({ notMailed: expect.stringMatching(new RegExp(`${victim} has had the ${MAILS_PER_ADDRESS} invitation mails a day`)) });
    await expect.poll(mails).toBe(MAILS_PER_ADDRESS);
    await new Promise((r) => setTimeout(r, 300));
    expect(mails()).toBe(MAILS_PER_ADDRESS);
  });

  it(`verification and reset mails: at most AUTH_MAILS_PER_ADDRESS_PER_HOUR (${MAILS_PER_ADDRESS}) to an address, the answer the same; its invitations still go`, async () => {
    const u = await signUp("reset-flooded");
    await mailbox.waitFor(u.email, /verify your email/i);
    const mails = () => mailbox.received.filter((m) => m.to.includes(u.email)).length;
    for (let i = 0; i < MAILS_PER_ADDRESS; i++) {
      expect((await post("/request-password-reset", { email: u.email, redirectTo: "/reset-password" })).status).toBe(200);
    }
    await expect.poll(mails).toBe(MAILS_PER_ADDRESS);
    await new Promise((r) => setTimeout(r, 300));
    expect(mails()).toBe(MAILS_PER_ADDRESS);
    // An inviter learns nothing of that account mail: the address's invitations are their own budget.
    const org = await owner.caller.org.create({ name: "Still invites" });
    await expect(owner.caller.member.invite({ orgId: org.id, email: u.email })).resolves.toMatchObject({ mailed: true });
  });

  // The answer waited for the mail server for a registered address and not for an unknown one,
  // which told anyone timing it which addresses have accounts.
  it("a password reset is answered as fast for a registered address as for an unknown one", async () => {
    const u = await signUp("timed-reset");
    await mailbox.waitFor(u.email, /verify your email/i);
    mailbox.answerDelayMs = 1500;
    try {
      const timed = async (email: string) => {
        const start = performance.now();
        const res = await post("/request-password-reset", { email, redirectTo: "/reset-password" });
        expect(res.status).toBe(200);
        return performance.now() - start;
      };
      const unknown = await timed(`nobody-${randomUUID().slice(0, 8)}@example.test`);
      const registered = await timed(u.email);
      expect(registered).toBeLessThan(unknown + 750);
      await mailbox.waitFor(u.email, /reset/i);
    } finally {
      mailbox.answerDelayMs = 0;
    }
  });
});
