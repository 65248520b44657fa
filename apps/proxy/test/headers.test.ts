// Header handling the grpc-js suites cannot see: HPACK's never-indexed flag survives both hops
// (a satellite's or client's secret header stays out of every compression table), and the
// proxy's own metadata is recognised whatever its case.
import http2 from "node:http2";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status } from "../src/grpc.ts";
import { readCallMetadata } from "../src/metadata.ts";
import { attack, F, frame, grpcRequestBlock, indexed, literal, PREFACE, settings, T } from "./attacker.ts";
import { awakeSatellite, dropQueueKeys, grpcFrame, makeToken, rawCall, rawUpstream, type RecordedStream, startTestProxy } from "./helpers.ts";
import { rawSatellite } from "./raw-satellite.ts";

const db = testDb();
let raw: Awaited<ReturnType<typeof rawUpstream>>;
let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let auth: Record<string, string>;
let onRaw: (s: RecordedStream) => void = () => {};

beforeAll(async () => {
  raw = await rawUpstream((s) => onRaw(s));
  proxy = await startTestProxy();
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, raw.address);
  auth = { satellite_name: sat.name, satellite_org: org.id, satellite_token: token };
});

afterAll(async () => {
  await proxy?.close({ graceMs: 200 });
  await raw?.close();
  if (proxy) await dropQueueKeys(proxy.prefix);
});

const sensitive = (h: http2.IncomingHttpHeaders): string[] => (h as { [http2.sensitiveHeaders]?: string[] })[http2.sensitiveHeaders] ?? [];

it("never-indexed headers stay never-indexed both ways", async () => {
  let seen!: RecordedStream;
  onRaw = (s) => {
    seen = s;
    s.stream.respond({ ":status": 200, "content-type": "application/grpc", "x-session-key": "k", [http2.sensitiveHeaders]: ["x-session-key"] }, { waitForTrailers: true });
    s.stream.on("wantTrailers", () => s.stream.sendTrailers({ "grpc-status": "0" }));
    s.stream.end(grpcFrame(Buffer.from("ok")));
    s.stream.resume();
  };
  const res = await rawCall(`127.0.0.1:${proxy.port}`, { ...auth, "x-client-secret": "s", [http2.sensitiveHeaders]: ["x-client-secret"] } as http2.OutgoingHttpHeaders, grpcFrame(Buffer.alloc(0)));
  expect(res.trailers?.["grpc-status"]).toBe("0");
  expect(seen.headers["x-client-secret"]).toBe("s");
  expect(sensitive(seen.headers)).toContain("x-client-secret");
  expect(res.headers["x-session-key"]).toBe("k");
  expect(sensitive(res.headers)).toContain("x-session-key");
});

it("the proxy's metadata is recognised and dropped whatever its case", () => {
  const meta = readCallMetadata([":path", "/a.B/C", "Satellite_Name", "sat", "SATELLITE_ORG", "org", "Authorization", "Bearer tok", "X-Other", "v"]);
  expect(meta).toMatchObject({ name: "sat", org: "org", token: "tok" });
  const names = meta.forward.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  expect(names).not.toContain("authorization");
  expect(names.some((n) => n.startsWith("satellite_"))).toBe(false);
  expect(names).toContain("x-other");
});

/** Finished calls the proxy counted with this gRPC status name. */
async function callsWith(code: string): Promise<number> {
  const m = await proxy.metrics.registry.getSingleMetric("satellites_proxy_calls_total")!.get();
  return m.values.find((v) => v.labels.code === code)?.value ?? 0;
}

// HTTP/2 lets a request repeat `user-agent` or carry `http2-settings`; Node's client refuses to
// send either upstream, and threw in the proxy after the call was answered: UNAVAILABLE (which
// the Earthly CLI retries) and the call kept in the open-calls registry for good.
it.each([
  ["a repeated single-value header", [literal("user-agent", "a"), literal("user-agent", "b")]],
  ["http2-settings", [literal("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")]],
])("a request with %s: INVALID_ARGUMENT from the proxy, nothing sent on, nothing kept", async (_, extra) => {
  onRaw = (s) => s.stream.close();
  const before = { open: proxy.openCalls.size, invalid: await callsWith("INVALID_ARGUMENT"), upstream: raw.streams.length };
  const a = await attack(proxy.port, "127.0.0.1");
  const block = Buffer.concat([grpcRequestBlock("/grpc.testing.TestService/EmptyCall", auth), ...extra]);
  a.write(Buffer.concat([PREFACE, settings(), frame(T.HEADERS, F.END_HEADERS, 1, block), frame(T.DATA, F.END_STREAM, 1, grpcFrame(Buffer.alloc(0)))]));
  await expect.poll(() => callsWith("INVALID_ARGUMENT"), { timeout: 5000 }).toBe(before.invalid + 1);
  a.socket.destroy();
  await expect.poll(() => proxy.openCalls.size, { timeout: 5000 }).toBe(before.open);
  expect(raw.streams.length).toBe(before.upstream);
});

// A satellite may answer with headers HTTP/2 allows and Node will not send on (a repeated
// single-value header). The proxy swallowed the error and the call stayed unanswered until the
// client's deadline, kept in the open-calls registry and holding its satellite's lease meanwhile.
describe("a satellite's answer Node will not pass on", () => {
  const contentType = literal("content-type", "application/grpc");
  const status200 = indexed(8);
  const trailers = (s: number, block: Buffer) => frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, s, block);
  it.each([
    ["response headers", (s: number) => frame(T.HEADERS, F.END_HEADERS, s, Buffer.concat([status200, contentType, contentType]))],
    ["trailers-only", (s: number) => trailers(s, Buffer.concat([status200, contentType, contentType, literal("grpc-status", "0")]))],
    [
      "trailers",
      (s: number) =>
        Buffer.concat([
          frame(T.HEADERS, F.END_HEADERS, s, Buffer.concat([status200, contentType])),
          frame(T.DATA, 0, s, grpcFrame(Buffer.from("ok"))),
          trailers(s, Buffer.concat([literal("grpc-status", "0"), contentType, contentType])),
        ]),
    ],
  ] as const)("in its %s: INTERNAL in words, the call not kept", async (_, answer) => {
    const sat = await rawSatellite(answer);
    try {
      const org = await makeOrg(db);
      const { token } = await makeToken(db, org.id);
      const s = await awakeSatellite(db, org.id, sat.address);
      const before = proxy.openCalls.size;
      const res = await within(5000, rawCall(`127.0.0.1:${proxy.port}`, { satellite_name: s.name, satellite_org: org.id, satellite_token: token }, grpcFrame(Buffer.alloc(0))));
      const status = res.trailers ?? res.headers;
      expect(status["grpc-status"]).toBe(String(Status.INTERNAL));
      expect(decodeURIComponent(String(status["grpc-message"]))).toMatch(/^satellite's (response headers|trailers) cannot be passed on: .*single value/);
      await expect.poll(() => proxy.openCalls.size, { timeout: 5000 }).toBe(before);
    } finally {
      await sat.close();
    }
  });
});

function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);
}
