// Every page of the dashboard in a real Chromium: no console errors or failed requests, no
// serious accessibility violations (axe-core), usable by keyboard; plus the invitation flow
// (invite → sign up from the link → accept) and sign-in mistakes.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { axeViolations } from "./a11y.ts";
import { launch, type Watched, watchedPage } from "./browser.ts";

const webUrl = inject("webUrl");
let browser: Browser;
let owner: Watched;
let invitee: Watched;
const run = Date.now().toString(36);
const ownerUser = { name: "Olga Owner", email: `olga-${run}@example.test`, password: "owner password 1", org: "Olga's org" };
const inviteeEmail = `ivan-${run}@example.test`;
let satelliteId = "";
let inviteLink = "";

async function checkPage(w: Watched, path: string, heading: string, shot: string): Promise<void> {
  await w.page.goto(path);
  await w.page.getByRole("heading", { level: 1, name: heading }).waitFor();
  // Let client queries settle so what axe sees is the page as a person sees it.
  await w.page.waitForLoadState("networkidle").catch(() => {});
  expect(await axeViolations(w.page), `${path} accessibility`).toEqual([]);
  await w.shot(shot);
  expect(w.problems).toEqual([]);
}

beforeAll(async () => {
  browser = await launch();
  owner = await watchedPage(browser, webUrl, "pages-owner");
  invitee = await watchedPage(browser, webUrl, "pages-invitee");
});
afterAll(async () => {
  await browser?.close();
});

describe.sequential("dashboard pages", () => {
  it("sign-up and sign-in pages are accessible", async () => {
    await owner.page.goto("/sign-in");
    expect(await axeViolations(owner.page)).toEqual([]);
    await owner.page.goto("/sign-up");
    expect(await axeViolations(owner.page)).toEqual([]);
    await owner.page.getByLabel("Your name").fill(ownerUser.name);
    await owner.page.getByLabel("Email").fill(ownerUser.email);
    await owner.page.getByLabel("Password").fill(ownerUser.password);
    await owner.page.getByLabel("Organization name").fill(ownerUser.org);
    await owner.page.getByRole("button", { name: "Create account" }).click();
    await owner.page.waitForURL("**/satellites");
    expect(owner.problems).toEqual([]);
  });

  it("is usable by keyboard: skip link, create dialog, Escape", async () => {
    const p = owner.page;
    // A fresh load: the first Tab of a page reaches the skip link.
    await p.goto("/satellites");
    await p.getByRole("heading", { level: 1, name: "Satellites", exact: true }).waitFor();
    await p.keyboard.press("Tab");
    await expect(p.evaluate(() => document.activeElement?.textContent)).resolves.toBe("Skip to content");
    await p.getByRole("button", { name: "Create satellite" }).focus();
    await p.keyboard.press("Enter");
    const dialog = p.getByRole("dialog", { name: "Create satellite" });
    await dialog.waitFor();
    await expect(p.evaluate(() => document.activeElement?.getAttribute("placeholder"))).resolves.toBe("main");
    expect(await axeViolations(p)).toEqual([]);
    await p.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    // And create one with the keyboard only.
    await p.getByRole("button", { name: "Create satellite" }).focus();
    await p.keyboard.press("Enter");
    await p.keyboard.type("pages-sat");
    await p.keyboard.press("Enter");
    await p.waitForURL(/\/satellites\/[0-9a-f-]{36}$/);
    satelliteId = p.url().split("/").pop()!;
    expect(owner.problems).toEqual([]);
  });

  it("satellite detail", async () => checkPage(owner, `/satellites/${satelliteId}`, "pages-sat", "detail"));
  it("satellites list", async () => {
    await checkPage(owner, "/satellites", "Satellites", "list");
    await owner.page.locator('tr[data-satellite="pages-sat"]').waitFor();
  });
  it("history", async () => checkPage(owner, "/history", "History", "history"));
  it("tokens", async () => checkPage(owner, "/tokens", "API tokens", "tokens"));
  it("settings", async () => checkPage(owner, "/settings", "Settings", "settings"));
  it("audit log", async () => {
    await checkPage(owner, "/audit", "Audit log", "audit");
    // The organization's creation is the first record.
    await owner.page.locator('tr[data-action="org.create"]').waitFor();
  });

  it("members: invite someone and get a link", async () => {
    await checkPage(owner, "/members", "Members", "members");
    await owner.page.getByLabel("Email", { exact: true }).fill(inviteeEmail);
    await owner.page.getByRole("button", { name: "Invite", exact: true }).click();
    const link = owner.page.locator("code").filter({ hasText: "/invitations/" });
    await link.waitFor();
    inviteLink = (await link.textContent())!.trim();
    await owner.page.getByText(`${inviteeEmail} as member`).waitFor();
    await owner.shot("invited");
    expect(owner.problems).toEqual([]);
  });

  it("the invitee signs up from the link, accepts, and sees the organization as a member", async () => {
    const p = invitee.page;
    // The link's secret (?token=) is the invitee's proof; it rides through sign-up.
    const link = new URL(inviteLink);
    await p.goto(link.pathname + link.search);
    await p.waitForURL(/\/sign-up\?next=/);
    // Arriving through an invitation, there is no organization to name.
    await expect(p.getByLabel("Organization name").count()).resolves.toBe(0);
    await p.getByLabel("Your name").fill("Ivan Invitee");
    await p.getByLabel("Email").fill(inviteeEmail);
    await p.getByLabel("Password").fill("invitee password");
    await p.getByRole("button", { name: "Create account" }).click();
    await p.getByRole("heading", { name: `Join ${ownerUser.org}` }).waitFor();
    expect(await axeViolations(p)).toEqual([]);
    await invitee.shot("invitation");
    await p.getByRole("button", { name: "Accept and join" }).click();
    await p.waitForURL("**/satellites");
    await p.locator('tr[data-satellite="pages-sat"]').waitFor();
    await expect(p.getByRole("button", { name: "Create satellite" }).count()).resolves.toBe(0);
    await invitee.shot("member-view");
    expect(invitee.problems).toEqual([]);
  });

  it("the owner sees the new member and can make them admin", async () => {
    await owner.page.goto("/members");
    const role = owner.page.getByLabel("Role of Ivan Invitee");
    await role.selectOption("admin");
    await expect.poll(async () => role.inputValue()).toBe("admin");
    await owner.shot("member-promoted");
    expect(owner.problems).toEqual([]);
  });

  it("sign-in: a wrong password is explained; the right one signs in", async () => {
    const p = owner.page;
    await p.getByRole("button", { name: "Sign out" }).click();
    await p.waitForURL("**/sign-in");
    owner.expect(401, /\/api\/auth\/sign-in\/email/);
    await p.getByLabel("Email").fill(ownerUser.email);
    await p.getByLabel("Password").fill("not the password");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("alert").filter({ hasText: "Wrong email or password" }).waitFor();
    await owner.shot("sign-in-error");
    await p.getByLabel("Password").fill(ownerUser.password);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.waitForURL("**/satellites");
    expect(owner.problems).toEqual([]);
  });

  it("a signed-out visitor is sent to sign in, then back", async () => {
    const fresh = await watchedPage(browser, webUrl, "pages-anon");
    await fresh.page.goto("/history");
    await fresh.page.waitForURL(/\/sign-in\?next=%2Fhistory/);
    await fresh.page.getByLabel("Email").fill(ownerUser.email);
    await fresh.page.getByLabel("Password").fill(ownerUser.password);
    await fresh.page.getByRole("button", { name: "Sign in" }).click();
    await fresh.page.waitForURL("**/history");
    expect(fresh.problems).toEqual([]);
  });
});
