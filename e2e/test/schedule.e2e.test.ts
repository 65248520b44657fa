// Keep-warm schedule in a real Chromium against the real processes: an owner sets a schedule on
// a satellite's page and sees the next wake time (55 s before the window, in the schedule's
// zone), is told why an overlapping window cannot be saved, and the card reads at 1280 px and
// 390 px without spilling out of the screen; it passes axe's WCAG checks.
import { createRequire } from "node:module";
import { DateTime } from "luxon";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launch, type Watched, watchedPage } from "./browser.ts";

const webUrl = inject("webUrl");
const run = Date.now().toString(36);
let browser: Browser;
let owner: Watched;
let satelliteUrl = "";

beforeAll(async () => {
  browser = await launch();
  owner = await watchedPage(browser, webUrl, "schedule");
});
afterAll(async () => {
  await browser?.close();
});

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
/** Serious and critical WCAG 2.1 A/AA violations inside the schedule card. */
async function cardViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: axePath });
  return page.evaluate(async () => {
    type V = { id: string; impact: string | null; nodes: { target: string[] }[] };
    const axe = (window as unknown as { axe: { run(ctx: Element, opts: unknown): Promise<{ violations: V[] }> } }).axe;
    const card = document.querySelector('section[aria-label="Keep-warm schedule"]')!;
    const r = await axe.run(card, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
}

describe.sequential("keep-warm schedule", () => {
  it("an owner creates a satellite", async () => {
    const p = owner.page;
    await p.goto("/sign-up");
    await p.getByLabel("Your name").fill("Sam Schedule");
    await p.getByLabel("Email").fill(`sam-${run}@example.test`);
    await p.getByLabel("Password").fill("schedule password 1");
    await p.getByLabel("Organization name").fill("Sam's org");
    await p.getByRole("button", { name: "Create account" }).click();
    await p.waitForURL("**/satellites");
    await p.getByRole("button", { name: "Create satellite" }).first().click();
    const dialog = p.getByRole("dialog", { name: "Create satellite" });
    await dialog.getByPlaceholder("main").fill("warm");
    await p.keyboard.press("Enter");
    await p.waitForURL(/\/satellites\/[0-9a-f-]{36}$/);
    satelliteUrl = new URL(p.url()).pathname;
    expect(owner.problems).toEqual([]);
  });

  it("sets a schedule at 1280 px and sees the next wake time, 55 s before the window, in the schedule's zone", async () => {
    const p = owner.page;
    await p.setViewportSize({ width: 1280, height: 900 });
    await p.goto(satelliteUrl);
    const card = p.getByRole("region", { name: "Keep-warm schedule" });
    await card.getByText("No schedule", { exact: true }).waitFor();
    await card.getByRole("button", { name: "Set a schedule" }).click();
    const form = card.getByRole("form", { name: "Edit keep-warm schedule" });
    await form.getByLabel("Time zone").selectOption("Asia/Tokyo");
    // Every day, an hour starting 2–3 hours from now in Tokyo: never open while the test runs.
    const start = DateTime.now().setZone("Asia/Tokyo").plus({ hours: 3, minutes: 5 }).startOf("hour");
    await form.getByText("Sat", { exact: true }).click();
    await form.getByText("Sun", { exact: true }).click();
    await form.getByLabel("From").fill(start.toFormat("HH:mm"));
    await form.getByLabel("Until").fill(start.plus({ hours: 1 }).toFormat("HH:mm"));

    // A second window over the first: the same sentence the API would answer, and no saving.
    await form.getByRole("button", { name: "Add window" }).click();
    await form.getByLabel("From").nth(1).fill(start.plus({ minutes: 30 }).toFormat("HH:mm"));
    await form.getByLabel("Until").nth(1).fill(start.plus({ hours: 2 }).toFormat("HH:mm"));
    await form.getByText(/Windows 1 \(.*\) and 2 \(.*\) overlap on .*: merge them into one window/).waitFor();
    expect(await form.getByRole("button", { name: "Save schedule" }).isDisabled()).toBe(true);
    await owner.shot("overlap-1280");
    await form.getByRole("button", { name: "Remove window 2" }).click();

    await form.getByRole("button", { name: "Save schedule" }).click();
    await card.getByText("Schedule saved.").waitFor();
    const summary = `Mon–Sun ${start.toFormat("HH:mm")}–${start.plus({ hours: 1 }).toFormat("HH:mm")} Asia/Tokyo`;
    await card.getByText(summary).waitFor();
    const wake = start.minus({ seconds: 55 });
    const nextWake = card.getByTestId("schedule-next-wake");
    await expect.poll(() => nextWake.textContent()).toContain(wake.toFormat("HH:mm"));
    expect(await nextWake.textContent()).toContain(wake.toFormat("d"));
    expect(await nextWake.textContent()).toMatch(/\(in [23] h\)/);
    expect(await cardViolations(p)).toEqual([]);
    await owner.shot("set-1280");
    expect(owner.problems).toEqual([]);
  });

  it("at 390 px the schedule and its next wake fit the screen, and it survives a reload", async () => {
    const p = owner.page;
    await p.setViewportSize({ width: 390, height: 844 });
    await p.goto(satelliteUrl);
    const card = p.getByRole("region", { name: "Keep-warm schedule" });
    await card.getByTestId("schedule-next-wake").getByText(/\(in [23] h\)/).waitFor();
    await card.scrollIntoViewIfNeeded();
    const box = (await card.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    // Nothing inside the card is wider than the card.
    expect(await card.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    await card.getByRole("button", { name: "Edit schedule" }).click();
    const form = card.getByRole("form", { name: "Edit keep-warm schedule" });
    await form.getByLabel("Time zone").waitFor();
    expect(await card.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    expect(await cardViolations(p)).toEqual([]);
    await owner.shot("set-390");
    expect(owner.problems).toEqual([]);
  });
});
