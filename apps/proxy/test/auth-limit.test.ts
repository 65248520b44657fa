// The failed-authentication limiter: one budget shared by every proxy replica (Redis), never a
// refusal for a valid token (not even one from the abuser's own address, mid-flood), failures
// also counted per claimed satellite across addresses, memory standing in while Redis is away,
// and refusals logged as counts per interval rather than a line per call.
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { makeOrg, testDb } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthFailureLimiter, limiterConnection } from "../src/auth-limiter.ts";
import { authMetadata, awakeSatellite, dropQueueKeys, makeToken, testClient, unaryStatus, uniquePrefix, type TestClient } from "./helpers.ts";
import { startProxyProcess, type Proc } from "./processes.ts";

const db = testDb();
const prefix = uniquePrefix();
const PER_ADDRESS = 6;
let backend: Backend;
let proxies: Array<Proc & { port: number }> = [];
let clients: TestClient[] = [];
let org: { id: string };
let sat: { name: string };
let startedAt = 0;
const LOG_INTERVAL_MS = 500;

beforeAll(async () => {
  // The proxy processes speak mutual TLS to satellites: the fixture has a certificate from their CA.
  backend = await startBackend({ log: () => {}, tls: await fixtureSatelliteTls() });
  const env = { QUEUE_PREFIX: prefix, PROXY_AUTH_FAILURES_PER_ADDRESS: String(PER_ADDRESS), PROXY_AUTH_FAILURES_PER_SATELLITE: "100000", PROXY_AUTH_LOG_INTERVAL_MS: String(LOG_INTERVAL_MS), LOG_LEVEL: "info" };
  startedAt = Date.now();
  proxies = await Promise.all([startProxyProcess(env), startProxyProcess(env)]);
  clients = proxies.map((p) => testClient(`127.0.0.1:${p.port}`));
  org = await makeOrg(db, "limits");
  sat = await awakeSatellite(db, org.id, backend.address);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(proxies.map((p) => p.stop()));
  await backend?.close({ graceMs: 100 });
  await dropQueueKeys(prefix);
  await db.$disconnect();
});

const badToken = () => authMetadata(sat.name, org.id, "sat_" + "0".repeat(32));

/** The aggregate lines a proxy process logged for failed authentications. */
function aggregateLines(p: Proc): Array<{ failed: number; refused: number; addresses: number }> {
  return p
    .output()
    .split("\n")
    .filter((l) => l.includes('"failed authentications"'))
    .map((l) => JSON.parse(l) as { failed: number; refused: number; addresses: number });
}

describe("failed-authentication limiter", () => {
  it("two proxy replicas share one budget per address; a valid token is never refused, even mid-flood from the same address", async () => {
    const [a, b] = clients as [TestClient, TestClient];
    const codes: number[] = [];
    // Half the budget through each replica: neither alone is over it.
    for (let i = 0; i < PER_ADDRESS / 2; i++) {
      codes.push((await unaryStatus(a, "EmptyCall", {}, badToken())).code);
      codes.push((await unaryStatus(b, "EmptyCall", {}, badToken())).code);
    }
    expect(codes).toEqual(Array(PER_ADDRESS).fill(grpc.status.UNAUTHENTICATED));
    // Spent: both replicas now refuse this address's failures.
    for (const c of [a, b]) {
      const s = await unaryStatus(c, "EmptyCall", {}, badToken());
      expect(s.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(s.details).toMatch(/^too many failed authentications from this address; retry in \d+ s$/);
    }

    // The abuser floods on; a colleague behind the same address (127.0.0.1) builds meanwhile,
    // with a token neither replica has seen yet.
    const valid = (await makeToken(db, org.id)).token;
    const flood = Array.from({ length: 200 }, (_, i) => unaryStatus(clients[i % 2]!, "EmptyCall", {}, badToken()));
    const legit = Array.from({ length: 20 }, (_, i) => unaryStatus(clients[i % 2]!, "EmptyCall", {}, authMetadata(sat.name, org.id, valid)));
    const floodCodes = (await Promise.all(flood)).map((s) => s.code);
    expect(new Set(floodCodes)).toEqual(new Set([grpc.status.RESOURCE_EXHAUSTED]));
    expect((await Promise.all(legit)).map((s) => s.code)).toEqual(Array(20).fill(grpc.status.OK));
  });

  it("failures are logged as counts per interval, not a line per call", async () => {
    // Everything the previous test sent: 6 + 2 + 200 failures across both replicas.
    const total = PER_ADDRESS + 2 + 200;
    const sum = () => proxies.flatMap(aggregateLines).reduce((n, l) => n + l.failed, 0);
    const end = Date.now() + 5000;
    while (sum() < total && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const lines = proxies.flatMap(aggregateLines);
    expect(sum()).toBe(total);
    expect(lines.reduce((n, l) => n + l.refused, 0)).toBe(202);
    // At most one line per interval per replica (208 failures were sent), each with counts.
    const intervals = Math.ceil((Date.now() - startedAt) / LOG_INTERVAL_MS) + 1;
    for (const p of proxies) expect(aggregateLines(p).length).toBeLessThanOrEqual(intervals);
    expect(lines.length).toBeLessThan(total / 4);
    for (const l of lines) expect(l.failed).toBeGreaterThan(0);
    for (const p of proxies) expect(p.output()).not.toContain('"call refused"');
  });
});

// Calls with no credentials, or a token not even shaped like one, were refused before the
// budget was asked: never RESOURCE_EXHAUSTED, and one log line per call at the default level.
describe("calls without usable credentials", () => {
  let proxy: Proc & { port: number };
  let client: TestClient;
  const ownPrefix = uniquePrefix();

  beforeAll(async () => {
    proxy = await startProxyProcess({ QUEUE_PREFIX: ownPrefix, PROXY_AUTH_FAILURES_PER_ADDRESS: String(PER_ADDRESS), PROXY_AUTH_LOG_INTERVAL_MS: String(LOG_INTERVAL_MS), LOG_LEVEL: "info" });
    client = testClient(`127.0.0.1:${proxy.port}`);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await proxy?.stop();
    await dropQueueKeys(ownPrefix);
  });

  it("spend the address's budget like wrong tokens, and are counted, not logged one by one", async () => {
    const none = new grpc.Metadata();
    const malformed = authMetadata(sat.name, org.id, "not-a-token");
    const codes: number[] = [];
    for (let i = 0; i < PER_ADDRESS; i++) codes.push((await unaryStatus(client, "EmptyCall", {}, i % 2 ? none : malformed)).code);
    expect(codes).toEqual(Array(PER_ADDRESS).fill(grpc.status.UNAUTHENTICATED));
    const over = await unaryStatus(client, "EmptyCall", {}, none);
    expect(over.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await expect.poll(() => aggregateLines(proxy).reduce((n, l) => n + l.failed, 0), { timeout: 5000 }).toBe(PER_ADDRESS + 1);
    expect(proxy.output()).not.toContain('"call refused"');
  });
});

describe("AuthFailureLimiter", () => {
  const opts = (keyPrefix: string) => ({ perAddress: 1000, perSatellite: 4, windowSeconds: 60, keyPrefix });

  it("counts failures per claimed satellite across addresses, without touching other satellites", async () => {
    const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    const keyPrefix = uniquePrefix();
    try {
      await new Promise((r) => redis.once("ready", r));
      const limiter = new AuthFailureLimiter(redis, opts(keyPrefix));
      const verdicts = [];
      for (let i = 0; i < 5; i++) verdicts.push(await limiter.failed(`10.0.0.${i}`, "org-1", "sat-1"));
      expect(verdicts.slice(0, 4).every((v) => !v.refused)).toBe(true);
      expect(verdicts[4]).toMatchObject({ refused: true, by: "satellite" });
      expect(await limiter.failed("10.0.0.9", "org-1", "sat-2")).toEqual({ refused: false });
    } finally {
      await dropQueueKeys(keyPrefix);
      redis.disconnect();
    }
  });

  // Connected but not answering (a partition, a stalled Redis: here CLIENT PAUSE): only a
  // connection that was never ready fell back; a failing call waited for Redis indefinitely.
  it("answers while a connected Redis stalls, counting in memory", async () => {
    const redis = limiterConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    const admin = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    try {
      await new Promise((r) => redis.once("ready", r));
      const limiter = new AuthFailureLimiter(redis, { ...opts(uniquePrefix()), perAddress: 2 });
      await admin.call("CLIENT", "PAUSE", "4000", "ALL");
      const answered = Promise.all([limiter.failed("10.2.0.1", "o", "s"), limiter.failed("10.2.0.1", "o", "s"), limiter.failed("10.2.0.1", "o", "s")]);
      const paused = new Promise<"still paused">((r) => setTimeout(() => r("still paused"), 3000));
      const verdicts = await Promise.race([answered, paused]);
      expect(verdicts).not.toBe("still paused");
      expect((verdicts as Array<{ refused: boolean }>).map((v) => v.refused)).toEqual([false, false, true]);
    } finally {
      await admin.call("CLIENT", "UNPAUSE");
      admin.disconnect();
      redis.disconnect();
    }
  });

  it("keeps counting in memory while Redis does not answer", async () => {
    // Nothing listens on port 1: the connection is never ready.
    const down = new Redis("redis://127.0.0.1:1", { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 1000 });
    down.on("error", () => {});
    try {
      const limiter = new AuthFailureLimiter(down, { ...opts("unused"), perAddress: 2 });
      const at = Date.now();
      const verdicts = [await limiter.failed("10.1.0.1", "o", "s"), await limiter.failed("10.1.0.1", "o", "s"), await limiter.failed("10.1.0.1", "o", "s")];
      expect(verdicts.map((v) => v.refused)).toEqual([false, false, true]);
      expect(Date.now() - at).toBeLessThan(500);
    } finally {
      down.disconnect();
    }
  });
});
