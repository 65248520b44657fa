// The proxy as deployed: two proxy processes and the jobs worker (local provider: every
// satellite a real backend process), on a database of the test's own.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { requestDelete, requestSleep } from "@satellites/lifecycle";
import { createQueues, enqueue, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import type { Db } from "@satellites/db";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { authMetadata, dropQueueKeys, makeToken, testClient, unaryStatus, uniquePrefix } from "./helpers.ts";
import { metric, ownDatabase, startJobsProcess, startProxyProcess, until, type Proc } from "./processes.ts";

let own: Awaited<ReturnType<typeof ownDatabase>>;
let db: Db;
let redis: Redis;
let queues: SatelliteQueues;
let jobs: Proc & { adminPort: number };
let proxies: Array<Proc & { port: number; adminPort: number }> = [];
const prefix = uniquePrefix();
const dataDir = mkdtempSync(join(tmpdir(), "satellites-proxy-e2e-"));
const satellites: string[] = [];
let orgId: string;
let token: string;

beforeAll(async () => {
  own = await ownDatabase();
  db = own.db;
  redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  queues = createQueues(redis, prefix);
  const env = { DATABASE_URL: own.url, QUEUE_PREFIX: prefix, JOBS_QUEUE_PREFIX: prefix };
  jobs = await startJobsProcess({ ...env, LOCAL_DATA_DIR: dataDir, IDLE_SCAN_EVERY_MS: "300" });
  proxies = await Promise.all([startProxyProcess(env), startProxyProcess(env)]);
  orgId = crypto.randomUUID();
  await db.organization.create({ data: { id: orgId, name: "e2e", slug: `e2e-${orgId.slice(0, 8)}` } });
  token = (await makeToken(db, orgId)).token;
}, 120_000);

afterAll(async () => {
  // Local satellites outlive the worker: delete them through the worker before stopping it.
  for (const id of satellites) {
    const sat = await db.satellite.findUnique({ where: { id } });
    if (sat && sat.state !== "deleted") await requestDelete(db, queues, sat, { actor: "system", force: true }).catch(() => {});
  }
  await until("satellites deleted", async () => (await db.satellite.count({ where: { id: { in: satellites }, state: { not: "deleted" } } })) === 0, 30_000).catch(() => {});
  await Promise.all(proxies.map((p) => p.stop()));
  await jobs?.stop();
  await queues?.close();
  redis?.disconnect();
  await dropQueueKeys(prefix);
  await own?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

async function state(id: string): Promise<string> {
  return (await db.satellite.findUniqueOrThrow({ where: { id } })).state;
}

/** A satellite launched by the worker (a real local process), awake. */
async function launched(name: string): Promise<{ id: string; name: string; instanceId: string }> {
  const { satellite } = await createSatellite(db, { orgId, name, platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 1024 });
  satellites.push(satellite.id);
  await enqueue(queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  await until(`${name} awake`, async () => (await state(satellite.id)) === "awake", 60_000);
  const sat = await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } });
  return { id: sat.id, name, instanceId: sat.instanceId! };
}

async function putToSleep(id: string): Promise<void> {
  const sat = await db.satellite.findUniqueOrThrow({ where: { id } });
  await requestSleep(db, queues, sat, { cause: "manual", actor: "system" });
  await until("asleep", async () => (await state(id)) === "asleep", 60_000);
}

/** Process starts the local provider made for an instance (its log gets one line per start). */
function processStarts(instanceId: string): number {
  const log = readFileSync(join(dataDir, instanceId, "satellite.log"), "utf8");
  return log.split("\n").filter((l) => l.startsWith("listening ")).length;
}

it("wake storm: 1,000 concurrent calls over two proxy processes → exactly one provider start, all served", async () => {
  const sat = await launched("storm");
  await putToSleep(sat.id);
  const startsBefore = processStarts(sat.instanceId);
  const clients = Array.from({ length: 8 }, (_, i) => testClient(`127.0.0.1:${proxies[i % 2]!.port}`));
  try {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => unaryStatus(clients[i % clients.length]!, "EmptyCall", {}, authMetadata(sat.name, orgId, token), { deadline: Date.now() + 60_000 })),
    );
    const failed = results.filter((r) => r.code !== grpc.status.OK);
    expect(failed.length, JSON.stringify(failed.slice(0, 3))).toBe(0);
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, from: "asleep", to: "starting" } })).toBe(1);
    expect(processStarts(sat.instanceId) - startsBefore).toBe(1);
  } finally {
    clients.forEach((c) => c.close());
  }
}, 120_000);

it("no build cut by sleep: an open bidi stream keeps its satellite awake past the idle timeout; it sleeps after the stream closes", async () => {
  const sat = await launched("long-build");
  // A one-second idle timeout, and activity long ago: only the stream's lease keeps it awake.
  // (Backdating stands in for waiting: the worker never sleeps anything idle for under a minute.)
  await db.satellite.update({ where: { id: sat.id }, data: { idleTimeoutSeconds: 1 } });
  const backdate = () => db.satellite.update({ where: { id: sat.id }, data: { lastActivityAt: new Date(Date.now() - 10 * 60_000) } });
  const client = testClient(`127.0.0.1:${proxies[0]!.port}`);
  const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(authMetadata(sat.name, orgId, token));
  call.on("error", () => {});
  const ping = async () => {
    const got = new Promise((r) => call.once("data", r));
    call.write({ response_parameters: [{ size: 10 }] });
    await got;
  };
  try {
    await ping();
    const scans = () => metric(jobs.adminPort, "satellites_idle_scan_seconds_count");
    for (let round = 0; round < 3; round++) {
      await backdate();
      const before = await scans();
      await until("two idle scans", async () => (await scans()) >= before + 2, 20_000);
      expect(await state(sat.id)).toBe("awake");
      await ping();
    }
    expect(await db.satelliteEvent.count({ where: { satelliteId: sat.id, to: "stopping" } })).toBe(0);

    const ended = new Promise<grpc.StatusObject>((r) => call.on("status", r));
    call.end();
    expect((await ended).code).toBe(grpc.status.OK);
    const closedAt = new Date();
    // Once the proxy lets its lease go (linger + refresh), the idle timeout is all that is left.
    await until(
      "asleep after the stream closed",
      async () => {
        await backdate();
        return (await state(sat.id)) === "asleep";
      },
      60_000,
      500,
    );
    const stop = await db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: sat.id, to: "stopping" } });
    expect(stop.cause).toBe("idle");
    expect(stop.finishedAt.getTime()).toBeGreaterThanOrEqual(closedAt.getTime());
  } finally {
    client.close();
  }
}, 120_000);
