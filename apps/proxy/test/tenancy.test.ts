// Tenants never reach each other: another organization's satellite looks exactly like a missing
// one, revoked tokens stop working within seconds, and others are served throughout.
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { transition } from "@satellites/state";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authMetadata, awakeSatellite, dropQueueKeys, makeToken, rawUpstream, startTestProxy, testClient, unaryStatus, type TestClient } from "./helpers.ts";

const db = testDb();
let backend: Backend;
let raw: Awaited<ReturnType<typeof rawUpstream>>;
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let client: TestClient;
let orgA: { id: string };
let orgB: { id: string };
let tokenA: string;
let tokenB: string;
let satA: { name: string };
let satB: { name: string };

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  raw = await rawUpstream();
  proxy = await startTestProxy({ authLimit: { perAddress: 100_000, perSatellite: 100_000 } });
  orgA = await makeOrg(db, "a");
  orgB = await makeOrg(db, "b");
  tokenA = (await makeToken(db, orgA.id)).token;
  tokenB = (await makeToken(db, orgB.id)).token;
  satA = await awakeSatellite(db, orgA.id, backend.address);
  // B's satellite points at a recorder: nothing of A's may ever arrive there.
  satB = await awakeSatellite(db, orgB.id, raw.address);
  client = testClient(`127.0.0.1:${proxy.port}`);
});

afterAll(async () => {
  client?.close();
  await proxy?.close({ graceMs: 500 });
  await backend?.close({ graceMs: 100 });
  await raw?.close();
  if (proxy) await dropQueueKeys(proxy.prefix);
});

/** The status of one call of each kind with this metadata. */
async function everyKind(md: () => grpc.Metadata): Promise<Array<{ code: number; details: string }>> {
  const finished = (call: grpc.Call) => new Promise<{ code: number; details: string }>((r) => call.on("status", (s) => r({ code: s.code, details: s.details })));
  const unary = await unaryStatus(client, "UnaryCall", {}, md());
  const cs = (client.StreamingInputCall as (m: grpc.Metadata, cb: () => void) => grpc.ClientWritableStream<unknown>)(md(), () => {});
  const csDone = finished(cs);
  cs.on("error", () => {});
  cs.write({ payload: { body: Buffer.alloc(10) } });
  cs.end();
  const ss = (client.StreamingOutputCall as (r: unknown, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>)({ response_parameters: [{ size: 10 }] }, md());
  ss.on("error", () => {});
  ss.on("data", () => {});
  const bidi = (client.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(md());
  bidi.on("error", () => {});
  bidi.on("data", () => {});
  const bidiDone = finished(bidi);
  bidi.write({ response_parameters: [{ size: 10 }] });
  bidi.end();
  return [unary, await csDone, await finished(ss), await bidiDone];
}

describe("tenancy", () => {
  it("org A's token against org B's satellites, existing or missing, any call kind → NOT_FOUND, identical answers", async () => {
    const missing = "no-such-satellite";
    const cases = [
      { name: satB.name, org: orgB.id },
      { name: satB.name, org: orgA.id },
      { name: missing, org: orgB.id },
      { name: missing, org: orgA.id },
      // A's own satellite named with B's org id is not A's to reach that way either.
      { name: satA.name, org: orgB.id },
    ];
    const answers: string[][] = [];
    for (const c of cases) {
      const got = await everyKind(() => authMetadata(c.name, c.org, tokenA));
      for (const s of got) expect(s.code).toBe(grpc.status.NOT_FOUND);
      answers.push(got.map((s) => s.details.replace(c.name, "<name>")));
    }
    // Same org in the request → same words, whether the satellite exists (elsewhere) or not.
    expect(answers[0]).toEqual(answers[2]);
    expect(answers[1]).toEqual(answers[3]);
    expect(raw.streams.length).toBe(0);

    // B reaches its own satellite.
    const own = await everyKind(() => authMetadata(satB.name, orgB.id, tokenB));
    expect(own.every((s) => s.code !== grpc.status.NOT_FOUND && s.code !== grpc.status.UNAUTHENTICATED)).toBe(true);
    expect(raw.streams.length).toBe(4);
  });

  it("a revoked token is refused within 5 s while other tenants keep being served", async () => {
    const { token, id } = await makeToken(db, orgA.id);
    const md = () => authMetadata(satA.name, orgA.id, token);
    expect((await unaryStatus(client, "EmptyCall", {}, md())).code).toBe(grpc.status.OK);

    let stop = false;
    let othersFailed = 0;
    let othersServed = 0;
    const others = (async () => {
      while (!stop) {
        const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(satB.name, orgB.id, tokenB));
        // The recorder echoes an empty body and OK.
        if (s.code === grpc.status.OK || s.code === grpc.status.INTERNAL) othersServed++;
        else othersFailed++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const revokedAt = Date.now();
    await db.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
    let code = grpc.status.OK;
    while (Date.now() - revokedAt < 6000) {
      code = (await unaryStatus(client, "EmptyCall", {}, md())).code;
      if (code === grpc.status.UNAUTHENTICATED) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const elapsed = Date.now() - revokedAt;
    stop = true;
    await others;
    expect(code).toBe(grpc.status.UNAUTHENTICATED);
    expect(elapsed).toBeLessThan(5000);
    expect(othersFailed).toBe(0);
    expect(othersServed).toBeGreaterThan(0);
  });

  it("failed and deleted satellites → FAILED_PRECONDITION with the reason", async () => {
    const failing = await makeSatellite(db, orgA.id);
    await transition(db, { satellite: failing, to: "failed", cause: "failure", actor: "system", set: { failureReason: "instance terminated by the provider" } });
    const f = await unaryStatus(client, "EmptyCall", {}, authMetadata(failing.name, orgA.id, tokenA));
    expect(f.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(f.details).toContain("instance terminated by the provider");

    const gone = await awakeSatellite(db, orgA.id, backend.address);
    const d1 = await transition(db, { satellite: gone, to: "deleting", cause: "delete", actor: "system" });
    await transition(db, { satellite: d1.satellite!, to: "deleted", cause: "delete", actor: "system", set: { liveName: null, deletedAt: new Date() } });
    const d = await unaryStatus(client, "EmptyCall", {}, authMetadata(gone.name, orgA.id, tokenA));
    expect(d.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(d.details).toContain("deleted");
  });

  it("unknown tokens → UNAUTHENTICATED, and repeated failures from one source are rate-limited; a valid token is never refused", async () => {
    const limited = await startTestProxy({ authLimit: { perAddress: 3, perSatellite: 1000 } });
    const c = testClient(`127.0.0.1:${limited.port}`);
    try {
      const bad = () => authMetadata(satA.name, orgA.id, "sat_" + "x".repeat(32));
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push((await unaryStatus(c, "EmptyCall", {}, bad())).code);
      expect(codes.slice(0, 3)).toEqual([grpc.status.UNAUTHENTICATED, grpc.status.UNAUTHENTICATED, grpc.status.UNAUTHENTICATED]);
      expect(codes.slice(3)).toEqual([grpc.status.RESOURCE_EXHAUSTED, grpc.status.RESOURCE_EXHAUSTED]);
      // From the very address over budget, a token this proxy has never seen still gets through.
      expect((await unaryStatus(c, "EmptyCall", {}, authMetadata(satA.name, orgA.id, tokenA))).code).toBe(grpc.status.OK);
    } finally {
      c.close();
      await limited.close({ graceMs: 200 });
      await dropQueueKeys(limited.prefix);
    }
  });
});
