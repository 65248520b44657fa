// A satellite whose address refuses connections (its machine died) is reported to the jobs
// process at once: the call fails UNAVAILABLE and a check of that satellite is queued, so the
// satellite shows as failed with the reason within seconds, not at the next reconcile pass.
import net from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { createQueues, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { makeOrg, testDb } from "@satellites/testing";
import { authMetadata, awakeSatellite, dropQueueKeys, makeToken, startTestProxy, testClient, unaryStatus } from "./helpers.ts";

const db = testDb();
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let queues: SatelliteQueues;
const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
beforeAll(async () => {
  proxy = await startTestProxy();
  queues = createQueues(redis, proxy.prefix);
});
afterAll(async () => {
  await proxy?.close();
  await queues?.close();
  await dropQueueKeys(proxy.prefix);
  redis.disconnect();
  await db.$disconnect();
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

it("a call that cannot reach its satellite queues a check of that satellite", async () => {
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, `127.0.0.1:${await closedPort()}`, "dead");
  const client = testClient(`127.0.0.1:${proxy.port}`);
  try {
    const r = await unaryStatus(client, "EmptyCall", {}, authMetadata("dead", org.id, token));
    expect(r.code).toBe(grpc.status.UNAVAILABLE);
    await expect.poll(async () => (await queues.check.getJobs(["waiting", "delayed", "prioritized"])).map((j) => j.data.satelliteId), { timeout: 5_000 }).toContain(sat.id);
  } finally {
    client.close();
  }
});
