// Chromium via playwright-core, with a watch on everything that should never happen on a
// page: console errors, uncaught exceptions, failed requests and error responses.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page, type Request } from "playwright-core";

export const ARTIFACTS = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../artifacts");

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export interface Watched {
  page: Page;
  context: BrowserContext;
  problems: string[];
  /** Responses with these statuses on URLs matching the pattern are expected (e.g. a 404 check). */
  expect(status: number, url: RegExp): void;
  shot(name: string): Promise<void>;
}

/**
 * Requests cut short on purpose are not failures: leaving a page aborts its live-update stream,
 * its in-flight API queries (TanStack Query cancels them on unmount), router prefetches and
 * asset loads (the tab's icon) still under way.
 * Any other failure — refused, reset, DNS, TLS — and every 4xx/5xx response still counts.
 */
const ABORT_OK = /\/api\/trpc\/|[?&]_rsc=|\/_next\/static\/|\/icon\.svg$/;

/**
 * The suite's BuildKit satellites run on the browser's own host, and each RUN step adds and
 * removes a veth interface on their bridge: Chromium fails what is in flight when the host's
 * addresses change. Not the dashboard's doing (a user's browser is not on a satellite's host);
 * what the page must show is still asserted, and its queries retry.
 */
const NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED";

export async function watchedPage(browser: Browser, baseURL: string, label: string): Promise<Watched> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  const expected: { status: number; url: RegExp }[] = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium logs every 4xx of a page load as a console error; an expected one is not a problem.
    if (/Failed to load resource: the server responded with a status of (\d+)/.test(m.text())) {
      const status = Number(/status of (\d+)/.exec(m.text())![1]);
      const url = m.location().url;
      if (expected.some((e) => e.status === status && e.url.test(url))) return;
    }
    if (m.text().includes(NETWORK_CHANGED)) return;
    problems.push(`[${label}] console error: ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => problems.push(`[${label}] uncaught: ${e.message}`));
  page.on("requestfailed", (r) => {
    const reason = r.failure()?.errorText ?? "";
    if (reason.includes("ERR_ABORTED") && ABORT_OK.test(r.url())) return;
    if (reason.includes(NETWORK_CHANGED)) return;
    problems.push(`[${label}] request failed: ${r.method()} ${r.url()} ${reason}`);
  });
  page.on("response", (r) => {
    if (r.status() < 400) return;
    if (expected.some((e) => e.status === r.status() && e.url.test(r.url()))) return;
    problems.push(`[${label}] HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  // Requests still unanswered, for the report of a failed test (a click whose mutation hangs).
  const pending = new Map<Request, number>();
  page.on("request", (r) => pending.set(r, Date.now()));
  page.on("requestfinished", (r) => pending.delete(r));
  page.on("requestfailed", (r) => pending.delete(r));
  let n = 0;
  const watched: Watched = {
    page,
    context,
    problems,
    expect: (status, url) => expected.push({ status, url }),
    shot: async (name) => {
      n++;
      await page.screenshot({ path: path.join(ARTIFACTS, `${label}-${String(n).padStart(2, "0")}-${name}.png`), fullPage: true });
    },
  };
  open.set(watched, { label, pending });
  page.on("close", () => open.delete(watched));
  return watched;
}

const open = new Map<Watched, { label: string; pending: Map<Request, number> }>();

/**
 * What every open page shows when a test fails, so a failure says more than "timed out": its
 * address, its alerts, what it logged as wrong, the requests still unanswered, and a screenshot
 * (failed-*.png in the artifacts). Registered for every file by failure-report.ts.
 */
export async function reportFailure(test: string): Promise<void> {
  for (const [w, { label, pending }] of open) {
    if (w.page.isClosed()) continue;
    const file = `failed-${label}-${test.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60)}.png`;
    const alerts = (await w.page.locator('[role="alert"]').allInnerTexts().catch(() => [] as string[])).filter((a) => a.trim());
    await w.page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true }).catch(() => undefined);
    const now = Date.now();
    const waiting = [...pending].map(([r, at]) => `${r.method()} ${r.url()} (${now - at} ms)`);
    console.error(
      [
        `[${label}] at ${w.page.url()} when "${test}" failed (screenshot: e2e/artifacts/${file})`,
        `  alerts: ${alerts.length ? alerts.map((a) => JSON.stringify(a.slice(0, 300))).join("; ") : "none"}`,
        `  problems: ${w.problems.length ? w.problems.slice(-10).join("; ") : "none"}`,
        `  unanswered requests: ${waiting.length ? waiting.slice(0, 10).join("; ") : "none"}`,
      ].join("\n"),
    );
  }
}
