// Wake on request, with the jobs worker's part played by the test itself (starting → awake),
// so the proxy's side of the contract is checked in isolation: one wake across replicas,
// waiting on announcements, deadlines, the ceiling, and calls that arrive while stopping.
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { leaseKey } from "@satellites/queue";
import { announce, announceAddress, StateWatcher, transition, transitionById } from "@satellites/state";
import { makeOrg, testDatabaseUrl, testDb } from "@satellites/testing";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseGrpcTimeout } from "../src/grpc.ts";
import { asleepSatellite, authMetadata, awakeSatellite, dropQueueKeys, echo, makeToken, rawUpstream, startTestProxy, testClient, unaryStatus, uniquePrefix } from "./helpers.ts";

const db = testDb();
let backend: Backend;
let watcher: StateWatcher;
let redis: Redis;
let org: { id: string };
let token: string;
const prefix = uniquePrefix();
let proxies: Array<Awaited<ReturnType<typeof startTestProxy>>> = [];
/** The first replica's log lines at info level (its wake releases). */
const logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  watcher = await StateWatcher.start(testDatabaseUrl());
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  org = await makeOrg(db);
  token = (await makeToken(db, org.id)).token;
  // Two replicas sharing one queue namespace, as in production.
  const logger = pino({ level: "info" }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  proxies = [await startTestProxy({ queuePrefix: prefix, leases: { lingerMs: 200, refreshMs: 300 }, logger }), await startTestProxy({ queuePrefix: prefix })];
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close({ graceMs: 200 })));
  await watcher?.close();
  redis?.disconnect();
  await backend?.close({ graceMs: 100 });
  await dropQueueKeys(prefix);
});

/** Plays the jobs worker: every time the satellite enters `starting`, finish the wake after `delayMs`. */
function autoWake(satelliteId: string, upstream: string, delayMs: number): () => void {
  return watcher.subscribe((c) => {
    if (c.id !== satelliteId || c.to !== "starting") return;
    setTimeout(() => void transitionById(db, satelliteId, "starting", { to: "awake", cause: "request", actor: "system", set: { upstream } }), delayMs);
  });
}

async function starts(satelliteId: string): Promise<number> {
  return db.satelliteEvent.count({ where: { satelliteId, from: "asleep", to: "starting" } });
}

it("many concurrent calls on two replicas → one wake, every call served", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  const stop = autoWake(sat.id, backend.address, 200);
  const clients = [0, 1, 2, 3].map((i) => testClient(`127.0.0.1:${proxies[i % 2]!.port}`));
  try {
    const calls = Array.from({ length: 200 }, (_, i) => unaryStatus(clients[i % 4]!, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 30_000 }));
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.code !== grpc.status.OK)).toEqual([]);
    expect(await starts(sat.id)).toBe(1);
    // Each replica says where its share of the wake went, in ms from the probe passing (bench:wake's timeline).
    const released = logLines.filter((l) => l.msg === "wake released the calls held for it" && l.satellite === sat.id);
    expect(released).toHaveLength(1);
    const { heardMs, connectedMs, forwardedMs } = released[0] as { heardMs: number; connectedMs: number; forwardedMs: number };
    expect(heardMs).toBeGreaterThanOrEqual(0);
    expect(connectedMs).toBeGreaterThanOrEqual(heardMs);
    expect(forwardedMs).toBeGreaterThanOrEqual(connectedMs);
    expect(forwardedMs).toBeLessThan(10_000);
  } finally {
    stop();
    clients.forEach((c) => c.close());
  }
});

it("the caller's deadline ends the wait with DEADLINE_EXCEEDED; the ceiling with UNAVAILABLE", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  const short = await startTestProxy({ queuePrefix: prefix }, { PROXY_WAKE_TIMEOUT_MS: "1000" });
  const shortClient = testClient(`127.0.0.1:${short.port}`);
  try {
    const d = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 500 });
    expect(d.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const u = await unaryStatus(shortClient, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 });
    expect(u.code).toBe(grpc.status.UNAVAILABLE);
    expect(u.details).toMatch(/did not wake/);
  } finally {
    client.close();
    shortClient.close();
    await short.close({ graceMs: 100 });
  }
});

it("a call during `stopping` waits and is served after the wake that follows", async () => {
  let sat = await awakeSatellite(db, org.id, backend.address);
  sat = (await transition(db, { satellite: sat, to: "stopping", cause: "idle", actor: "system" })).satellite!;
  const stop = autoWake(sat.id, backend.address, 50);
  const client = testClient(`127.0.0.1:${proxies[1]!.port}`);
  try {
    const pending = unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 });
    // The proxy records that a wake is wanted; then the sleep finishes (as the sleep job would).
    for (let i = 0; i < 200 && !(await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).wakeRequested; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).wakeRequested).toBe(true);
    await transitionById(db, sat.id, "stopping", { to: "asleep", cause: "idle", actor: "system" });
    expect((await pending).code).toBe(grpc.status.OK);
    expect(await starts(sat.id)).toBe(1);
  } finally {
    stop();
    client.close();
  }
});

// Postgres hands an announcement to the LISTEN connection a moment after its commit: the `awake`
// of the wake before last, committed just before this sleep, can reach a replica whose calls are
// already waiting for the next wake. Its address is that of a machine since put to sleep (or gone).
it("an `awake` older than the asleep satellite the calls wait for, delivered late, does not release them", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  let decoyConnections = 0;
  const decoy = net.createServer((s) => {
    decoyConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => decoy.listen(0, "127.0.0.1", r));
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const pending = unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 });
    for (let i = 0; i < 200 && (await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).state !== "starting"; i++) await new Promise((r) => setTimeout(r, 20));
    // The awake before this sleep (awake → stopping → asleep), with an address no longer its.
    const stale = { id: sat.id, orgId: org.id, from: "starting" as const, to: "awake" as const, version: sat.version - 2, cause: "request" as const, at: new Date(Date.now() - 5_000).toISOString(), upstream: `127.0.0.1:${(decoy.address() as net.AddressInfo).port}` };
    await db.$transaction((tx) => announce(tx, stale));
    await new Promise((r) => setTimeout(r, 300));
    await transitionById(db, sat.id, "starting", { to: "awake", cause: "request", actor: "system", set: { upstream: backend.address } });
    expect((await pending).code).toBe(grpc.status.OK);
    expect(decoyConnections).toBe(0);
  } finally {
    client.close();
    await new Promise((r) => decoy.close(r));
  }
});

// The same late delivery after the wake: the `asleep` of the sleep before it reaches the replica
// once calls are flowing on a connection to the awake satellite. Cutting that connection (as an
// `asleep` must) would end every open call with UNAVAILABLE, though the satellite is awake.
it("an `asleep` older than the awake the connection was made for, delivered late, leaves its open calls alone", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  await transitionById(db, sat.id, "asleep", { to: "starting", cause: "request", actor: "system" });
  await transitionById(db, sat.id, "starting", { to: "awake", cause: "request", actor: "system", set: { upstream: backend.address } });
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, { payload?: { body: Buffer } }>)(authMetadata(sat.name, org.id, token));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => {}); // the status says it
    const pingPong = async (size: number) => {
      const next = new Promise<{ payload?: { body: Buffer } }>((resolve) => call.once("data", resolve));
      call.write({ response_parameters: [{ size }] });
      const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer within 5 s")), 5_000).unref());
      return (await Promise.race([next, late])).payload?.body.length;
    };
    expect(await pingPong(7)).toBe(7);
    // The sleep before this wake (stopping → asleep), heard now.
    await db.$transaction((tx) => announce(tx, { id: sat.id, orgId: org.id, from: "stopping", to: "asleep", version: sat.version, cause: "idle", at: new Date(Date.now() - 5_000).toISOString() }));
    await new Promise((r) => setTimeout(r, 300));
    expect(await pingPong(9)).toBe(9);
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
  } finally {
    client.close();
  }
});

// A call whose token is revoked while it waits for the wake is ended when the wake releases it,
// before anything goes upstream. Ended there, its lease (and upstream slot) must be given back:
// a lease kept renewing held the satellite awake until the proxy restarted.
it("a call whose token is revoked during the wake is refused, and gives its lease back", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  const doomed = await makeToken(db, org.id);
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const pending = unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, doomed.token), { deadline: Date.now() + 20_000 });
    await expect.poll(async () => (await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).state, { timeout: 5_000 }).toBe("starting");
    await db.apiToken.update({ where: { id: doomed.id }, data: { revokedAt: new Date() } });
    await new Promise((r) => setTimeout(r, 500));
    await transitionById(db, sat.id, "starting", { to: "awake", cause: "request", actor: "system", set: { upstream: backend.address } });
    const s = await pending;
    expect(s.code).toBe(grpc.status.UNAUTHENTICATED);
    await expect.poll(() => redis.zscore(leaseKey(sat.id), proxies[0]!.replicaId), { timeout: 5_000 }).toBeNull();
  } finally {
    client.close();
  }
});

// Node runs a timer longer than 2³¹−1 ms (24.8 days) after 1 ms: a call with a year's
// deadline was answered DEADLINE_EXCEEDED at once while its satellite woke.
it("a deadline a year away waits for the wake like none", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  const stop = autoWake(sat.id, backend.address, 400);
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 365 * 24 * 3600_000 });
    expect(s.code).toBe(grpc.status.OK);
  } finally {
    stop();
    client.close();
  }
});

it("the forwarded grpc-timeout is what remains after the wake wait", async () => {
  const raw = await rawUpstream((s) => echo(s.stream));
  const sat = await asleepSatellite(db, org.id, raw.address);
  const stop = autoWake(sat.id, raw.address, 400);
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 });
    // The recorder answers with no message, which grpc-js reports as an error of its own; it got there.
    expect(s.code).not.toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(raw.streams.length).toBe(1);
    const forwarded = parseGrpcTimeout(String(raw.streams[0]!.headers["grpc-timeout"]));
    expect(forwarded).toBeDefined();
    expect(forwarded!).toBeLessThan(20_000 - 350);
    expect(forwarded!).toBeGreaterThan(10_000);
  } finally {
    stop();
    client.close();
    await raw.close();
  }
});

it("calls released by a wake go out together on one connection, past 100 streams when the satellite sets no limit", async () => {
  // Node's HTTP/2 server, like grpc-go's, names no MAX_CONCURRENT_STREAMS: there is no limit.
  const raw = await rawUpstream((s) => echo(s.stream));
  const sat = await asleepSatellite(db, org.id, raw.address);
  const stop = autoWake(sat.id, raw.address, 300);
  const clients = [0, 1, 2].map(() => testClient(`127.0.0.1:${proxies[0]!.port}`));
  try {
    await Promise.all(Array.from({ length: 300 }, (_, i) => unaryStatus(clients[i % 3]!, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 })));
    expect(raw.streams).toHaveLength(300);
    expect(new Set(raw.streams.map((s) => s.session)).size).toBe(1);
  } finally {
    stop();
    clients.forEach((c) => c.close());
    await raw.close();
  }
});

it("a storm's held calls go out a batch per turn: the first are answered before the last reach the satellite", async () => {
  // Let go all in one turn, every call reached the satellite before any caller heard back.
  const events: Array<"arrived" | "answered"> = [];
  const raw = await rawUpstream((s) => {
    events.push("arrived");
    echo(s.stream);
  });
  const sat = await asleepSatellite(db, org.id, raw.address);
  const stop = autoWake(sat.id, raw.address, 300);
  const clients = [0, 1, 2].map(() => testClient(`127.0.0.1:${proxies[0]!.port}`));
  try {
    const calls = Array.from({ length: 300 }, (_, i) =>
      unaryStatus(clients[i % 3]!, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 }).then((r) => {
        events.push("answered");
        return r.code;
      }),
    );
    expect(new Set(await Promise.all(calls))).toEqual(new Set([grpc.status.OK]));
    expect(raw.streams).toHaveLength(300);
    expect(events.indexOf("answered")).toBeLessThan(events.lastIndexOf("arrived"));
  } finally {
    stop();
    clients.forEach((c) => c.close());
    await raw.close();
  }
});

it("a wake that fails → UNAVAILABLE with the reason", async () => {
  const sat = await asleepSatellite(db, org.id, backend.address);
  const unsub = watcher.subscribe((c) => {
    if (c.id === sat.id && c.to === "starting") void transitionById(db, sat.id, "starting", { to: "failed", cause: "failure", actor: "system", set: { failureReason: "no capacity in the zone" } });
  });
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 });
    expect(s.code).toBe(grpc.status.UNAVAILABLE);
    expect(s.details).toContain("no capacity in the zone");
  } finally {
    unsub();
    client.close();
  }
});

it("holds a lease while a stream is open and releases it after the linger", async () => {
  const sat = await awakeSatellite(db, org.id, backend.address);
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(authMetadata(sat.name, org.id, token));
    const first = new Promise((r) => call.once("data", r));
    call.write({ response_parameters: [{ size: 1 }] });
    await first;
    expect(await redis.zscore(leaseKey(sat.id), proxies[0]!.replicaId)).not.toBeNull();
    const ended = new Promise((r) => call.on("status", r));
    call.end();
    await ended;
    for (let i = 0; i < 100 && (await redis.zscore(leaseKey(sat.id), proxies[0]!.replicaId)) !== null; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await redis.zscore(leaseKey(sat.id), proxies[0]!.replicaId)).toBeNull();
    expect((await db.satellite.findUniqueOrThrow({ where: { id: sat.id } })).lastActivityAt).not.toBeNull();
  } finally {
    client.close();
  }
});

/**
 * Plays the jobs worker with an address hint: on `starting`, announce `hinted` (after provider
 * start, before the probe), give the replicas up to 3 s to connect (the probe's time), then end
 * the wake as `to`. Returns how many connections `connections()` counted just before that commit
 * (connections up: a real probe takes long enough for that; one not up yet is raced at `awake`).
 */
function hintedWake(satelliteId: string, hinted: string, connections: () => number, to: { to: "awake"; upstream: string } | { to: "failed"; reason: string }) {
  const seen = { beforeCommit: -1 };
  const unsub = watcher.subscribe((c) => {
    if (c.id !== satelliteId || c.to !== "starting") return;
    void (async () => {
      await announceAddress(db, { id: satelliteId, upstream: hinted });
      for (let i = 0; i < 60 && connections() === 0; i++) await new Promise((r) => setTimeout(r, 50));
      seen.beforeCommit = connections();
      const end = to.to === "awake" ? { to: "awake" as const, cause: "request" as const, set: { upstream: to.upstream } } : { to: "failed" as const, cause: "failure" as const, set: { failureReason: to.reason } };
      await transitionById(db, satelliteId, "starting", { ...end, actor: "system" });
    })();
  });
  return { seen, stop: unsub };
}

/** An asleep satellite on its own raw upstream, its wake played by `hintedWake`, a client of the first replica; all let go after `body`. */
async function withHintedWake(
  to: (address: string) => Parameters<typeof hintedWake>[3],
  body: (w: { raw: Awaited<ReturnType<typeof rawUpstream>>; sat: { name: string }; wake: ReturnType<typeof hintedWake>; client: ReturnType<typeof testClient> }) => Promise<void>,
): Promise<void> {
  const raw = await rawUpstream();
  const sat = await asleepSatellite(db, org.id, raw.address);
  const wake = hintedWake(sat.id, raw.address, () => raw.settled.length, to(raw.address));
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    await body({ raw, sat, wake, client });
  } finally {
    wake.stop();
    client.close();
    await raw.close();
  }
}

it("while the satellite starts, the replica holding calls connects to the announced address; at `awake` they go out on that connection", () =>
  withHintedWake(
    (address) => ({ to: "awake", upstream: address }),
    async ({ raw, sat, wake, client }) => {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 })));
      expect(statuses.map((s) => s.code)).toEqual(Array(20).fill(grpc.status.OK));
      // Connected before the probe passed; the other replica, holding no call, did not connect.
      expect(wake.seen.beforeCommit).toBe(1);
      expect(raw.sessions).toHaveLength(1);
      expect(new Set(raw.streams.map((s) => s.session))).toEqual(new Set([raw.sessions[0]]));
    },
  ));

it("a connection begun on an address hint is closed when the wake fails", () =>
  withHintedWake(
    () => ({ to: "failed", reason: "the health probe never passed" }),
    async ({ raw, sat, wake, client }) => {
      const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 20_000 });
      expect(s.code).toBe(grpc.status.UNAVAILABLE);
      expect(s.details).toContain("the health probe never passed");
      expect(wake.seen.beforeCommit).toBe(1);
      expect(raw.streams).toHaveLength(0);
      await expect.poll(() => raw.sessions[0]!.closed || raw.sessions[0]!.destroyed, { timeout: 5_000 }).toBe(true);
    },
  ));

it("a connection begun on a hint that is not up at `awake` (a machine not listening yet) does not hold the calls: a second one serves them", async () => {
  const raw = await rawUpstream();
  // In front of the satellite: the first connection is accepted and never answered (as a SYN to a
  // machine still booting would hang); later ones reach the satellite.
  const silent: net.Socket[] = [];
  const front = net.createServer((sock) => {
    sock.on("error", () => {});
    if (silent.length === 0) return void silent.push(sock);
    const [host, port] = raw.address.split(":") as [string, string];
    const up = net.connect(Number(port), host);
    up.on("error", () => sock.destroy());
    sock.pipe(up).pipe(sock);
  });
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", () => r()));
  const address = `127.0.0.1:${(front.address() as net.AddressInfo).port}`;
  const sat = await asleepSatellite(db, org.id, address);
  const wake = hintedWake(sat.id, address, () => silent.length, { to: "awake", upstream: address });
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  try {
    // Well inside the 5 s the silent connection is given before it counts as failed.
    const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 3_000 });
    expect(s.code).toBe(grpc.status.OK);
    expect(wake.seen.beforeCommit).toBe(1);
    expect(raw.streams).toHaveLength(1);
  } finally {
    wake.stop();
    client.close();
    silent.forEach((s) => s.destroy());
    front.close();
    await raw.close();
  }
});
