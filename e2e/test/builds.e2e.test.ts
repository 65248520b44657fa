// Builds, cache and daemon log in a real Chromium, against an installation whose satellites run
// real BuildKit (buildkit-world.ts): an unmodified buildctl builds through the proxy (behind the
// metadata forwarder, as the Earthly CLI sends the satellite metadata) while the satellite page
// and the Builds page show it running, then finished with its duration, bytes and status; a
// failing build shows as failed, with BuildKit's words for why, and one that filled the disk is
// marked so; Measure shows the cache's size and Reset (confirmed) drops it;
// the daemon's log is shown. Screenshots land in e2e/artifacts/.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import type { Browser } from "playwright-core";
import { startMetadataForwarder, type Forwarder } from "@satellites/testing/metadata-forwarder";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, expect, it } from "vitest";
import { launch, type Watched, watchedPage } from "./browser.ts";
import { type BuildkitWorld, startBuildkitWorld } from "./buildkit-world.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
let world: BuildkitWorld;
let browser: Browser;
let w: Watched;
let forwarder: Forwarder;
let base = "";
let buildctl = "";
let satelliteId = "";
let orgId = "";
const tag = Date.now().toString(36);
const satName = `bk-${tag}`;

async function trpc<T>(method: "get" | "post", proc: string, input: unknown): Promise<T> {
  const res =
    method === "post"
      ? await w.page.request.post(`/api/trpc/${proc}`, { data: input })
      : await w.page.request.get(`/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify(input))}`);
  const body = (await res.json()) as { result?: { data?: T }; error?: unknown };
  if (!res.ok()) throw new Error(`${proc}: ${res.status()} ${JSON.stringify(body.error)}`);
  return body.result!.data!;
}

function buildArgs(dockerfileDir: string): string[] {
  return ["--addr", `tcp://${forwarder.address}`, "build", "--frontend", "dockerfile.v0", "--local", `context=${path.join(base, "ctx")}`, "--local", `dockerfile=${dockerfileDir}`];
}

beforeAll(async () => {
  if (!isRoot) return;
  buildctl = requirePeer("buildkit", "buildctl");
  world = await startBuildkitWorld("builds");
  browser = await launch();
  w = await watchedPage(browser, world.webUrl, "builds");
  await w.page.goto("/sign-up");
  await w.page.getByLabel("Your name").fill("Bea Builder");
  await w.page.getByLabel("Email").fill(`bea-${tag}@example.test`);
  await w.page.getByLabel("Password").fill("correct horse battery");
  await w.page.getByLabel("Organization name").fill("Bea's builds");
  await w.page.getByRole("button", { name: "Create account" }).click();
  await w.page.waitForURL("**/satellites");
  const sat = await trpc<{ id: string; orgId: string }>("post", "satellite.create", { name: satName, size: "small" });
  satelliteId = sat.id;
  orgId = sat.orgId;
  const token = await trpc<{ token: string; orgId: string }>("post", "token.create", { name: "buildctl" });
  forwarder = await startMetadataForwarder(world.proxyAddress, { satellite_name: satName, satellite_org: token.orgId, satellite_token: token.token });
  // The context: 8 MB of random bytes (so bytes sent show), busybox for RUN steps.
  base = await mkdtemp(path.join(tmpdir(), "e2e-builds-"));
  await mkdir(path.join(base, "ctx"));
  await writeFile(path.join(base, "ctx", "big.bin"), randomBytes(8 << 20));
  await copyFile("/usr/bin/busybox", path.join(base, "ctx", "busybox"));
  for (const [name, run_] of [["ok", "/bin/busybox sleep 8; /bin/busybox echo done > /done"], ["fail", "/bin/busybox echo failing on purpose; exit 3"]] as const) {
    await mkdir(path.join(base, name));
    await writeFile(path.join(base, name, "Dockerfile"), ["FROM scratch", "COPY busybox /bin/busybox", "COPY big.bin /big.bin", `RUN ["/bin/busybox", "sh", "-c", "${run_}"]`].join("\n"));
  }
}, 600_000);

afterAll(async () => {
  await forwarder?.close();
  await browser?.close();
  await world?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

it.runIf(isRoot)("a real build through the proxy shows running live, then finished with duration, bytes and status; a failing build shows as failed, and why", async () => {
  await w.page.goto(`/satellites/${satelliteId}`);
  await w.page.locator('h1 [data-state="awake"]').waitFor({ timeout: 120_000 });

  const build: ChildProcess = spawn(buildctl, buildArgs(path.join(base, "ok")), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  build.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => build.once("exit", (code) => r(code)));

  // Running, live on the satellite page (no reload), with its duration counting.
  const running = w.page.locator('table[aria-label="Builds"] tr[data-build-status="running"]');
  await running.first().waitFor({ timeout: 60_000 });
  await w.shot("builds-satellite-running");
  // And on the org-wide Builds page.
  await w.page.goto("/builds");
  await w.page.locator('tr[data-build-status="running"]').first().waitFor({ timeout: 30_000 });
  await w.shot("builds-page-running");

  expect(await exited).toBe(0);
  expect(stderr).toContain("done");
  const succeeded = w.page.locator('tr[data-build-status="succeeded"]');
  await succeeded.first().waitFor({ timeout: 30_000 });
  expect(await w.page.locator('tr[data-build-status="running"]').count()).toBe(0);
  const row = succeeded.first();
  // The RUN step slept 8 s: the build took longer than that; 8 MB of context went up.
  const took = (await row.locator("[data-build-duration]").textContent())!;
  expect(took).toMatch(/^\d+(\.\d)? s$|min/);
  expect(Number.parseFloat(took)).toBeGreaterThanOrEqual(8);
  expect(await row.locator("[data-build-bytes]").textContent()).toMatch(/^(8|9|1\d)(\.\d)? MiB \/ /);
  await expect.poll(async () => row.textContent()).toContain("Succeeded");
  await w.shot("builds-page-finished");

  // A failing RUN: buildctl exits non-zero, the build is shown as failed.
  await expect(run(buildctl, buildArgs(path.join(base, "fail")))).rejects.toThrow(/exit code: 3|did not complete successfully/);
  await w.page.locator('tr[data-build-status="failed"]').first().waitFor({ timeout: 30_000 });
  const failed = w.page.locator('tr[data-build-status="failed"]').first();
  expect(await failed.textContent()).toContain("Failed");
  // Under it, why: BuildKit's own words, as buildctl printed them.
  const why = w.page.locator(`tr[data-build-error-of="${await failed.getAttribute("data-build-id")}"] [data-build-error]`);
  await expect.poll(async () => (await why.count()) && why.textContent(), { timeout: 10_000 }).toMatch(/did not complete successfully: exit code: 3/);
  expect(await w.page.locator("[data-build-disk-full]").count()).toBe(0);
  // The status filter narrows the table to it.
  await w.page.getByLabel("Status").selectOption("failed");
  await expect.poll(async () => w.page.locator("tr[data-build-status]").count()).toBe(1);
  await w.shot("builds-page-failed-filter");
});

it.runIf(isRoot)("with older builds shown, the list is still re-read at one request per 2 s in all, not one per page", async () => {
  const db = new pg.Client({ connectionString: world.databaseUrl });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO "build" ("id", "orgId", "satelliteId", "actor", "actorLabel", "client", "startedAt", "endedAt", "durationMs", "grpcCode", "replica", "seenAt")
       SELECT gen_random_uuid(), $1, $2, 'token:gone', 'buildctl', 'buildctl 0.24.0', now() - make_interval(hours => 24 + i), now() - make_interval(hours => 24 + i) + interval '3 seconds', 3000, 0, 'e2e', now()
       FROM generate_series(1, 45) AS i`,
      [orgId, satelliteId],
    );
  } finally {
    await db.end();
  }
  await w.page.goto(`/satellites/${satelliteId}`);
  const older = w.page.getByRole("button", { name: "Show older builds" });
  for (let shown = 10; shown <= 30; shown += 10) {
    await older.click();
    await expect.poll(async () => w.page.locator("tr[data-build-id]").count(), { timeout: 15_000 }).toBeGreaterThan(shown);
  }
  let reads = 0;
  const count = (r: { url(): string }) => void (new URL(r.url()).pathname.includes("build.list") && reads++);
  w.page.on("request", count);
  await new Promise((r) => setTimeout(r, 8_000));
  w.page.off("request", count);
  // Four pages shown: every 2 s they were four requests each (12 counted in 8 s); now one
  // refetch of four every 8 s, so any 8 s holds at most two of them (8).
  expect(reads).toBeLessThanOrEqual(8);
  expect(w.problems).toEqual([]);
});

/** Makes the satellite's last cache measurement `share` of its disk limit (null: not measured); the limit in GiB. */
async function setCacheShare(share: number | null): Promise<number> {
  const db = new pg.Client({ connectionString: world.databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ limitDiskGiB: number }>(
      `UPDATE "satellite" SET "cacheBytes" = CASE WHEN $2::float8 IS NULL THEN NULL ELSE round($2::float8 * "limitDiskGiB" * 1073741824)::bigint END,
              "cacheMeasuredAt" = CASE WHEN $2::float8 IS NULL THEN NULL ELSE now() END
       WHERE "id" = $1 RETURNING "limitDiskGiB"`,
      [satelliteId, share],
    );
    return rows[0]!.limitDiskGiB;
  } finally {
    await db.end();
  }
}

it.runIf(isRoot)("a build that filled the satellite's disk is marked disk full, with BuildKit's words (or the step's exit code) under it; the mark leads to the cache near its limit, which counts such builds", async () => {
  // The record as the proxy writes it for a real BuildKit out of disk (its words, its status:
  // apps/proxy/test/buildkit-disk-full.test.ts records them from a real buildkitd on a full tmpfs).
  const words = "write /var/lib/satellites/local-0a1b2c3d4e5f/buildkit/runc-overlayfs/snapshots/snapshots/3/fs/big.bin: no space left on device";
  const db = new pg.Client({ connectionString: world.databaseUrl });
  await db.connect();
  const id = randomUUID();
  // A RUN step that filled the disk: its exit code is all BuildKit answers; the proxy marked the
  // record from the step's output (apps/proxy/test/buildkit-disk-full.test.ts, a real one). It
  // had waited 2.4 s for a wake (apps/proxy/test/buildkit-wake.test.ts records real ones).
  const step = randomUUID();
  const stepWords = 'process "/bin/sh -c npm ci" did not complete successfully: exit code: 228';
  try {
    await db.query(
      `INSERT INTO "build" ("id", "orgId", "satelliteId", "actor", "actorLabel", "client", "startedAt", "endedAt", "durationMs", "grpcCode", "error", "stepOutOfSpace", "wakeWaitMs", "replica", "seenAt")
       VALUES ($1, $2, $3, 'token:gone', 'buildctl', 'buildctl 0.24.0', now() - interval '5 seconds', now(), 5000, 8, $4, false, NULL, 'e2e', now()),
              ($5, $2, $3, 'token:gone', 'buildctl', 'buildctl 0.24.0', now() - interval '9 seconds', now() - interval '6 seconds', 3000, 2, $6, true, 2400, 'e2e', now())`,
      [id, orgId, satelliteId, words, step, stepWords],
    );
  } finally {
    await db.end();
  }
  await w.page.goto("/builds");
  const row = w.page.locator(`tr[data-build-id="${id}"]`);
  await row.locator("[data-build-disk-full]").waitFor({ timeout: 30_000 });
  expect(await row.textContent()).toContain("RESOURCE_EXHAUSTED");
  expect(await w.page.locator(`tr[data-build-error-of="${id}"] [data-build-error]`).textContent()).toBe(words);
  // And the RUN step whose output said so, under its exit code; the RUN step that failed with
  // exit code 3 is not a full disk.
  const stepRow = w.page.locator(`tr[data-build-id="${step}"]`);
  await stepRow.locator("[data-build-disk-full]").waitFor({ timeout: 30_000 });
  expect(await w.page.locator(`tr[data-build-error-of="${step}"] [data-build-error]`).textContent()).toBe(stepWords);
  expect(await w.page.locator("[data-build-disk-full]").count()).toBe(2);
  // That build had waited for its satellite to wake, which its duration leaves out: the table
  // says so next to it.
  expect(await stepRow.locator("[data-build-wake-wait]").textContent()).toBe("+ 2.4 s waking");
  expect(await row.locator("[data-build-wake-wait]").count()).toBe(0);
  await w.shot("builds-disk-full");

  // The mark leads to the satellite's build cache, which says how near its disk limit it is.
  const limitGiB = await setCacheShare(0.95);
  await row.locator("[data-build-disk-full]").click();
  await w.page.waitForURL(`**/satellites/${satelliteId}#cache`);
  const card = w.page.getByRole("region", { name: "Build cache" });
  await card.locator('[data-cache-share="95"]').waitFor({ timeout: 30_000 });
  expect(await card.locator("[data-cache-share]").textContent()).toBe(`of ${limitGiB} GiB (95%)`);
  expect(await card.locator("[data-cache-near-limit]").textContent()).toContain("The cache is near its disk limit.");
  // And it counts the builds that ran out of disk lately: the two above.
  await expect.poll(async () => card.locator("[data-cache-out-of-disk]").getAttribute("data-cache-out-of-disk"), { timeout: 30_000 }).toBe("2");
  expect(await card.locator("[data-cache-out-of-disk]").textContent()).toMatch(/^2 builds ran out of disk in the last 7 days \(the last began .+\); they are marked “disk full” under Builds\./);
  await w.shot("cache-near-limit");
  await setCacheShare(null);
  expect(w.problems).toEqual([]);
});

it.runIf(isRoot)("measure the cache, reset it (confirmed) and see the size drop; the daemon's log is shown", async () => {
  await w.page.goto(`/satellites/${satelliteId}`);
  await w.page.locator('h1 [data-state="awake"]').waitFor({ timeout: 60_000 });
  const size = w.page.locator("[data-cache-bytes]");
  await w.page.getByRole("button", { name: "Measure" }).click();
  await expect.poll(async () => Number((await size.getAttribute("data-cache-bytes")) || 0), { timeout: 60_000 }).toBeGreaterThan(8 << 20);
  const before = Number(await size.getAttribute("data-cache-bytes"));
  await w.shot("cache-measured");

  await w.page.getByRole("button", { name: "Reset cache" }).click();
  const dialog = w.page.getByRole("dialog");
  await dialog.getByText("Every cached layer").waitFor();
  await w.shot("cache-reset-confirm");
  await dialog.getByRole("button", { name: "Reset cache" }).click();
  await expect.poll(async () => Number((await size.getAttribute("data-cache-bytes")) ?? before), { timeout: 120_000 }).toBeLessThan(before / 4);
  await w.page.locator("[data-cache-last-reset]").waitFor();
  // Recorded in the history (the events table on the same page).
  await expect.poll(async () => w.page.locator('tr[data-event-cause="manual"]').filter({ hasText: "Cache reset" }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
  await w.shot("cache-reset-done");

  await w.page.getByRole("button", { name: "Show log" }).click();
  await expect.poll(async () => (await w.page.locator("[data-daemon-log]").textContent()) ?? "", { timeout: 30_000 }).toMatch(/buildkit|running server/i);
  await w.shot("daemon-log");
  expect(w.problems).toEqual([]);
});

it.runIf(isRoot)("Connect card (issue 18): issue a certificate, download the bundle shown once, run the card's buildctl setup verbatim: the build goes through the proxy with the certificate alone", async () => {
  const p = w.page;
  await p.goto(`/satellites/${satelliteId}`);
  const card = p.getByRole("region", { name: "Connect with a client certificate" });
  await card.getByLabel("Name").fill("e2e laptop");
  await card.getByRole("button", { name: "Issue certificate" }).click();
  await card.getByText("the private key is shown only once").waitFor({ timeout: 30_000 });
  await w.shot("connect-card-issued");

  // What a person does: save the three downloads into a project folder, then paste the card's
  // lines into a shell there. HOME is the test's own, so the bundle lands in a fresh ~/.satellites.
  const work = await mkdtemp(path.join(tmpdir(), "e2e-connect-"));
  const home = path.join(work, "home");
  const project = path.join(work, "project");
  await mkdir(home);
  await mkdir(project);
  for (const name of ["ca.pem", "client.pem", "client-key.pem"]) {
    const [download] = await Promise.all([p.waitForEvent("download"), card.getByRole("link", { name }).click()]);
    await download.saveAs(path.join(project, name));
  }
  const payload = randomBytes(1 << 20);
  await writeFile(path.join(project, "payload.bin"), payload);
  await writeFile(path.join(project, "Dockerfile"), "FROM scratch\nCOPY payload.bin /payload.bin\n");
  // A snippet: the code block under its label.
  const snippet = async (label: string) => (await card.locator(`div:has(> div > span:text-is("${label}")) > pre`).textContent())!;
  const script = [await snippet("1. Save the bundle"), await snippet("buildctl")].join("\n");
  expect(script).toContain("--tlscert");
  expect(script).not.toMatch(/satellite_token|authorization/i);
  const env = { ...process.env, HOME: home, PATH: `${path.dirname(buildctl)}:${process.env.PATH}` };
  await run("bash", ["-euo", "pipefail", "-c", script], { cwd: project, env, timeout: 180_000 });
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  expect(sha(await readFile(path.join(project, "out", "payload.bin")))).toBe(sha(payload));

  // Shown once: after a reload the key is nowhere on the page; the certificate is listed, and
  // its use shows (written by the proxy when the handshake was verified).
  const listed = card.locator("li", { hasText: "e2e laptop" });
  await expect
    .poll(
      async () => {
        await p.reload();
        return listed.textContent();
      },
      { timeout: 30_000, interval: 1_000 },
    )
    .toMatch(/active.*last used (?!never)/);
  expect(await card.getByRole("link", { name: "client-key.pem" }).count()).toBe(0);
  expect(await p.content()).not.toContain("PRIVATE KEY");
  await w.shot("connect-card-after-reload");

  // Revoking asks first; confirmed, the certificate no longer builds.
  await card.getByRole("button", { name: "Revoke certificate e2e laptop" }).click();
  await p.getByRole("dialog").getByText(/Clients using it are refused from now on/).waitFor();
  await p.getByRole("dialog").getByRole("button", { name: "Revoke certificate" }).click();
  await listed.getByText("revoked").waitFor();
  // The card's build line again (the bundle's files are in place already).
  const build = script.slice(script.indexOf("buildctl --addr"));
  await expect(run("bash", ["-euo", "pipefail", "-c", build], { cwd: project, env, timeout: 60_000 })).rejects.toThrow(/Unauthenticated: client certificate revoked/);
  await rm(work, { recursive: true, force: true });
  expect(w.problems).toEqual([]);
}, 300_000);

it.runIf(isRoot)("a RUN step killed for memory: the build fails, the Builds page marks it out of memory, the history says what was killed at which limit", async () => {
  const before = await trpc<{ limits: { memoryMiB: number } }>("get", "satellite.get", { id: satelliteId });
  await trpc("post", "satellite.setLimits", { id: satelliteId, limits: { memoryMiB: 256 } });
  await expect.poll(async () => (await trpc<{ limitsPending: boolean }>("get", "satellite.get", { id: satelliteId })).limitsPending, { timeout: 30_000 }).toBe(false);
  // dd fills a 400 MiB buffer, against the 256 MiB limit with no swap.
  await mkdir(path.join(base, "oom"));
  await writeFile(path.join(base, "oom", "Dockerfile"), ["FROM scratch", "COPY busybox /bin/busybox", 'RUN ["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1"]'].join("\n"));
  await expect(run(buildctl, buildArgs(path.join(base, "oom")))).rejects.toThrow(/exit code: 137|signal: killed/);

  await w.page.goto("/builds");
  const marked = w.page.locator('tr[data-build-status="failed"] [data-build-memory-kills]');
  await marked.first().waitFor({ timeout: 30_000 });
  expect(await marked.count()).toBe(1);
  await w.shot("builds-out-of-memory");
  await w.page.goto(`/satellites/${satelliteId}`);
  const event = w.page.locator('tr[data-event-cause="memory"]');
  await expect.poll(async () => (await event.count()) > 0 && (await event.first().textContent()), { timeout: 30_000 }).toMatch(/Out of memory: killed busybox, at the 256 MiB memory limit during a build/);
  await w.shot("history-out-of-memory");
  await trpc("post", "satellite.setLimits", { id: satelliteId, limits: { memoryMiB: before.limits.memoryMiB } });
  expect(w.problems).toEqual([]);
}, 180_000);
