// Graceful drain of a real proxy process: on SIGTERM every client connection gets GOAWAY NO_ERROR
// with its last stream id, calls that finish within PROXY_DRAIN_MS finish normally, a call still
// open at the deadline (a client ignoring GOAWAY) is cut then, and the process exits 0.
import http2 from "node:http2";
import { makeOrg, testDb } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import { awakeSatellite, grpcFrame, makeToken, rawUpstream } from "./helpers.ts";
import { startProxyProcess } from "./processes.ts";

const db = testDb();
const DRAIN_MS = 2_000;
let upstream: Awaited<ReturnType<typeof rawUpstream>>;
let auth: Record<string, string>;
/** Ends the call named "short" upstream (trailers OK). */
let finishShort: () => void = () => {};

beforeAll(async () => {
  // The proxy process speaks mutual TLS to satellites: the fixture serves it with a certificate from its CA.
  const tls = await fixtureSatelliteTls();
  upstream = await rawUpstream((s) => {
    s.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    s.stream.on("wantTrailers", () => s.stream.sendTrailers({ "grpc-status": "0" }));
    s.stream.write(grpcFrame(Buffer.from("started")));
    s.stream.resume();
    if (s.headers["x-call"] === "short") finishShort = () => s.stream.end();
    // "long" is never ended by the satellite: only the proxy's deadline ends it.
  }, tls);
  const org = await makeOrg(db);
  const { token } = await makeToken(db, org.id);
  const sat = await awakeSatellite(db, org.id, upstream.address);
  auth = { satellite_name: sat.name, satellite_org: org.id, satellite_token: token };
});

afterAll(async () => {
  await upstream?.close();
});

/** A bidi call; `short` half-closes at once (the satellite ends it), `long` keeps sending side open. */
function open(session: http2.ClientHttp2Session, name: "short" | "long") {
  const req = session.request({ ":method": "POST", ":path": "/grpc.testing.TestService/FullDuplexCall", "content-type": "application/grpc", te: "trailers", "x-call": name, ...auth });
  req.on("error", () => {});
  const started = new Promise<void>((r) => req.once("data", () => r()));
  let trailers: http2.IncomingHttpHeaders | undefined;
  req.on("trailers", (t) => (trailers = t));
  const closed = new Promise<{ at: number; trailers?: http2.IncomingHttpHeaders }>((r) => req.on("close", () => r({ at: Date.now(), trailers })));
  req.on("data", () => {});
  if (name === "short") req.end(grpcFrame(Buffer.alloc(0)));
  else req.write(grpcFrame(Buffer.alloc(0)));
  return { req, started, closed };
}

it("SIGTERM: GOAWAY with the last stream id, open calls finish until PROXY_DRAIN_MS, the rest are cut then, exit 0", async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused", PROXY_DRAIN_MS: String(DRAIN_MS) });
  const session = http2.connect(`http://127.0.0.1:${p.port}`);
  session.on("error", () => {});
  try {
    const short = open(session, "short");
    const long = open(session, "long");
    await Promise.all([short.started, long.started]);
    const goaway = new Promise<{ code: number; last: number }>((r) => session.once("goaway", (code, last) => r({ code, last })));
    const exited = new Promise<number | null>((r) => p.proc.once("exit", (code) => r(code)));
    const signalledAt = Date.now();
    p.proc.kill("SIGTERM");

    const ga = await goaway;
    expect(ga.code).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(ga.last).toBe(long.req.id);
    // After GOAWAY the client opens nothing new on this connection; open calls go on.
    await new Promise((r) => setTimeout(r, 300));
    finishShort();
    const s = await short.closed;
    expect(s.trailers?.["grpc-status"]).toBe("0");
    expect(s.at - signalledAt).toBeLessThan(DRAIN_MS);

    // The call nobody ends is cut at the deadline, not before, not much after.
    const l = await long.closed;
    expect(l.trailers).toBeUndefined();
    expect(l.at - signalledAt).toBeGreaterThanOrEqual(DRAIN_MS - 100);
    expect(l.at - signalledAt).toBeLessThan(DRAIN_MS + 3_000);
    expect(await exited).toBe(0);
  } finally {
    session.destroy();
    await p.stop();
  }
}, 60_000);
