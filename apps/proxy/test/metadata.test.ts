// Bad metadata gets a clear status, never a crash and never a forwarded call.
import type http2 from "node:http2";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { awakeSatellite, dropQueueKeys, grpcFrame, makeToken, rawCall, rawUpstream, startTestProxy } from "./helpers.ts";

const db = testDb();
let raw: Awaited<ReturnType<typeof rawUpstream>>;
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let good: { satellite_name: string; satellite_org: string; satellite_token: string };

beforeAll(async () => {
  raw = await rawUpstream();
  proxy = await startTestProxy({ authLimit: { perAddress: 100_000, perSatellite: 100_000 } });
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, raw.address);
  good = { satellite_name: sat.name, satellite_org: org.id, satellite_token: token };
});

afterAll(async () => {
  await proxy?.close({ graceMs: 200 });
  await raw?.close();
  if (proxy) await dropQueueKeys(proxy.prefix);
});

const INVALID_ARGUMENT = "3";
const UNAUTHENTICATED = "16";
const NOT_FOUND = "5";

it.each([
  ["missing name", { satellite_name: undefined }, INVALID_ARGUMENT],
  ["missing org", { satellite_org: undefined }, INVALID_ARGUMENT],
  ["missing token", { satellite_token: undefined }, UNAUTHENTICATED],
  ["empty name", { satellite_name: "" }, INVALID_ARGUMENT],
  ["empty org", { satellite_org: " " }, INVALID_ARGUMENT],
  ["empty token", { satellite_token: "" }, UNAUTHENTICATED],
  ["oversize name", { satellite_name: "n".repeat(8192) }, INVALID_ARGUMENT],
  ["oversize org", { satellite_org: "o".repeat(8192) }, INVALID_ARGUMENT],
  ["oversize token", { satellite_token: "sat_" + "t".repeat(8192) }, UNAUTHENTICATED],
  ["non-ASCII name", { satellite_name: "s\u00e4t" }, INVALID_ARGUMENT],
  ["non-ASCII org", { satellite_org: "\u00f6rg" }, INVALID_ARGUMENT],
  ["non-ASCII token", { satellite_token: "sat_\u00e9" + "x".repeat(31) }, UNAUTHENTICATED],
  ["duplicated name", { satellite_name: ["a", "b"] }, INVALID_ARGUMENT],
  ["duplicated org", (g: typeof good) => ({ satellite_org: [g.satellite_org, g.satellite_org] }), INVALID_ARGUMENT],
  ["duplicated token", (g: typeof good) => ({ satellite_token: [g.satellite_token, g.satellite_token] }), INVALID_ARGUMENT],
  ["token and a different bearer", { authorization: "Bearer sat_" + "y".repeat(32) }, INVALID_ARGUMENT],
  ["basic auth instead of a token", { satellite_token: undefined, authorization: "Basic dXNlcjpwYXNz" }, UNAUTHENTICATED],
  ["malformed token", { satellite_token: "not-a-token" }, UNAUTHENTICATED],
  ["org that is not the token's", { satellite_org: "some-other-org" }, NOT_FOUND],
] as const)("%s → grpc-status %s, nothing forwarded", async (_label, change, status) => {
  const before = raw.streams.length;
  const over = typeof change === "function" ? change(good) : change;
  const headers: http2.OutgoingHttpHeaders = { ...good };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v as string | string[];
  }
  const res = await rawCall(`127.0.0.1:${proxy.port}`, headers, grpcFrame(Buffer.alloc(0)));
  expect(res.trailersOnly).toBe(true);
  expect(res.headers["grpc-status"]).toBe(status);
  expect(String(res.headers["grpc-message"] ?? "")).not.toBe("");
  expect(raw.streams.length).toBe(before);
});

it("headers beyond the HTTP/2 header-list limit are refused at the protocol level, and the proxy lives on", async () => {
  const before = raw.streams.length;
  const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...good, satellite_name: "n".repeat(100_000) }, grpcFrame(Buffer.alloc(0))).catch(() => ({ rstCode: -1 }));
  expect(res.rstCode).not.toBe(0);
  expect(raw.streams.length).toBe(before);
});

it("a bearer token alone is accepted; non-gRPC requests get 415; the proxy still serves", async () => {
  const { satellite_token, ...rest } = good;
  const ok = await rawCall(`127.0.0.1:${proxy.port}`, { ...rest, authorization: `Bearer ${satellite_token}` }, grpcFrame(Buffer.alloc(0)));
  expect(ok.trailers?.["grpc-status"]).toBe("0");
  const plain = await rawCall(`127.0.0.1:${proxy.port}`, { ":method": "GET", "content-type": "text/html" });
  expect(plain.headers[":status"]).toBe(415);
  const again = await rawCall(`127.0.0.1:${proxy.port}`, { ...good }, grpcFrame(Buffer.alloc(0)));
  expect(again.trailers?.["grpc-status"]).toBe("0");
});

// An intermediary's (or a client library's) own `authorization: Basic …` is not ours: the
// call's satellite_token stands, and the header is not forwarded either way.
it("a satellite_token with someone else's Basic authorization beside it is served", async () => {
  const before = raw.streams.length;
  const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...good, authorization: "Basic dXNlcjpwYXNz" }, grpcFrame(Buffer.alloc(0)));
  expect(res.trailers?.["grpc-status"]).toBe("0");
  expect(raw.streams.length).toBe(before + 1);
  expect(raw.streams.at(-1)!.headers.authorization).toBeUndefined();
});
