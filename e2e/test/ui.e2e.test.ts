// The dashboard's defects from issue 17, each checked in a real Chromium at a laptop's width
// (1280 px) and a phone's (390 px), against the real web, jobs and proxy processes:
// sign-out on a phone, the charts (axes, values, tooltips, a day-long scale), the live timeline,
// the docs' "wait for awake" script run verbatim by bash, tables with long names, wording,
// role changes followed without a reload, and the dark colour scheme. Screenshots of every
// check land in e2e/artifacts/ (kept by CI).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page, Route } from "playwright-core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { axeViolations } from "./a11y.ts";
import { launch, type Watched, watchedPage } from "./browser.ts";

const webUrl = inject("webUrl");
const databaseUrl = inject("databaseUrl");
const down = inject("down");
const STATE_TIMEOUT = 90_000;
const WIDTHS = [1280, 390] as const;
const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

let browser: Browser;
let owner: Watched;
const run = Date.now().toString(36);
const ownerUser = { name: "Una Owner", email: `una-${run}@example.test`, password: "owner password 17", org: "Una's org" };
const longName = `l${"o".repeat(52)}ng-${run}`.slice(0, 63).padEnd(63, "x");
let satelliteId = "";
let longId = "";
let token = "";
let inviteLink = "";

function needs(...names: string[]): void {
  const missing = names.filter((n) => down[n]);
  if (missing.length) throw new Error(missing.map((n) => down[n]).join("\n\n"));
}

async function at(w: Watched, width: number): Promise<void> {
  await w.page.setViewportSize({ width, height: width < 768 ? 844 : 900 });
}

async function waitForState(p: Page, state: string, timeout = STATE_TIMEOUT): Promise<void> {
  await p.locator(`h1 [data-state="${state}"]`).waitFor({ timeout });
}

/** The page itself never scrolls sideways (tables may scroll inside their own box). */
async function pageFits(p: Page): Promise<void> {
  const { scroll, width, widest } = await p.evaluate(() => {
    // What sticks out: the innermost elements reaching past the right edge (for the message).
    // Inside a box that scrolls or clips sideways (the phone's nav row) is not sticking out.
    const clipped = (e: Element) => {
      for (let a = e.parentElement; a; a = a.parentElement) if (getComputedStyle(a).overflowX !== "visible") return true;
      return false;
    };
    const out = Array.from(document.querySelectorAll("body *")).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !clipped(e));
    const leaves = out.filter((e) => !out.some((o) => o !== e && e.contains(o)));
    return { scroll: document.documentElement.scrollWidth, width: window.innerWidth, widest: leaves.slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${String(e.getAttribute("class") ?? "").slice(0, 80)} → ${Math.round(e.getBoundingClientRect().right)}`) };
  });
  expect(scroll, `page wider than the screen at ${p.url()}: ${widest.join("; ")}`).toBeLessThanOrEqual(width);
}

/**
 * Texts of the elements matching `selector`, once there are any (charts draw in passes). A
 * LabelList's values are the `text` of its `.recharts-label-list` layer: Recharts 3.11 gives them
 * the LabelList's className instead of `recharts-label` when one is set.
 */
async function texts(scope: ReturnType<Page["locator"]>, selector: string): Promise<string[]> {
  await expect.poll(async () => (await scope.locator(selector).allTextContents()).filter((t) => t.trim()).length, { timeout: 10_000 }).toBeGreaterThan(0);
  return scope.locator(selector).allTextContents();
}

/**
 * Hovers one day's column of a per-day chart (today's, its last, unless `day` names another, as
 * its table's first cell spells it): in the middle of the plot's height, as a person would — a
 * bar of a few minutes is a fraction of a pixel tall, too thin to aim at.
 */
async function hoverDay(p: Page, chart: ReturnType<Page["locator"]>, day?: string): Promise<void> {
  // At 390 px the chart is below the fold: the mouse only reaches what is on screen.
  await chart.locator(".recharts-cartesian-grid").scrollIntoViewIfNeeded();
  const plot = (await chart.locator(".recharts-cartesian-grid").boundingBox())!;
  const days = (await chart.locator("table tbody tr td:first-child").allTextContents()).map((t) => t.trim());
  const column = day === undefined ? days.length - 1 : days.indexOf(day);
  expect(column, `${day} is a day of the chart (${days.join(", ")})`).toBeGreaterThanOrEqual(0);
  await p.mouse.move(plot.x + (plot.width * (2 * column + 1)) / (2 * days.length), plot.y + plot.height / 2);
}

/** The element is on screen horizontally: not cut off, not pushed out of a scrolling box. */
async function onScreen(p: Page, selector: string): Promise<void> {
  const box = await p.locator(selector).first().boundingBox();
  const width = p.viewportSize()!.width;
  expect(box, `${selector} rendered`).not.toBeNull();
  expect(box!.x, `${selector} left edge`).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, `${selector} right edge at ${width} px`).toBeLessThanOrEqual(width + 0.5);
}

/** Relative luminance (0 black – 1 white) of a computed CSS colour. */
async function luminance(p: Page, selector: string, prop: "color" | "backgroundColor"): Promise<number> {
  return p.evaluate(
    ([sel, pr]) => {
      const c = document.createElement("canvas").getContext("2d")!;
      c.fillStyle = getComputedStyle(document.querySelector(sel)!)[pr as "color"];
      c.fillRect(0, 0, 1, 1);
      const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
      const lin = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
    },
    [selector, prop] as const,
  );
}

async function signIn(w: Watched, email: string, password: string): Promise<void> {
  await w.page.getByLabel("Email").fill(email);
  await w.page.getByLabel("Password").fill(password);
  await w.page.getByRole("button", { name: "Sign in" }).click();
  await w.page.waitForURL("**/satellites");
}

beforeAll(async () => {
  browser = await launch();
  owner = await watchedPage(browser, webUrl, "ui-owner");
});
afterAll(async () => {
  await browser?.close();
});

describe.sequential("issue 17 defects, at 1280 and 390 px", () => {
  it("signs up and creates a satellite: the header never says Waking… while creating", async () => {
    needs("jobs");
    const p = owner.page;
    await at(owner, 1280);
    await p.goto("/sign-up");
    await p.getByLabel("Your name").fill(ownerUser.name);
    await p.getByLabel("Email").fill(ownerUser.email);
    await p.getByLabel("Password").fill(ownerUser.password);
    await p.getByLabel("Organization name").fill(ownerUser.org);
    await p.getByRole("button", { name: "Create account" }).click();
    await p.waitForURL("**/satellites");
    // Watch the header through the client-side navigation to the new satellite's page.
    await p.evaluate(() => {
      const w = window as unknown as { seen: string[] };
      w.seen = [];
      new MutationObserver(() => {
        const h1 = document.querySelector("h1");
        const state = h1?.querySelector("[data-state]")?.getAttribute("data-state");
        const button = document.querySelector("main button[disabled]")?.textContent ?? "";
        if (state) w.seen.push(`${state}|${button}`);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await p.getByRole("button", { name: "Create satellite" }).click();
    await p.getByLabel("Name", { exact: true }).fill(`ui-${run}`);
    await p.getByRole("button", { name: "Create", exact: true }).click();
    await p.waitForURL(/\/satellites\/[0-9a-f-]{36}$/);
    satelliteId = p.url().split("/").pop()!;
    await waitForState(p, "awake");
    const seen = await p.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const creating = seen.filter((x) => x.startsWith("creating|"));
    expect(creating.length, `the header showed creating (seen: ${seen.join(", ")})`).toBeGreaterThan(0);
    for (const s of creating) expect(s).not.toContain("Waking");
    expect(owner.problems).toEqual([]);
  });

  it("3: the timeline's current state grows while the page stays open; a 488 ms Creating stays a sliver", async () => {
    const p = owner.page;
    const svg = p.locator('svg[aria-label^="Timeline"]');
    await svg.locator('rect[data-state="awake"]').waitFor();
    const creating = Number(await svg.locator('rect[data-state="creating"]').getAttribute("width"));
    // Of 1000 units: the chart spans at least an hour, so half a second is the minimum band.
    expect(creating).toBeLessThan(10);
    const end0 = Number(await svg.getAttribute("data-end"));
    const title = () => svg.locator('rect[data-state="awake"]').last().locator("title").textContent();
    const awake0 = await title();
    await p.waitForTimeout(3000);
    const end1 = Number(await svg.getAttribute("data-end"));
    expect(end1 - end0).toBeGreaterThanOrEqual(2000);
    // Its length (in the band's title) has grown with the clock, with no new fetch.
    expect(await title()).not.toBe(awake0);
    expect(await svg.locator('rect[data-state="awake"]').last().locator("title").textContent()).toContain("→ now");
    for (const width of WIDTHS) {
      await at(owner, width);
      await owner.shot(`timeline-${width}`);
    }
    await at(owner, 1280);
  });

  it("3: Creating, Waking and Updating are drawn in three colours", async () => {
    const p = owner.page;
    // Sleep, change the size while asleep (updating), wake: the timeline then has all three.
    await p.getByRole("button", { name: "Sleep now" }).click();
    await waitForState(p, "asleep");
    await p.getByLabel("Size", { exact: true }).selectOption("small");
    await p.getByRole("button", { name: "Change size" }).click();
    await p.locator('svg[aria-label^="Timeline"] rect[data-state="updating"]').waitFor({ timeout: STATE_TIMEOUT });
    await waitForState(p, "asleep");
    await p.getByRole("button", { name: "Wake", exact: true }).click();
    await waitForState(p, "awake");
    const svg = p.locator('svg[aria-label^="Timeline"]');
    await svg.locator('rect[data-state="starting"]').first().waitFor();
    const fills = await Promise.all(["creating", "starting", "updating"].map((s) => svg.locator(`rect[data-state="${s}"]`).first().getAttribute("fill")));
    expect(new Set(fills).size).toBe(3);
    for (const width of WIDTHS) {
      await at(owner, width);
      await owner.shot(`timeline-colours-${width}`);
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("2 and 5 (charts): hours per day on a 24 h axis with values and tooltips; the wake-time distribution", async () => {
    const p = owner.page;
    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto(`/satellites/${satelliteId}`);
      const hours = p.locator('[data-chart="hours"]');
      await hours.locator(".recharts-bar-rectangle").first().waitFor();
      // The axis names its values and reaches a whole day.
      // Recharts 3 draws ticks and labels in z-index layers at the chart's root, not inside the axis or bar.
      const ticks = await texts(hours, ".recharts-cartesian-axis-tick-value");
      expect(ticks).toContain("24 h");
      expect(ticks).toContain("0 h");
      // Minutes awake today are a sliver of the plot, not a full bar.
      const plot = await hours.locator(".recharts-cartesian-grid").boundingBox();
      const bars = hours.locator(".recharts-bar-rectangle path, .recharts-bar-rectangle rect");
      let tallest = 0;
      for (const b of await bars.all()) tallest = Math.max(tallest, (await b.boundingBox())?.height ?? 0);
      expect(tallest / plot!.height).toBeLessThan(0.1);
      // A value above today's bar.
      expect(await texts(hours, ".recharts-label-list text")).toEqual(expect.arrayContaining([expect.stringMatching(/^\d+m$/)]));
      // A tooltip on hover, in words.
      await hoverDay(p, hours);
      await expect.poll(async () => hours.locator(".recharts-tooltip-wrapper").textContent()).toMatch(/Awake.*(min|h)/);
      // One wake so far: its bucket shows 1.
      const wakes = p.locator('[data-chart="wake-times"]');
      expect(await texts(wakes, ".recharts-label-list text")).toContain("1");
      await pageFits(p);
      await owner.shot(`charts-${width}`);
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("5 (charts): builds per day by outcome, with their median and p95 durations, from build.stats", async () => {
    const p = owner.page;
    // Builds as the proxy records them (the proxy's own recording is tested with real builds), in
    // the first seconds of one UTC day: the day's first instant is that day's, and a run just after
    // midnight no longer splits them across two days.
    const dayStart = new Date(Date.now() - 10_000).setUTCHours(0, 0, 0, 0);
    const day = new Date(dayStart).toISOString().slice(0, 10);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ orgId: string }>('SELECT "orgId" FROM satellite WHERE id = $1', [satelliteId]);
      for (const [i, [ms, code]] of ([[12_000, 0], [30_000, 0], [5_000, 2]] as const).entries()) {
        const start = new Date(dayStart + 1000 * i);
        await db.query(
          `INSERT INTO build (id, "orgId", "satelliteId", actor, client, "startedAt", "endedAt", "durationMs", "bytesUp", "bytesDown", "grpcCode", replica, "seenAt")
           VALUES ($1, $2, $3, 'token:x', 'buildctl', $4::timestamptz AT TIME ZONE 'UTC', $5::timestamptz AT TIME ZONE 'UTC', $6, 100, 200, $7, 'e2e', $5::timestamptz AT TIME ZONE 'UTC')`,
          [`ui-${run}-${i}`, rows[0]!.orgId, satelliteId, start.toISOString(), new Date(start.getTime() + ms).toISOString(), ms, code],
        );
      }
    } finally {
      await db.end();
    }
    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto(`/satellites/${satelliteId}`);
      const chart = p.locator('[data-chart="builds"]');
      await chart.locator(".recharts-bar-rectangle").first().waitFor();
      // Their day's bar says 3 builds; the duration axis is in seconds.
      expect(await texts(chart, ".recharts-label-list text")).toContain("3");
      const right = await texts(chart, ".recharts-cartesian-axis-tick-value");
      expect(right.some((t) => / s$/.test(t))).toBe(true);
      await hoverDay(p, chart, day);
      const tip = chart.locator(".recharts-tooltip-wrapper");
      // Median of 12 s and 30 s (the failed one counts too: 5, 12, 30 → 12 s); p95 close to 30 s.
      await expect.poll(async () => tip.textContent()).toMatch(/Succeeded.*2/);
      expect(await tip.textContent()).toMatch(/Failed.*1/);
      expect(await tip.textContent()).toMatch(/Median time.*12 s/);
      await pageFits(p);
      await owner.shot(`builds-chart-${width}`);
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("1: sign-out is there at both widths, and works on a phone", async () => {
    const p = owner.page;
    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto("/satellites");
      const signOut = p.getByRole("button", { name: "Sign out" });
      await signOut.waitFor();
      expect(await signOut.isVisible()).toBe(true);
      await onScreen(p, '[data-testid="account"] button');
      await owner.shot(`sign-out-${width}`);
    }
    // Signed out, the page it leaves must ask for nothing more, however slowly the sign-in page
    // comes (a busy server): it used to re-read its queries after they were dropped, and got 401s.
    const signInPage = (url: URL) => url.pathname === "/sign-in";
    await p.route(signInPage, async (route) => {
      await new Promise((r) => setTimeout(r, 3000));
      await route.continue();
    });
    try {
      await p.getByRole("button", { name: "Sign out" }).click();
      await p.waitForURL("**/sign-in");
    } finally {
      await p.unroute(signInPage);
    }
    expect(owner.problems).toEqual([]);
    await signIn(owner, ownerUser.email, ownerUser.password);
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("6: a pasted name longer than allowed is kept and the limit shown, not cut", async () => {
    const p = owner.page;
    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto("/satellites");
      await p.getByRole("button", { name: "Create satellite" }).click();
      const input = p.getByLabel("Name", { exact: true });
      await input.fill("a".repeat(80));
      expect((await input.inputValue()).length).toBe(80);
      await p.getByText("at most 63 characters; this one has 80").waitFor();
      expect(await p.getByRole("button", { name: "Create", exact: true }).isDisabled()).toBe(true);
      await owner.shot(`long-name-${width}`);
      await p.keyboard.press("Escape");
      await p.goto("/tokens");
      await p.getByLabel("Token name").fill("t".repeat(70));
      await p.getByText("at most 64 characters; this one has 70").waitFor();
      expect(await p.getByRole("button", { name: "Create token" }).isDisabled()).toBe(true);
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("5: a 63-character name hides no column at 1280 px; the key columns stay at 390 px; /tokens fits", async () => {
    const p = owner.page;
    await p.goto("/satellites");
    // The list answers slowly from now on (a busy server): creating must still open the new
    // satellite's page at once, not after the list's refetch.
    const slowList = async (route: Route) => {
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      await route.continue().catch(() => undefined);
    };
    await p.route(/\/api\/trpc\/[^?]*satellite\.list/, slowList);
    try {
      await p.getByRole("button", { name: "Create satellite" }).click();
      await p.getByLabel("Name", { exact: true }).fill(longName);
      await p.getByRole("button", { name: "Create", exact: true }).click();
      await p.waitForURL(/\/satellites\/[0-9a-f-]{36}$/, { timeout: 5000 });
    } finally {
      await p.unroute(/\/api\/trpc\/[^?]*satellite\.list/, slowList);
    }
    longId = p.url().split("/").pop()!;
    await waitForState(p, "awake");
    await pageFits(p);
    // A token with a long name for the tokens table (its secret is the docs script's, below).
    await p.goto("/tokens");
    await p.getByLabel("Token name").fill(`ci-${"n".repeat(58)}`);
    await p.getByRole("button", { name: "Create token" }).click();
    const code = p.locator("code").filter({ hasText: /^sat_/ });
    await code.waitFor();
    token = (await code.textContent())!.trim();
    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto("/satellites");
      const row = `tr[data-satellite="${longName}"]`;
      await p.locator(row).waitFor();
      // The key columns: name, state, last used.
      for (const cell of [`${row} td:nth-child(1)`, `${row} td:nth-child(2)`, `${row} td:last-child`]) await onScreen(p, cell);
      if (width === 1280) {
        for (const cell of [3, 4, 5]) await onScreen(p, `${row} td:nth-child(${cell})`);
      }
      await pageFits(p);
      await owner.shot(`list-${width}`);
      await p.goto(`/satellites/${longId}`);
      await p.getByRole("heading", { level: 1 }).waitFor();
      await pageFits(p);
      await p.goto("/tokens");
      await p.locator("tr[data-token]").first().waitFor();
      await pageFits(p);
      await onScreen(p, "tr[data-token] td:first-child");
      await onScreen(p, 'tr[data-token] button[aria-label^="Revoke"]');
      await owner.shot(`tokens-${width}`);
      await p.goto("/history");
      await p.locator("tr[data-event-to]").first().waitFor();
      await pageFits(p);
      await onScreen(p, "tr[data-event-to] td:first-child");
      await onScreen(p, "tr[data-event-to] td:nth-child(3)");
      await owner.shot(`history-${width}`);
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("6: wording — a date range in user words without Try again; resizing an awake satellite says what to do", async () => {
    const p = owner.page;
    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto("/history");
      await p.getByLabel("From", { exact: true }).fill("2026-11-08T10:00");
      await p.getByLabel("To", { exact: true }).fill("2026-11-01T10:00");
      await p.getByText("Pick a “To” time later than the “From” time").waitFor();
      await expect(p.getByRole("button", { name: "Try again" }).count()).resolves.toBe(0);
      await expect(p.getByText("must be before").count()).resolves.toBe(0);
      await owner.shot(`date-range-${width}`);
      await p.goto(`/satellites/${longId}`);
      await waitForState(p, "awake");
      await p.getByLabel("Size", { exact: true }).selectOption("large");
      await p.getByText("It is awake: tick “Put it to sleep first”").waitFor();
      expect(await p.getByRole("button", { name: "Change size" }).isDisabled()).toBe(true);
      expect(await p.locator("main").textContent()).not.toMatch(/\bforce\b/i);
      await owner.shot(`resize-awake-${width}`);
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("6: a refused create's error is not shown again when the dialog is reopened", async () => {
    const p = owner.page;
    owner.expect(409, /\/api\/trpc\/satellite\.create/);
    await p.goto("/satellites");
    await p.getByRole("button", { name: "Create satellite" }).click();
    const dialog = p.getByRole("dialog");
    await dialog.getByLabel("Name", { exact: true }).fill(`ui-${run}`);
    await dialog.getByRole("button", { name: "Create", exact: true }).click();
    await dialog.getByText(/already exists in this organization/).waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    await p.getByRole("button", { name: "Create satellite" }).click();
    await dialog.getByLabel("Name", { exact: true }).waitFor();
    expect(await dialog.getByText(/already exists/).count()).toBe(0);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect(owner.problems).toEqual([]);
  });

  it("6: /onboarding sends a member of an organization to their satellites", async () => {
    for (const width of WIDTHS) {
      await at(owner, width);
      await owner.page.goto("/onboarding");
      await owner.page.waitForURL("**/satellites");
    }
    await at(owner, 1280);
  });

  it("6: a sign-up refused by the form's own checks takes the focus to the first field in error, which names its error", async () => {
    const w = await watchedPage(browser, webUrl, "ui-signup-focus");
    await w.page.goto("/sign-up");
    await w.page.waitForLoadState("networkidle");
    await w.page.getByLabel("Your name").fill("n".repeat(101));
    await w.page.getByLabel("Email").fill(`focus-${run}@example.test`);
    await w.page.getByLabel("Password").fill("a good password 1");
    await w.page.getByLabel("Organization name").fill("Focus");
    await w.page.getByRole("button", { name: "Create account" }).click();
    const name = w.page.getByLabel("Your name");
    await expect.poll(() => name.evaluate((el) => el === document.activeElement)).toBe(true);
    // A screen reader reads the field's description on focus: the error is in it.
    const described = await name.evaluate((el) => (el.getAttribute("aria-describedby") ?? "").split(" ").map((id) => document.getElementById(id)?.textContent ?? "").join(" "));
    expect(described).toMatch(/at most 100 characters/);
    expect(w.page.url()).toMatch(/\/sign-up/);
    expect(w.problems).toEqual([]);
    await w.context.close();
  });

  it("6: the duplicate-email hint is a link to sign in", async () => {
    for (const width of WIDTHS) {
      const w = await watchedPage(browser, webUrl, `ui-dup-${width}`);
      await at(w, width);
      w.expect(422, /\/api\/auth\/sign-up\/email/);
      w.expect(400, /\/api\/auth\/sign-up\/email/);
      await w.page.goto("/sign-up");
      await w.page.getByLabel("Your name").fill("Someone Else");
      await w.page.getByLabel("Email").fill(ownerUser.email);
      await w.page.getByLabel("Password").fill("another password 1");
      await w.page.getByLabel("Organization name").fill("Other org");
      await w.page.getByRole("button", { name: "Create account" }).click();
      const link = w.page.getByRole("alert").getByRole("link", { name: "sign in instead" });
      await link.waitFor();
      await w.shot(`duplicate-email-${width}`);
      await link.click();
      await w.page.waitForURL("**/sign-in");
      expect(w.problems).toEqual([]);
      await w.context.close();
    }
  });

  it("6: a role change is confirmed, and the promoted member's open page becomes writable without a reload", async () => {
    const p = owner.page;
    await p.goto("/members");
    await p.getByLabel("Email", { exact: true }).fill(`mia-${run}@example.test`);
    await p.getByRole("button", { name: "Invite", exact: true }).click();
    const linkCode = p.locator("code").filter({ hasText: "/invitations/" });
    await linkCode.waitFor();
    inviteLink = (await linkCode.textContent())!.trim();

    const member = await watchedPage(browser, webUrl, "ui-member");
    const m = member.page;
    await at(member, 390);
    const link = new URL(inviteLink);
    await m.goto(link.pathname + link.search);
    await m.waitForURL(/\/sign-up\?next=/);
    await m.getByLabel("Your name").fill("Mia Member");
    await m.getByLabel("Email").fill(`mia-${run}@example.test`);
    await m.getByLabel("Password").fill("member password 1");
    await m.getByRole("button", { name: "Create account" }).click();
    await m.getByRole("button", { name: "Accept and join" }).click();
    await m.waitForURL("**/satellites");
    await m.goto(`/satellites/${satelliteId}`);
    await m.getByRole("heading", { level: 1 }).waitFor();
    await m.getByText("Only admins and owners can change limits").or(m.locator("fieldset[disabled]")).first().waitFor();
    await expect(m.getByRole("button", { name: "Save limits" }).count()).resolves.toBe(0);
    await m.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    for (const width of WIDTHS) {
      await at(owner, width);
      await p.goto("/members");
      const role = p.getByLabel("Role of Mia Member");
      await role.selectOption(width === 1280 ? "admin" : "member");
      await p.getByText(width === 1280 ? "Mia Member is now an admin" : "Mia Member is now a member").waitFor();
      await owner.shot(`role-changed-${width}`);
      if (width === 1280) {
        // The member's page (at 390 px) follows: the limits become editable, same document.
        await m.getByRole("button", { name: "Save limits" }).waitFor({ timeout: 20_000 });
        expect(await m.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
        await member.shot("promoted-390");
      }
    }
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
    expect(member.problems).toEqual([]);

    // Leaving and removing revoke tokens and certificates: each asks first, and going back keeps all.
    await m.goto("/members");
    await m.getByRole("button", { name: /^Leave / }).click();
    const leave = m.getByRole("dialog");
    await leave.getByText(/API tokens .* and the client certificates you issued are revoked/).waitFor();
    await leave.getByRole("button", { name: "Stay" }).click();
    await leave.waitFor({ state: "hidden" });
    expect(m.url()).toMatch(/\/members$/);
    await member.context.close();

    await p.goto("/members");
    await p.getByRole("button", { name: "Remove Mia Member" }).click();
    const remove = p.getByRole("dialog");
    await remove.getByText(/Their API tokens .* are revoked/).waitFor();
    await owner.shot("remove-member-confirm");
    await remove.getByRole("button", { name: "Cancel" }).click();
    await remove.waitFor({ state: "hidden" });
    await p.getByLabel("Role of Mia Member").waitFor();
    await p.getByRole("button", { name: "Remove Mia Member" }).click();
    await p.getByRole("dialog").getByRole("button", { name: "Remove Mia Member" }).click();
    await p.getByLabel("Role of Mia Member").waitFor({ state: "detached" });
    expect(owner.problems).toEqual([]);
  });

  it("7: the dark colour scheme renders a dark UI, readable (axe contrast) at both widths", async () => {
    const p = owner.page;
    await p.emulateMedia({ colorScheme: "dark" });
    for (const width of WIDTHS) {
      await at(owner, width);
      for (const path of ["/satellites", `/satellites/${satelliteId}`]) {
        await p.goto(path);
        await p.getByRole("heading", { level: 1 }).waitFor();
        await p.locator("main .bg-white").first().waitFor();
        await p.waitForLoadState("networkidle", { timeout: 5000 }).catch(() => {});
        expect(await luminance(p, "body", "backgroundColor")).toBeLessThan(0.05);
        expect(await luminance(p, "h1", "color")).toBeGreaterThan(0.6);
        // A surface (card, table) drawn "white" in the light theme.
        expect(await luminance(p, "main .bg-white", "backgroundColor")).toBeLessThan(0.1);
        expect(await axeViolations(p), `${path} in dark mode at ${width} px`).toEqual([]);
        await owner.shot(`dark-${path === "/satellites" ? "list" : "detail"}-${width}`);
      }
    }
    await p.emulateMedia({ colorScheme: "light" });
    expect(await luminance(p, "body", "backgroundColor")).toBeGreaterThan(0.9);
    await at(owner, 1280);
    expect(owner.problems).toEqual([]);
  });

  it("4: docs/api.md's wait-for-awake script, run verbatim by bash under set -euo pipefail, returns as soon as the satellite is awake", async () => {
    needs("jobs");
    const p = owner.page;
    await p.goto(`/satellites/${satelliteId}`);
    await waitForState(p, "awake");
    await p.getByRole("button", { name: "Sleep now" }).click();
    await waitForState(p, "asleep");
    const doc = readFileSync(path.join(root, "docs/api.md"), "utf8");
    const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    // The curl section's set-up lines (API, TOKEN, auth, q, m) and the waiting script itself.
    const setup = blocks.find((b) => b.startsWith("API="))!;
    const preamble = setup.slice(0, setup.indexOf("\n", setup.indexOf("m() {")) + 1);
    const wait = blocks.find((b) => b.includes("satellite.watch"))!;
    const script = `${preamble}\n${wait}`
      .replace(/^API=.*$/m, `API=${webUrl}/api/trpc`)
      .replace(/^TOKEN=.*$/m, `TOKEN=${token}`)
      .replace(/^SAT=.*$/m, `SAT=${satelliteId}`);
    const started = Date.now();
    const result = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      // GitHub Actions' shell is `bash --noprofile --norc -eo pipefail`; -u as well, as scripts set it.
      const child = spawn("bash", ["--noprofile", "--norc", "-euo", "pipefail", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("close", (code) => resolve({ code, out, err }));
    });
    const took = Date.now() - started;
    expect(result, result.err).toMatchObject({ code: 0, out: "awake\n" });
    // Well before the stream's next keep-alive (15 s), which the old script waited for.
    expect(took).toBeLessThan(10_000);
    await waitForState(p, "awake");
  });
});
