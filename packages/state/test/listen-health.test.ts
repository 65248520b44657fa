// A LISTEN connection that dies silently (packets dropped, no FIN or RST: a NAT forgot it) is
// noticed by the health query, replaced, and the loss is announced so waiters re-check.
import net from "node:net";
import { afterAll, expect, it } from "vitest";
import { testDatabaseUrl, testDb } from "@satellites/testing";
import { STATE_CHANNEL, type StateChange, StateWatcher } from "../src/index.ts";

/** A TCP forwarder to Postgres whose open connections can be frozen (nothing passes either way). */
async function forwarder(target: URL) {
  const pairs: { client: net.Socket; up: net.Socket }[] = [];
  const server = net.createServer((client) => {
    const up = net.connect(Number(target.port || 5432), target.hostname);
    client.pipe(up);
    up.pipe(client);
    client.on("error", () => up.destroy());
    up.on("error", () => client.destroy());
    pairs.push({ client, up });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => pairs.length,
    freeze() {
      for (const { client, up } of pairs) {
        client.unpipe(up);
        up.unpipe(client);
        client.pause();
        up.pause();
      }
    },
    close() {
      for (const { client, up } of pairs) {
        client.destroy();
        up.destroy();
      }
      server.close();
    },
  };
}

const db = testDb();
afterAll(async () => db.$disconnect());

it("replaces a silently dead LISTEN connection within seconds and says announcements may have been missed", async () => {
  const url = new URL(testDatabaseUrl());
  const fwd = await forwarder(url);
  const via = new URL(url);
  via.hostname = "127.0.0.1";
  via.port = String(fwd.port);
  const heard: StateChange[] = [];
  let reconnects = 0;
  const listener = await StateWatcher.start(via.toString(), undefined, { healthIntervalMs: 300, healthTimeoutMs: 500 });
  listener.subscribe(
    (c) => heard.push(c),
    () => reconnects++,
  );
  try {
    const notify = (id: string) => db.$executeRaw`SELECT pg_notify(${STATE_CHANNEL}, ${JSON.stringify({ id, orgId: "o", from: "asleep", to: "starting", version: 1, cause: "request", at: new Date().toISOString() })})`;
    await notify("before");
    await expect.poll(() => heard.map((c) => c.id)).toContain("before");

    const frozenAt = Date.now();
    fwd.freeze();
    await expect.poll(() => reconnects, { timeout: 5_000, interval: 50 }).toBe(1);
    expect(Date.now() - frozenAt).toBeLessThan(3_000);
    expect(fwd.connections()).toBe(2);
    // The new connection hears what is committed after it.
    await notify("after");
    await expect.poll(() => heard.map((c) => c.id)).toContain("after");
  } finally {
    await listener.close();
    fwd.close();
  }
});
