// Revocation ends what is open: a long-lived bidi stream through a real proxy process ends
// within 5 s when its token is revoked, its creator leaves the organization or loses their
// account (UNAUTHENTICATED), or its satellite is deleted (FAILED_PRECONDITION). Another token's
// stream to the same satellite is untouched in the token cases.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { transition } from "@satellites/state";
import { makeOrg, testDb } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import { generateToken, hashToken, issueLoginToken } from "@satellites/tokens";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authMetadata, awakeSatellite, dropQueueKeys, makeToken, testClient, uniquePrefix, type TestClient } from "./helpers.ts";
import { startProxyProcess, type Proc } from "./processes.ts";

const db = testDb();
const prefix = uniquePrefix();
let backend: Backend;
let proxy: Proc & { port: number };
let client: TestClient;
let org: { id: string };

beforeAll(async () => {
  // The proxy process speaks mutual TLS to satellites: the fixture has a certificate from its CA.
  backend = await startBackend({ log: () => {}, tls: await fixtureSatelliteTls() });
  proxy = await startProxyProcess({ QUEUE_PREFIX: prefix });
  client = testClient(`127.0.0.1:${proxy.port}`);
  org = await makeOrg(db, "revocation");
}, 60_000);

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await backend?.close({ graceMs: 100 });
  await dropQueueKeys(prefix);
  await db.$disconnect();
});

interface OpenStream {
  /** Resolves with the call's final status. */
  status: Promise<grpc.StatusObject>;
  ping(): Promise<void>;
  close(): void;
}

/** A bidi stream through the proxy, proven open by one round trip. */
async function openStream(satellite: string, token: string): Promise<OpenStream> {
  const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(authMetadata(satellite, org.id, token));
  call.on("error", () => {});
  const status = new Promise<grpc.StatusObject>((r) => call.on("status", r));
  const ping = async () => {
    const got = new Promise((r, j) => {
      call.once("data", r);
      void status.then((s) => j(new Error(`stream ended: ${s.code} ${s.details}`)));
    });
    call.write({ response_parameters: [{ size: 10 }] });
    await got;
  };
  await ping();
  return { status, ping, close: () => call.end() };
}

async function member(userId?: string): Promise<string> {
  const id = userId ?? randomUUID();
  if (!userId) await db.user.create({ data: { id, name: "builder", email: `${id}@example.test` } });
  await db.member.create({ data: { id: randomUUID(), organizationId: org.id, userId: id, role: "member" } });
  return id;
}

async function tokenOf(createdById: string | null, expiresAt: Date | null = null): Promise<{ id: string; token: string }> {
  const t = generateToken();
  const row = await db.apiToken.create({ data: { orgId: org.id, createdById, name: "ci", prefix: t.prefix, hash: t.hash, expiresAt } });
  return { id: row.id, token: t.token };
}

/** Runs `revoke`, then waits for the stream's end; the status and how long it took. */
async function endedBy(stream: OpenStream, revoke: () => Promise<unknown>): Promise<{ code: number; details: string; ms: number }> {
  const at = Date.now();
  await revoke();
  const s = await Promise.race([stream.status, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
  if (!s) throw new Error("the stream was still open 10 s after the revocation");
  return { code: s.code, details: s.details, ms: Date.now() - at };
}

describe("revocation ends open calls through the proxy", () => {
  it("revoking a token ends its open bidi stream with UNAUTHENTICATED within 5 s; another token's stream goes on", async () => {
    const sat = await awakeSatellite(db, org.id, backend.address);
    const doomed = await tokenOf(null);
    const other = await makeToken(db, org.id);
    const victim = await openStream(sat.name, doomed.token);
    const bystander = await openStream(sat.name, other.token);
    const r = await endedBy(victim, () => db.apiToken.update({ where: { id: doomed.id }, data: { revokedAt: new Date() } }));
    expect(r.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(r.details).toMatch(/revoked/);
    expect(r.ms).toBeLessThan(5000);
    await bystander.ping();
    // The revoked token opens nothing new either.
    await expect(openStream(sat.name, doomed.token)).rejects.toThrow(/^stream ended: 16 /);
    bystander.close();
    expect((await bystander.status).code).toBe(grpc.status.OK);
  });

  // With response DATA still queued towards a client reading slowly, the proxy's own CANCEL to
  // the satellite came back as the satellite's reset and reached the client as CANCELLED: the
  // status saying why (UNAUTHENTICATED) was lost.
  it("a revoked token's stream with responses still queued ends UNAUTHENTICATED once the client reads on", async () => {
    const sat = await awakeSatellite(db, org.id, backend.address);
    const doomed = await tokenOf(null);
    const call = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(authMetadata(sat.name, org.id, doomed.token));
    call.on("error", () => {});
    const status = new Promise<grpc.StatusObject>((r) => call.on("status", r));
    const first = new Promise((r) => call.once("data", r));
    call.write({ response_parameters: Array.from({ length: 24 }, () => ({ size: 1 << 20 })) });
    await first;
    call.pause();
    // Windows fill (the client's, the proxy's): megabytes wait in the proxy for the client.
    await new Promise((r) => setTimeout(r, 700));
    await db.apiToken.update({ where: { id: doomed.id }, data: { revokedAt: new Date() } });
    await new Promise((r) => setTimeout(r, 1500));
    call.on("data", () => {});
    call.resume();
    const s = await Promise.race([status, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    expect(s && { code: s.code, details: s.details }).toEqual({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(/revoked/) });
  });

  it("removing the token's creator from the organization ends its stream with UNAUTHENTICATED within 5 s", async () => {
    const sat = await awakeSatellite(db, org.id, backend.address);
    const builder = await member();
    const colleague = await member();
    const theirs = await tokenOf(builder);
    const others = await tokenOf(colleague);
    const victim = await openStream(sat.name, theirs.token);
    const bystander = await openStream(sat.name, others.token);
    const r = await endedBy(victim, () => db.member.deleteMany({ where: { organizationId: org.id, userId: builder } }));
    expect(r.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(r.ms).toBeLessThan(5000);
    await bystander.ping();
    bystander.close();
  });

  it("deleting the creator's account ends the stream with UNAUTHENTICATED within 5 s", async () => {
    const sat = await awakeSatellite(db, org.id, backend.address);
    const builder = await member();
    const theirs = await tokenOf(builder);
    const victim = await openStream(sat.name, theirs.token);
    const r = await endedBy(victim, () => db.user.delete({ where: { id: builder } }));
    expect(r.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(r.ms).toBeLessThan(5000);
  });

  // Expiry is announced by nothing: the stream must end on its own, as a certificate's does.
  it("an API token's expiry, and an Earthly login token's, end their open streams with UNAUTHENTICATED within 2 s; another token's stream goes on", async () => {
    const sat = await awakeSatellite(db, org.id, backend.address);
    const builder = await member();
    const apiExpiry = new Date(Date.now() + 3_000);
    const shortLived = await tokenOf(builder, apiExpiry);
    const lasting = await tokenOf(builder);
    const login = await issueLoginToken(db, { id: lasting.id, expiresAt: null });
    // The login lapses long before its API token does (12 h): its own expiry is what counts.
    const loginExpiry = new Date(Date.now() + 3_000);
    await db.loginToken.updateMany({ where: { hash: hashToken(login.token) }, data: { expiresAt: loginExpiry } });
    const other = await makeToken(db, org.id);
    const streams = [await openStream(sat.name, shortLived.token), await openStream(sat.name, login.token)];
    const bystander = await openStream(sat.name, other.token);
    const ended = await Promise.all(streams.map((st) => Promise.race([st.status.then((s) => ({ ...s, at: Date.now() })), new Promise<null>((r) => setTimeout(() => r(null), 10_000))])));
    for (const [i, e] of ended.entries()) {
      expect(e, `stream ${i} still open 10 s on`).not.toBeNull();
      expect(e!.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(e!.details).toMatch(/token expired/);
      expect(e!.at - (i === 0 ? apiExpiry : loginExpiry).getTime()).toBeLessThan(2_000);
    }
    await bystander.ping();
    await expect(openStream(sat.name, shortLived.token)).rejects.toThrow(/^stream ended: 16 /);
    bystander.close();
  });

  it("deleting the satellite ends every stream to it with FAILED_PRECONDITION within 5 s", async () => {
    const sat = await awakeSatellite(db, org.id, backend.address);
    const a = await makeToken(db, org.id);
    const b = await makeToken(db, org.id);
    const streams = [await openStream(sat.name, a.token), await openStream(sat.name, b.token)];
    const at = Date.now();
    const r = await transition(db, { satellite: sat, to: "deleting", cause: "delete", actor: "system" });
    expect(r.won).toBe(true);
    for (const s of streams) {
      const st = await s.status;
      expect(st.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(st.details).toBe("the satellite was deleted");
    }
    expect(Date.now() - at).toBeLessThan(5000);
  });
});
