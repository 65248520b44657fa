// Calls cancelled by their clients are cancelled on the satellite too (RST_STREAM), on the one
// connection all of that satellite's callers share. nghttp2 — under Node's HTTP/2 server, the
// built-in satellite — ends a connection whose client resets more than 1,000 streams in a burst
// (GOAWAY INTERNAL_ERROR, its rapid-reset defence). Many cancelled calls, from one client or
// many, must not end another tenant's calls on that satellite: the proxy moves new calls to a
// fresh connection before the satellite's limit is reached.
import http2 from "node:http2";
import { startBackend, type Backend } from "@satellites/backend";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Proxy } from "../src/proxy.ts";

import { authMetadata, awakeSatellite, dropQueueKeys, grpcFrame, makeToken, startTestProxy, testClient, unaryStatus, type TestClient } from "./helpers.ts";

const db = testDb();
let backend: Backend;
let proxy: Proxy & { prefix: string };
let tenant: TestClient;
let auth: Record<string, string>;

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  const org = await makeOrg(db, "upstream-resets");
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, backend.address);
  auth = { satellite_name: sat.name, satellite_org: org.id, satellite_token: token };
  // Many clients' cancellations together: one address's reset budget must not be what stops them.
  proxy = await startTestProxy({}, { PROXY_RESET_BUDGET: "1000000" });
  tenant = testClient(`127.0.0.1:${proxy.port}`);
}, 60_000);

afterAll(async () => {
  tenant?.close();
  await proxy?.close();
  await backend?.close({ graceMs: 100 });
  await dropQueueKeys(proxy.prefix);
});

/** FullDuplexCall's request asking for one 10-byte response (response_parameters { size: 10 }). */
const ONE_RESPONSE = Buffer.from([0x12, 0x02, 0x08, 0x0a]);

/**
 * `rounds` × 100 bidi calls from one client connection, each cancelled once its first response
 * has arrived (so the satellite has seen it, and hears the cancellation).
 */
async function cancelMany(rounds: number): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
  session.on("error", () => {});
  let cancelled = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const streams = await Promise.all(
        Array.from({ length: 100 }, () => {
          const s = session.request({ ":method": "POST", ":path": "/grpc.testing.TestService/FullDuplexCall", "content-type": "application/grpc", te: "trailers", ...auth }, { endStream: false });
          s.on("error", () => {});
          s.write(grpcFrame(ONE_RESPONSE));
          return new Promise<http2.ClientHttp2Stream>((resolve, reject) => {
            s.once("data", () => resolve(s));
            s.once("close", () => reject(new Error(`call ended before its response (${s.rstCode})`)));
          });
        }),
      );
      for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
      cancelled += streams.length;
    }
  } finally {
    session.destroy();
  }
  return cancelled;
}

it("2,000 calls cancelled in a burst: another tenant's calls to the same satellite all succeed", async () => {
  for (let i = 0; i < 5; i++) expect((await unaryStatus(tenant, "EmptyCall", {}, authMetadata(auth.satellite_name!, auth.satellite_org!, auth.satellite_token!))).code).toBe(0);
  let running = true;
  const failures: string[] = [];
  let calls = 0;
  const md = authMetadata(auth.satellite_name!, auth.satellite_org!, auth.satellite_token!);
  const loop = (async () => {
    while (running) {
      const st = await unaryStatus(tenant, "EmptyCall", {}, md, { deadline: Date.now() + 10_000 });
      calls++;
      if (st.code !== 0) failures.push(`${st.code} ${st.details}`);
    }
  })();
  let cancelled = 0;
  try {
    // Four clients one after another, 500 cancelled calls each, all to the same satellite.
    for (let client = 0; client < 4; client++) cancelled += await cancelMany(5);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    running = false;
    await loop;
  }
  expect(cancelled).toBe(2_000);
  expect(calls).toBeGreaterThan(0);
  expect(failures).toEqual([]);
}, 120_000);
