// A process hears all its channels on one LISTEN connection, in the order the announcing
// transactions committed, whatever the channel: a stream that delivers state changes and ends
// on revocations relies on a revocation coming before any change committed after it.
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testDatabaseUrl } from "@satellites/testing";
import { Announcements } from "../src/announcements.ts";

const writer = new pg.Client({ connectionString: testDatabaseUrl() });
beforeAll(() => writer.connect());
afterAll(() => writer.end());

/** Unique channels per test: other test files announce on the real ones. */
const channels = (tag: string) => [`t_${tag}_${process.pid}_a`, `t_${tag}_${process.pid}_b`] as const;

async function notify(channel: string, payload: string): Promise<void> {
  await writer.query("SELECT pg_notify($1, $2)", [channel, payload]);
}

it("delivers two channels' announcements in commit order, on one connection", async () => {
  const [a, b] = channels("order");
  const hub = await Announcements.start(testDatabaseUrl(), [a, b]);
  const heard: string[] = [];
  hub.on(a, (p) => heard.push(`a${p}`));
  hub.on(b, (p) => heard.push(`b${p}`));
  try {
    const sent: string[] = [];
    // Each in a transaction of its own, committed before the next: the order is the commit order.
    for (let i = 0; i < 200; i++) {
      const ch = (i * 7) % 3 === 0 ? b : a;
      await notify(ch, String(i));
      sent.push(`${ch === a ? "a" : "b"}${i}`);
    }
    await expect.poll(() => heard.length).toBe(200);
    expect(heard).toEqual(sent);
    const rows = await writer.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [`satellites-listen:${process.pid}:${a},${b}`.slice(0, 63)]);
    expect(rows.rows[0].n).toBe(1);
  } finally {
    await hub.close();
  }
});

it("refuses a subscription to a channel it does not listen on, instead of hearing nothing", async () => {
  const [a, b] = channels("refuse");
  const hub = await Announcements.start(testDatabaseUrl(), [a]);
  try {
    expect(() => hub.on(b, () => {})).toThrow(`not listening on ${b}`);
  } finally {
    await hub.close();
  }
});

it("keeps the other subscribers hearing when one throws, and reports the error", async () => {
  const [a] = channels("throw");
  const errors: string[] = [];
  const hub = await Announcements.start(testDatabaseUrl(), [a], { onError: (err) => errors.push(err.message) });
  const heard: string[] = [];
  hub.on(a, (p) => JSON.parse(p));
  hub.on(a, (p) => heard.push(p));
  try {
    await notify(a, "not json");
    await expect.poll(() => heard).toEqual(["not json"]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/JSON/);
  } finally {
    await hub.close();
  }
});

it("tells every subscriber to re-read after its connection is replaced, and hears what comes after", async () => {
  const [a, b] = channels("resync");
  const hub = await Announcements.start(testDatabaseUrl(), [a, b]);
  const heard: string[] = [];
  let resyncs = 0;
  hub.on(a, (p) => heard.push(p), () => resyncs++);
  const stop = hub.on(b, (p) => heard.push(p), () => resyncs++);
  try {
    await writer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [`satellites-listen:${process.pid}:${a},${b}`.slice(0, 63)]);
    await expect.poll(() => resyncs, { timeout: 5_000 }).toBe(2);
    stop();
    await notify(b, "unheard");
    await notify(a, "after");
    await expect.poll(() => heard).toEqual(["after"]);
  } finally {
    await hub.close();
  }
});
