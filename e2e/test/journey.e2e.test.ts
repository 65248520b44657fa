// The acceptance journey in a real Chromium against the real web, proxy and jobs processes
// (local provider): sign up → create a satellite → awake → sleep → history → a gRPC call with a
// token made in the UI wakes it while the page watches → limits → revoke → another
// organization sees nothing. Screenshots of each step land in e2e/artifacts/.
import { readFileSync } from "node:fs";
import pg from "pg";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launch, type Watched, watchedPage } from "./browser.ts";
import { healthThroughProxy } from "./grpc.ts";

const webUrl = inject("webUrl");
const proxyAddress = inject("proxyAddress");
const databaseUrl = inject("databaseUrl");
const down = inject("down");
const STATE_TIMEOUT = 90_000;

function needs(...names: string[]): void {
  const missing = names.filter((n) => down[n]);
  if (missing.length) throw new Error(missing.map((n) => down[n]).join("\n\n"));
}

let browser: Browser;
let a: Watched;
let b: Watched;
const run = Date.now().toString(36);
const userA = { name: "Ada Admin", email: `ada-${run}@example.test`, password: "correct horse battery", org: "Ada's builds" };
const userB = { name: "Bob Other", email: `bob-${run}@example.test`, password: "another good password", org: "Bob's team" };
const satName = `e2e-${run}`;
let satelliteId = "";
let orgId = "";
let token = "";
let tokenB = "";

async function signUp(w: Watched, u: typeof userA): Promise<void> {
  await w.page.goto("/sign-up");
  await w.page.getByLabel("Your name").fill(u.name);
  await w.page.getByLabel("Email").fill(u.email);
  await w.page.getByLabel("Password").fill(u.password);
  await w.page.getByLabel("Organization name").fill(u.org);
  await w.page.getByRole("button", { name: "Create account" }).click();
  await w.page.waitForURL("**/satellites");
  await w.page.getByRole("heading", { level: 1, name: "Satellites", exact: true }).waitFor();
}

/** The state shown in the page header badge. */
async function waitForState(w: Watched, state: string, timeout = STATE_TIMEOUT): Promise<void> {
  await w.page.locator(`h1 [data-state="${state}"]`).waitFor({ timeout });
}

async function createToken(w: Watched, name: string): Promise<string> {
  await w.page.goto("/tokens");
  await w.page.getByLabel("Token name").fill(name);
  await w.page.getByRole("button", { name: "Create token" }).click();
  const code = w.page.locator("code").filter({ hasText: /^sat_/ });
  await code.waitFor();
  return (await code.textContent())!.trim();
}

async function trpcGet(w: Watched, path: string, input: unknown, headers: Record<string, string> = {}) {
  const res = await w.page.request.get(`/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers });
  return { status: res.status(), body: (await res.json()) as { error?: { data?: { code?: string } }; result?: { data?: unknown } } };
}

beforeAll(async () => {
  browser = await launch();
  a = await watchedPage(browser, webUrl, "a");
  b = await watchedPage(browser, webUrl, "b");
});

afterAll(async () => {
  await browser?.close();
});

describe.sequential("satellite journey", () => {
  it("signs up and lands on an empty satellites page", async () => {
    await signUp(a, userA);
    await a.page.getByText("No satellites yet").waitFor();
    await a.shot("signed-up");
    expect(a.problems).toEqual([]);
  });

  it("creates a satellite, which becomes awake", async () => {
    await a.page.getByRole("button", { name: "Create satellite" }).click();
    const dialog = a.page.getByRole("dialog", { name: "Create satellite" });
    await dialog.getByLabel("Name").fill(satName);
    await dialog.getByRole("radio", { name: /xsmall/ }).check();
    await a.shot("create-dialog");
    await dialog.getByRole("button", { name: "Create" }).click();
    await a.page.waitForURL(/\/satellites\/[0-9a-f-]{36}$/);
    satelliteId = a.page.url().split("/").pop()!;
    await a.page.getByRole("heading", { name: satName }).waitFor();
    needs("jobs");
    await waitForState(a, "awake");
    orgId = ((await a.page.getByRole("region", { name: "Connect" }).locator("dt", { hasText: "Organization id" }).locator("+ dd code").textContent()) ?? "").trim();
    expect(orgId).not.toBe("");
    await a.shot("awake");
    expect(a.problems).toEqual([]);
  });

  it("puts it to sleep from the page", async () => {
    needs("jobs");
    await a.page.getByRole("button", { name: "Sleep now" }).click();
    await waitForState(a, "asleep");
    await a.shot("asleep");
    expect(a.problems).toEqual([]);
  });

  it("shows both transitions in the history with causes and durations", async () => {
    needs("jobs");
    const table = a.page.getByRole("table", { name: "History events" });
    const launched = table.locator('tr[data-event-to="awake"][data-event-cause="launch"]');
    const slept = table.locator('tr[data-event-to="asleep"][data-event-cause="manual"]');
    await launched.waitFor();
    await slept.waitFor();
    // The "Took" column: creating→awake and stopping→asleep both completed transitions.
    await expect(launched.locator("td").nth(4).textContent()).resolves.toMatch(/\d+(\.\d+)? (ms|s|min)/);
    await expect(slept.locator("td").nth(4).textContent()).resolves.toMatch(/\d+(\.\d+)? (ms|s|min)/);
    await expect(slept.locator("td").nth(2).textContent()).resolves.toBe("Manual");
    await expect(launched.locator("td").nth(2).textContent()).resolves.toBe("Launch");
    await a.page.getByRole("table", { name: "History events" }).scrollIntoViewIfNeeded();
    await a.shot("history");
    expect(a.problems).toEqual([]);
  });

  it("creates an API token in the UI", async () => {
    token = await createToken(a, "e2e build");
    expect(token).toMatch(/^sat_[0-9A-Za-z]{32}$/);
    await a.shot("token-created");
    expect(a.problems).toEqual([]);
  });

  it("a gRPC call through the proxy with that token wakes it, and the page updates without reload", async () => {
    needs("jobs", "proxy");
    await a.page.goto(`/satellites/${satelliteId}`);
    await waitForState(a, "asleep");
    let navigations = 0;
    a.page.on("framenavigated", (f) => {
      if (f === a.page.mainFrame()) navigations++;
    });
    const call = healthThroughProxy(proxyAddress, { name: satName, org: orgId, token });
    // The page sees the wake start and finish through the live stream.
    await a.page.locator('h1 [data-state="starting"], h1 [data-state="awake"]').first().waitFor({ timeout: STATE_TIMEOUT });
    const result = await call;
    expect(result).toMatchObject({ ok: true, status: "SERVING" });
    await waitForState(a, "awake");
    expect(navigations).toBe(0);
    await a.page.getByRole("table", { name: "History events" }).locator('tr[data-event-to="awake"][data-event-cause="request"]').waitFor();
    await a.shot("woken-by-request");
    expect(a.problems).toEqual([]);
  });

  it("a change announced while the page's history is still on its way in is shown once it arrives", async () => {
    needs("jobs");
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const asleepEvents = async () => Number((await db.query(`SELECT count(*) FROM satellite_event WHERE "satelliteId" = $1 AND "to" = 'asleep'`, [satelliteId])).rows[0].count);
    let deliver: (() => void) | undefined;
    const isHistory = (u: URL) => u.pathname.includes("history.list");
    try {
      const before = await asleepEvents();
      // The page's first history load is read by the server now and delivered only after the
      // sleep below: it carries the state from before it (a slow network, a busy server).
      let read!: () => void;
      const wasRead = new Promise<void>((r) => (read = r));
      const delivered = new Promise<void>((r) => (deliver = r));
      let held = false;
      await a.page.route(isHistory, async (route) => {
        if (held) return route.fallback();
        held = true;
        const response = await route.fetch();
        read();
        await delivered;
        await route.fulfill({ response });
      });
      await a.page.goto(`/satellites/${satelliteId}`);
      await waitForState(a, "awake");
      await wasRead;
      await a.page.getByRole("button", { name: "Sleep now" }).click();
      await waitForState(a, "asleep");
      expect(await asleepEvents()).toBe(before + 1);
      deliver!();
      const rows = a.page.getByRole("table", { name: "History events" }).locator('tr[data-event-to="asleep"]');
      await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(before + 1);
      // As the next steps found it.
      await a.page.getByRole("button", { name: "Wake", exact: true }).click();
      await waitForState(a, "awake");
    } finally {
      deliver?.();
      await a.page.unroute(isHistory);
      await db.end();
    }
    expect(a.problems).toEqual([]);
  });

  it("after its live connection missed an announcement, the page re-reads the history too", async () => {
    needs("jobs");
    await waitForState(a, "awake");
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      // An event the web never heard of (as when its LISTEN connection was down): written
      // without NOTIFY. A cache reset is a row that changes no state.
      await db.query(
        `INSERT INTO satellite_event ("satelliteId", "orgId", "from", "to", cause, actor, "startedAt", detail)
         SELECT id, "orgId", 'awake', 'awake', 'manual', 'system', now(), $2::jsonb FROM satellite WHERE id = $1`,
        [satelliteId, JSON.stringify({ cache: "reset", beforeBytes: 3 * 2 ** 20, afterBytes: 0 })],
      );
      const note = a.page.getByRole("table", { name: "History events" }).getByText("Cache reset: 3.0 MiB → 0.0 MiB");
      await new Promise((r) => setTimeout(r, 1000));
      expect(await note.count()).toBe(0);
      // The web's listener is cut; it reconnects and tells every open page to re-read.
      const { rowCount } = await db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'satellites-listen:%' AND datname = current_database()",
      );
      expect(rowCount).toBeGreaterThan(0);
      await note.waitFor({ timeout: 15_000 });
    } finally {
      await db.end();
    }
    expect(a.problems).toEqual([]);
  });

  it("changes limits and sees them applied (or pending)", async () => {
    needs("jobs");
    const limits = a.page.getByRole("region", { name: "Limits" });
    await limits.getByLabel("CPU").fill("60");
    await limits.getByLabel("Memory").fill("1024");
    await limits.getByRole("button", { name: "Save limits" }).click();
    await limits.getByText(/Saved/).waitFor();
    // The default OOM score (−500) needs CAP_SYS_RESOURCE, which the jobs process (run by this
    // suite, as this user) may lack: the card says it is not applied exactly then.
    const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
    const lowers = ((BigInt(`0x${caps}`) >> 24n) & 1n) === 1n;
    // The local provider applies limits live. The built-in local satellite is not given its disk
    // limit, so the status never says a bare "Applied" beside the notice that says so.
    const status = limits.getByText(/^(Applied|Applied, except .*|Pending: .*)$/);
    await limits.getByText(lowers ? "Applied, except disk" : "Applied, except disk and OOM score", { exact: true }).waitFor({ timeout: STATE_TIMEOUT });
    await expect(limits.getByLabel("CPU").inputValue()).resolves.toBe("60");
    await limits.getByText(/The disk limit is saved but not applied/).waitFor();
    await expect(limits.getByLabel("OOM score adjustment").inputValue()).resolves.toBe("-500");
    const oomNotice = limits.locator('[data-limit-not-applied="oomScoreAdj"]');
    if (lowers) expect(await oomNotice.count()).toBe(0);
    else {
      await oomNotice.getByText(/OOM score adjustment is saved but not applied/).waitFor();
      await a.shot("limits-oom-score-not-applied");
      // 0 needs no privilege: applied, and the notice and the status's exception go.
      await limits.getByLabel("OOM score adjustment").fill("0");
      await limits.getByRole("button", { name: "Save limits" }).click();
      await oomNotice.waitFor({ state: "detached", timeout: STATE_TIMEOUT });
      await limits.getByText("Applied, except disk", { exact: true }).waitFor({ timeout: STATE_TIMEOUT });
    }
    expect(await status.allTextContents()).toEqual(["Applied, except disk"]);
    // The save's confirmation says the same, not "Saved and applied.".
    await limits.getByText("Saved. Applied, except disk.", { exact: true }).waitFor();
    await a.shot("limits");
    expect(a.problems).toEqual([]);
  });

  it("saves only the limits edited here: a change made elsewhere meanwhile is kept", async () => {
    const limits = a.page.getByRole("region", { name: "Limits" });
    await limits.getByLabel("CPU").fill("55");
    // Another admin (here: the API, same session) changes the idle timeout while the form is open.
    const other = await a.page.request.post("/api/trpc/satellite.setLimits", { data: { id: satelliteId, limits: { idleTimeoutSeconds: 3600 } } });
    expect(other.status()).toBe(200);
    await limits.getByRole("button", { name: "Save limits" }).click();
    await limits.getByText(/^Saved/).waitFor();
    const got = await trpcGet(a, "satellite.get", { id: satelliteId });
    const saved = (got.body.result?.data as { limits: { cpuPercent: number; idleTimeoutSeconds: number } }).limits;
    expect({ cpu: saved.cpuPercent, idle: saved.idleTimeoutSeconds }).toEqual({ cpu: 55, idle: 3600 });
    expect(a.problems).toEqual([]);
  });

  it("a measurement of the cache that fails says why, instead of measuring for ever", async () => {
    needs("jobs");
    // The built-in local satellite is not BuildKit: it has no cache to measure.
    const card = a.page.getByRole("region", { name: "Build cache" });
    await card.getByRole("button", { name: "Measure" }).click();
    await card.getByText(/Could not measure the cache: .*no BuildKit cache to manage/).waitFor({ timeout: 20_000 });
    await expect(card.getByText("Measuring…").count()).resolves.toBe(0);
    await a.shot("cache-measure-failed");
    expect(a.problems).toEqual([]);
  });

  it("revokes the token, and the proxy refuses it", async () => {
    await a.page.goto("/tokens");
    await a.page.getByRole("button", { name: "Revoke token e2e build" }).click();
    await a.page.getByRole("dialog").getByRole("button", { name: "Revoke token" }).click();
    await a.page.locator('tr[data-token="e2e build"]').getByText("revoked").waitFor();
    await a.shot("token-revoked");
    needs("proxy");
    // The proxy trusts a verification for a couple of seconds (its token cache): poll briefly.
    const deadline = Date.now() + 15_000;
    let result = await healthThroughProxy(proxyAddress, { name: satName, org: orgId, token }, 10_000);
    while (result.ok && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      result = await healthThroughProxy(proxyAddress, { name: satName, org: orgId, token }, 10_000);
    }
    expect(result.ok).toBe(false);
    expect(result.codeName).toBe("UNAUTHENTICATED");
    expect(a.problems).toEqual([]);
  });

  it("a user of another organization sees none of it", async () => {
    await signUp(b, userB);
    await b.page.getByText("No satellites yet").waitFor();
    await expect(b.page.getByText(satName).count()).resolves.toBe(0);
    await b.shot("other-org-empty");

    // Direct URL: the satellite page is a 404, as for an id that does not exist.
    b.expect(404, new RegExp(`/satellites/${satelliteId}`));
    const res = await b.page.goto(`/satellites/${satelliteId}`);
    expect(res?.status()).toBe(404);
    await b.page.getByRole("heading", { name: "Not found" }).waitFor();
    await b.shot("direct-url-404");

    // The API with B's session: NOT_FOUND for every satellite-level read and action.
    b.expect(404, /\/api\/trpc\//);
    const get = await trpcGet(b, "satellite.get", { id: satelliteId });
    expect(get.status).toBe(404);
    expect(get.body.error?.data?.code).toBe("NOT_FOUND");
    const hist = await trpcGet(b, "history.list", { satelliteId });
    expect(hist.body.error?.data?.code).toBe("NOT_FOUND");
    const wake = await b.page.request.post("/api/trpc/satellite.wake", { data: { id: satelliteId } });
    expect(wake.status()).toBe(404);
    const list = await trpcGet(b, "satellite.list", { orgId });
    expect(list.body.error?.data?.code).toBe("NOT_FOUND");

    // B's own token, made in the UI, works for B's organization only.
    tokenB = await createToken(b, "bob ci");
    const bearer = { authorization: `Bearer ${tokenB}` };
    const own = await trpcGet(b, "satellite.list", {}, bearer);
    expect(own.status).toBe(200);
    const foreign = await trpcGet(b, "satellite.get", { id: satelliteId }, bearer);
    expect(foreign.body.error?.data?.code).toBe("NOT_FOUND");
    if (!down.proxy) {
      const viaProxy = await healthThroughProxy(proxyAddress, { name: satName, org: orgId, token: tokenB }, 10_000);
      expect(viaProxy.codeName).toBe("NOT_FOUND");
    }
    await b.shot("api-refused");
    expect(b.problems).toEqual([]);
    expect(a.problems).toEqual([]);
  });

  it("deletes the satellite", async () => {
    await a.page.goto(`/satellites/${satelliteId}`);
    await a.page.getByRole("button", { name: "Delete satellite" }).click();
    const dialog = a.page.getByRole("dialog", { name: "Delete this satellite?" });
    const force = dialog.getByRole("checkbox");
    if (await force.count()) await force.check();
    await dialog.getByRole("button", { name: "Delete", exact: true }).click();
    await a.page.waitForURL("**/satellites");
    await a.shot("deleted");
    expect(a.problems).toEqual([]);
  });
});
