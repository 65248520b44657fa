// Accounts in a real Chromium with mail over real SMTP (the setup's smtp-server): sign up →
// verification mail → link → verified; password reset by mail; an invitation accepted by the
// invited, verified address; an outsider who signed up with an invited address but never
// verified it cannot accept (issue 13, finding 1).
import pg from "pg";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launch, type Watched, watchedPage } from "./browser.ts";
import { waitForMail } from "./mail.ts";

const webUrl = inject("webUrl");
const mailDir = inject("mailDir");
const databaseUrl = inject("databaseUrl");
const run = Date.now().toString(36);
const owner = { name: "Vera Verified", email: `vera-${run}@example.test`, password: "vera password 1", org: `Vera org ${run}` };
let browser: Browser;
let db: pg.Client;

async function verified(email: string): Promise<boolean> {
  const r = await db.query<{ emailVerified: boolean }>('SELECT "emailVerified" FROM "user" WHERE email = $1', [email]);
  return r.rows[0]?.emailVerified ?? false;
}

async function signUp(w: Watched, name: string, email: string, password: string, org?: string): Promise<void> {
  await w.page.getByLabel("Your name").fill(name);
  await w.page.getByLabel("Email").fill(email);
  await w.page.getByLabel("Password").fill(password);
  if (org) await w.page.getByLabel("Organization name").fill(org);
  await w.page.getByRole("button", { name: "Create account" }).click();
}

beforeAll(async () => {
  browser = await launch();
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await browser?.close();
  await db?.end();
});

describe.sequential("accounts by mail", () => {
  let o: Watched;

  it("sign up → verification mail over SMTP → its link → verified", async () => {
    o = await watchedPage(browser, webUrl, "accounts-owner");
    await o.page.goto("/sign-up");
    await signUp(o, owner.name, owner.email, owner.password, owner.org);
    await o.page.waitForURL("**/satellites");
    expect(await verified(owner.email)).toBe(false);
    const mail = await waitForMail(mailDir, owner.email, /verify your email/i);
    expect(mail.from).toBe("noreply@satellites.test");
    await o.page.goto(mail.links[0]!);
    await o.page.waitForURL((u) => !u.pathname.startsWith("/api/"));
    expect(await verified(owner.email)).toBe(true);
    await o.shot("verified");
    expect(o.problems).toEqual([]);
  });

  it("password reset by mail: the link leads to a new password that signs in", async () => {
    const w = await watchedPage(browser, webUrl, "accounts-reset");
    await w.page.goto("/sign-in");
    await w.page.getByRole("link", { name: "Forgot your password?" }).click();
    await w.page.waitForURL("**/forgot-password");
    // Hydrated before submitting: a form submitted before React takes over reloads the page.
    await w.page.waitForLoadState("networkidle");
    await w.page.getByLabel("Email").fill(owner.email);
    await w.page.getByRole("button", { name: "Send reset link" }).click();
    const answer = w.page.locator('main [role="status"], main [role="alert"]').first();
    await answer.waitFor();
    await w.shot("reset-requested");
    expect(await answer.textContent()).toContain("a reset link is on its way");
    const mail = await waitForMail(mailDir, owner.email, /reset your satellites password/i);
    await w.page.goto(mail.links[0]!);
    await w.page.waitForURL(/\/reset-password\?token=/);
    await w.page.waitForLoadState("networkidle");
    // A pasted password longer than allowed is kept whole and refused in words, never cut short
    // (a password manager would keep the whole one, and it would not sign in).
    const long = "p".repeat(200);
    await w.page.getByLabel("New password").fill(long);
    await expect(w.page.getByLabel("New password").inputValue()).resolves.toBe(long);
    await w.page.getByRole("button", { name: "Set new password" }).click();
    await w.page.getByText("Password must be at most 128 characters").waitFor();
    expect(w.page.url()).toMatch(/\/reset-password\?token=/);
    await w.page.getByLabel("New password").fill("vera new password 2");
    await w.page.getByRole("button", { name: "Set new password" }).click();
    await w.page.waitForURL(/\/sign-in/);
    await w.page.getByText("Your password was changed: sign in with the new one.").waitFor();
    // The old password no longer works; the new one does.
    w.expect(401, /\/api\/auth\/sign-in\/email/);
    await w.page.getByLabel("Email").fill(owner.email);
    await w.page.getByLabel("Password").fill(owner.password);
    await w.page.getByRole("button", { name: "Sign in" }).click();
    await w.page.getByText("Wrong email or password").waitFor();
    await w.page.getByLabel("Password").fill("vera new password 2");
    await w.page.getByRole("button", { name: "Sign in" }).click();
    await w.page.waitForURL("**/satellites");
    expect(w.problems).toEqual([]);
    owner.password = "vera new password 2";
    // The reset ended the sessions opened with the old password: sign the owner's tab in again.
    await o.page.goto("/sign-in");
    await o.page.getByLabel("Email").fill(owner.email);
    await o.page.getByLabel("Password").fill(owner.password);
    await o.page.getByRole("button", { name: "Sign in" }).click();
    await o.page.waitForURL("**/satellites");
  });

  it("an invitation is accepted by the invited, verified address; an outsider with another invited address, unverified, cannot accept", async () => {
    const invitedEmail = `nina-${run}@example.test`;
    const targetEmail = `newhire-${run}@example.test`;
    for (const email of [invitedEmail, targetEmail]) {
      await o.page.goto("/members");
      await o.page.getByLabel("Email", { exact: true }).fill(email);
      await o.page.getByRole("button", { name: "Invite", exact: true }).click();
      await o.page.locator("code").filter({ hasText: "/invitations/" }).waitFor();
    }
    const invId = async (email: string) => (await db.query<{ id: string }>("SELECT id FROM invitation WHERE email = $1 AND status = 'pending'", [email])).rows[0]!.id;

    // The invited person: signs up, verifies from the mail, opens the invitation (no secret in
    // the URL: the verified address is the proof) and joins.
    const nina = await watchedPage(browser, webUrl, "accounts-invitee");
    const ninaInv = await invId(invitedEmail);
    await nina.page.goto(`/invitations/${ninaInv}`);
    await nina.page.waitForURL(/\/sign-up\?next=/);
    await signUp(nina, "Nina Invitee", invitedEmail, "nina password 1");
    await nina.page.getByRole("heading", { name: `Join ${owner.org}` }).waitFor();
    await nina.page.getByText("Verify", { exact: false }).first().waitFor();
    expect(await nina.page.getByRole("button", { name: "Accept and join" }).count()).toBe(0);
    // A lost mail can be sent again; its link brings her back to the invitation.
    await nina.page.getByRole("button", { name: "Send the verification mail again" }).click();
    await nina.page.getByRole("button", { name: "Verification mail sent" }).waitFor();
    const mail = await waitForMail(mailDir, invitedEmail, /verify your email/i);
    await nina.page.goto(mail.links[0]!);
    await nina.page.waitForURL((u) => !u.pathname.startsWith("/api/"));
    await nina.page.goto(`/invitations/${ninaInv}`);
    await nina.page.getByRole("button", { name: "Accept and join" }).click();
    await nina.page.waitForURL("**/satellites");
    const joined = await db.query('SELECT 1 FROM member m JOIN "user" u ON u.id = m."userId" WHERE u.email = $1', [invitedEmail]);
    expect(joined.rowCount).toBe(1);
    expect(nina.problems).toEqual([]);

    // The outsider: signs up with the other invited address, never verifies it.
    const eve = await watchedPage(browser, webUrl, "accounts-outsider");
    const eveInv = await invId(targetEmail);
    await eve.page.goto(`/invitations/${eveInv}`);
    await eve.page.waitForURL(/\/sign-up\?next=/);
    await signUp(eve, "Eve Outsider", targetEmail, "eve password 1");
    await eve.page.getByRole("heading", { name: `Join ${owner.org}` }).waitFor();
    await eve.page.getByText(`Verify ${targetEmail} first`, { exact: false }).waitFor();
    expect(await eve.page.getByRole("button", { name: "Accept and join" }).count()).toBe(0);
    await eve.shot("outsider-refused");
    // Nor does the onboarding page offer it.
    await eve.page.goto("/onboarding");
    await eve.page.getByText("An invitation waits for your address").waitFor();
    expect(await eve.page.getByRole("button", { name: "Join" }).count()).toBe(0);
    const eveMember = await db.query('SELECT 1 FROM member m JOIN "user" u ON u.id = m."userId" WHERE u.email = $1', [targetEmail]);
    expect(eveMember.rowCount).toBe(0);
    expect(eve.problems).toEqual([]);
  });
});
