// The web process as the open internet meets it (issue 13): security headers on every
// response, a client cannot choose its own address (server.mjs stamps the TCP peer),
// `next` cannot lead off-site after sign-in, and 100 MB bodies are refused without the
// process growing by them.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createDb } from "@satellites/db";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "@satellites/testing";
import { launch, watchedPage } from "./browser.ts";

const webUrl = inject("webUrl");
const db = createDb(inject("databaseUrl"));
const run = Date.now().toString(36);
let browser: Browser;

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  await db.$disconnect();
});

/** The `node server.mjs` process serving webUrl (npm and sh stand between it and the setup). */
function webPid(): number {
  const port = new URL(webUrl).port;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("server.mjs")) continue;
      if (readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`WEB_PORT=${port}`)) return Number(pid);
    } catch {
      // gone, or not ours
    }
  }
  throw new Error(`no server.mjs process serves ${webUrl}`);
}
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

describe("security headers", () => {
  it.each(["/sign-in", "/api/health", "/icon.svg"])("%s is never framed, sniffed or leaked", async (path) => {
    const res = await fetch(`${webUrl}${path}`);
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
    // PUBLIC_URL is http here: no HSTS.
    expect(res.headers.get("strict-transport-security")).toBeNull();
  });

  it("HSTS is sent when PUBLIC_URL is https", async () => {
    const port = await freePort();
    const webDir = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../apps/web");
    const env = { ...process.env, NODE_ENV: "production", WEB_PORT: String(port), PUBLIC_URL: "https://satellites.example", DATABASE_URL: inject("databaseUrl"), AUTH_SECRET: "e2e-hsts-secret-e2e-hsts-secret-e2e-hsts" };
    const child = spawn(process.execPath, ["server.mjs"], { cwd: webDir, env, stdio: "ignore" });
    try {
      let res: Response | undefined;
      for (let i = 0; i < 120 && !res; i++) res = await fetch(`http://127.0.0.1:${port}/icon.svg`).catch(() => new Promise<undefined>((r) => setTimeout(r, 250)));
      expect(res?.headers.get("strict-transport-security")).toBe("max-age=63072000; includeSubDomains");
      expect(res?.headers.get("x-frame-options")).toBe("DENY");
    } finally {
      child.kill("SIGTERM");
    }
  });

  it("a page that frames the dashboard gets nothing", async () => {
    const w = await watchedPage(browser, webUrl, "frame");
    await w.page.setContent(`<iframe id="f" src="${webUrl}/sign-in"></iframe>`);
    await w.page.waitForTimeout(1500);
    const frame = w.page.frames().find((f) => f.url().includes("/sign-in"));
    const framedHeading = frame ? await frame.locator("h1").count().catch(() => 0) : 0;
    expect(framedHeading).toBe(0);
    await w.context.close();
  });
});

describe("client address", () => {
  it("a client's own x-satellites-peer and X-Forwarded-For are ignored: the session records the TCP peer", async () => {
    const email = `peer-${run}@example.test`;
    const res = await fetch(`${webUrl}/api/auth/sign-up/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: webUrl, "x-satellites-peer": "203.0.113.9", "x-forwarded-for": "198.51.100.1" },
      body: JSON.stringify({ name: "Peer", email, password: "peer password 1" }),
    });
    expect(res.status).toBe(200);
    const session = await db.session.findFirst({ where: { user: { email } } });
    expect(session?.ipAddress).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });
});

describe("sign-in redirect", () => {
  it.each(["/%5Cevil.example/x", "/%09/evil.example/x", "//evil.example", "https://evil.example", "javascript:alert(1)"])("next=%s stays on this site", async (next) => {
    const email = `next-${run}-${Math.random().toString(36).slice(2, 7)}@example.test`;
    const up = await fetch(`${webUrl}/api/auth/sign-up/email`, { method: "POST", headers: { "content-type": "application/json", origin: webUrl }, body: JSON.stringify({ name: "Next", email, password: "next password 1" }) });
    expect(up.status).toBe(200);
    const w = await watchedPage(browser, webUrl, "next");
    await w.page.goto(`/sign-in?next=${next}`);
    await w.page.getByLabel("Email").fill(email);
    await w.page.getByLabel("Password").fill("next password 1");
    await w.page.getByRole("button", { name: "Sign in" }).click();
    await w.page.waitForURL((u) => !u.pathname.startsWith("/sign-in"), { timeout: 30_000 });
    expect(new URL(w.page.url()).origin).toBe(new URL(webUrl).origin);
    await w.context.close();
  });
});

describe("sign-up under SIGNUP_POLICY=domains", () => {
  it("an address not verified yet lands on set-up told why its organization waits, with its name kept and the mail to resend", async () => {
    // Not the instance's first account (which may always create one).
    const first = await fetch(`${webUrl}/api/auth/sign-up/email`, { method: "POST", headers: { "content-type": "application/json", origin: webUrl }, body: JSON.stringify({ name: "Earlier", email: `earlier-${run}@example.test`, password: "earlier password 1" }) });
    expect(first.status).toBe(200);
    // A second web process, as the one under test but for its policy.
    const environ = readFileSync(`/proc/${webPid()}/environ`, "utf8").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const webDir = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../apps/web");
    const env = { ...Object.fromEntries(environ), WEB_PORT: String(port), PUBLIC_URL: url, SIGNUP_POLICY: "domains", SIGNUP_DOMAINS: "domains.example" };
    const child = spawn(process.execPath, ["server.mjs"], { cwd: webDir, env, stdio: "ignore" });
    try {
      let up: Response | undefined;
      for (let i = 0; i < 120 && !up; i++) up = await fetch(`${url}/icon.svg`).catch(() => new Promise<undefined>((r) => setTimeout(r, 250)));
      const w = await watchedPage(browser, url, "domains");
      await w.page.goto("/sign-up");
      await w.page.getByLabel("Your name").fill("Dora Domains");
      await w.page.getByLabel("Email").fill(`dora-${run}@domains.example`);
      await w.page.getByLabel("Password").fill("domains password 1");
      await w.page.getByLabel("Organization name").fill("Dora's builds");
      w.expect(403, /\/api\/trpc\/org\.create/);
      await w.page.getByRole("button", { name: "Create account" }).click();
      await w.page.waitForURL(/\/onboarding/);
      await w.page.getByText("You cannot create an organization yet").waitFor();
      await w.page.getByText(/Verify your email address first/).waitFor();
      await expect(w.page.getByLabel("Organization name").inputValue()).resolves.toBe("Dora's builds");
      await w.page.getByRole("button", { name: "Send the verification mail again" }).waitFor();
      await w.shot("domains-onboarding");
      expect(w.problems).toEqual([]);
      await w.context.close();
    } finally {
      child.kill("SIGTERM");
    }
  });
});

describe("Earthly REST paths not served", () => {
  it("answer 404 in the CLI's error shape ({message}), saying what is offered, not the dashboard's HTML page", async () => {
    for (const [method, p, said] of [
      ["GET", "/api/v0/account/tokens", /tokens are listed, made and revoked in the dashboard/],
      ["DELETE", "/api/v0/account/token/ci", /tokens are listed, made and revoked in the dashboard/],
      ["GET", "/api/v0/projects/acme", /GET \/api\/v0\/projects\/acme is not offered by this Satellites installation/],
      ["PUT", "/api/v0/account/keys/ssh-ed25519", /is not offered by this Satellites installation/],
    ] as const) {
      const res = await fetch(`${webUrl}${p}`, { method, headers: { authorization: "Bearer nothing" } });
      expect(res.status, p).toBe(404);
      expect(res.headers.get("content-type"), p).toMatch(/^application\/json/);
      expect(((await res.json()) as { message: string }).message, p).toMatch(said);
    }
  });
});

describe("request bodies", () => {
  it("four 100 MB bodies to auth and four to tRPC: all 413, the web process does not grow by them", async () => {
    const pid = webPid();
    // Warm both routes first so their first-use cost is not counted.
    await fetch(`${webUrl}/api/auth/update-user`, { method: "POST", headers: { "content-type": "application/json", origin: webUrl }, body: "{}" });
    await fetch(`${webUrl}/api/trpc/org.create`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const before = rssOf(pid);
    const hundredMB = new Uint8Array(100 * 1024 * 1024).fill(0x61);
    const streamed = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let at = 0; at < hundredMB.byteLength; at += 1 << 20) c.enqueue(hundredMB.subarray(at, at + (1 << 20)));
          c.close();
        },
      });
    const send = (path: string, chunked: boolean) =>
      fetch(`${webUrl}${path}`, { method: "POST", headers: { "content-type": "application/json", origin: webUrl }, body: chunked ? streamed() : hundredMB, duplex: "half" } as RequestInit)
        .then(async (r) => ({ status: r.status, text: await r.text() }))
        // The server may close before it has read everything it was sent: that is the point.
        .catch((e: Error) => ({ status: 0, text: e.message }));
    const results = await Promise.all([...[0, 1, 2, 3].map(() => send("/api/auth/update-user", false)), ...[0, 1, 2, 3].map((i) => send("/api/trpc/org.create", i % 2 === 0))]);
    const after = rssOf(pid);
    const answered = results.filter((r) => r.status !== 0);
    expect(answered.length).toBeGreaterThan(0);
    for (const r of answered) {
      expect(r.status).toBe(413);
      expect(r.text).toContain("body: the request body must be at most");
    }
    // Measured on the project's machines: +10 to +35 MB for 800 MB offered.
    expect(after - before, `web RSS ${Math.round(before / 2 ** 20)} MiB → ${Math.round(after / 2 ** 20)} MiB`).toBeLessThan(128 * 1024 * 1024);
    const health = await fetch(`${webUrl}/api/health`);
    expect(health.status).toBeLessThan(500);
  });
});
