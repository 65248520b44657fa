// A revocation committed while the proxy's LISTEN connection is down still ends the open
// stream once the proxy reconnects: Postgres may hand the queued announcement to the new
// connection, and the proxy re-reads its open calls' tokens and satellites after every
// reconnect in case it does not. The proxy runs on a database of its own, so the only
// listener terminated is its own.
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import type { Db } from "@satellites/db";
import { transition } from "@satellites/state";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import { authMetadata, awakeSatellite, dropQueueKeys, makeToken, testClient, uniquePrefix, type TestClient } from "./helpers.ts";
import { ownDatabase, startProxyProcess, type Proc } from "./processes.ts";

const prefix = uniquePrefix();
let own: Awaited<ReturnType<typeof ownDatabase>>;
let db: Db;
let backend: Backend;
let proxy: Proc & { port: number };
let client: TestClient;
let orgId: string;

beforeAll(async () => {
  own = await ownDatabase();
  db = own.db;
  // The proxy process speaks mutual TLS to satellites: the fixture has a certificate from its CA.
  backend = await startBackend({ log: () => {}, tls: await fixtureSatelliteTls() });
  proxy = await startProxyProcess({ DATABASE_URL: own.url, QUEUE_PREFIX: prefix });
  client = testClient(`127.0.0.1:${proxy.port}`);
  orgId = crypto.randomUUID();
  await db.organization.create({ data: { id: orgId, name: "resync", slug: `resync-${orgId.slice(0, 8)}` } });
}, 120_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await backend?.close({ graceMs: 100 });
  await dropQueueKeys(prefix);
  await own?.drop();
});

async function openStream(satellite: string, token: string): Promise<{ status: Promise<grpc.StatusObject> }> {
  const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(authMetadata(satellite, orgId, token));
  call.on("error", () => {});
  const status = new Promise<grpc.StatusObject>((r) => call.on("status", r));
  const first = new Promise((r) => call.once("data", r));
  call.write({ response_parameters: [{ size: 10 }] });
  await first;
  return { status };
}

/** Runs `change` in a transaction that first ends the proxy's LISTEN connection (and waits until it is gone). */
async function whileListenerDown(change: (tx: Db) => Promise<unknown>): Promise<void> {
  await db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<Array<{ ok: boolean }>>`
      SELECT pg_terminate_backend(pid, 5000) AS ok FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE ${`satellites-listen:${proxy.proc.pid}:%`}`;
    // One for the whole process: its Earthly API hears the same connection.
    expect(rows).toEqual([{ ok: true }]);
    await change(tx as unknown as Db);
  });
}

async function endsWithin(status: Promise<grpc.StatusObject>, ms: number): Promise<grpc.StatusObject> {
  const s = await Promise.race([status, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
  if (!s) throw new Error(`the stream was still open ${ms} ms later`);
  return s;
}

it("a token revoked while the proxy's listener was down ends its stream once the proxy reconnects", async () => {
  const sat = await awakeSatellite(db, orgId, backend.address);
  const t = await makeToken(db, orgId);
  const { status } = await openStream(sat.name, t.token);
  await whileListenerDown((tx) => tx.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } }));
  expect((await endsWithin(status, 5000)).code).toBe(grpc.status.UNAUTHENTICATED);
});

it("a satellite deleted while the proxy's listener was down ends its stream once the proxy reconnects", async () => {
  const sat = await awakeSatellite(db, orgId, backend.address);
  const t = await makeToken(db, orgId);
  const { status } = await openStream(sat.name, t.token);
  await whileListenerDown((tx) => transition(tx, { satellite: sat, to: "deleting", cause: "delete", actor: "system" }));
  const s = await endsWithin(status, 5000);
  expect(s.code).toBe(grpc.status.FAILED_PRECONDITION);
});
