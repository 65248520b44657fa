// The Earthly API's port is as exposed as the proxy's and runs in the same process, so it has
// limits of its own: connections per source address and in all (the proxy's settings), a
// deadline for the HTTP/2 handshake, idle connections closed, streams per connection bounded,
// and no call held open without a caller it knows (log sharing included).
import http2 from "node:http2";
import net from "node:net";
import { type ClientDuplexStream, Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth, type Harness, org, person, type Person, startHarness, unary } from "./fixtures.ts";

const PER_ADDRESS = 3;
let h: Harness;
let member: Person;

beforeAll(async () => {
  h = await startHarness({ PROXY_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) }, { handshakeTimeoutMs: 600, idleTimeoutMs: 1_000 });
  member = await person(h.db, (await org(h.db)).id, "member");
});
afterAll(() => h.close());

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(h.api.port, "127.0.0.1", () => resolve(s));
    s.on("error", reject);
  });
}

/** Resolves with how long the server took to close the socket, or null if it was still open after `ms`. */
function closedWithin(s: net.Socket, ms: number): Promise<number | null> {
  const at = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - at);
    });
    s.resume();
  });
}

describe("the Earthly API's port", () => {
  it("closes a source address's connection beyond PROXY_MAX_CONNECTIONS_PER_ADDRESS at accept; one closing makes room", async () => {
    const held = await Promise.all(Array.from({ length: PER_ADDRESS }, () => connect()));
    // Each speaks HTTP/2 so that the handshake deadline does not close it meanwhile.
    for (const s of held) s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00");
    const extra = await connect();
    expect(await closedWithin(extra, 2_000)).not.toBeNull();
    held[0]!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    // Room again: a real call over a new connection is answered.
    const plan = await unary(h.client("Billing"), "GetBillingPlan", { org_name: "x" }, auth(member.token));
    expect(plan).toHaveProperty("plan");
    for (const s of held) s.destroy();
    // The server hears those closes a moment later; the next case must not find the address full.
    await new Promise((r) => setTimeout(r, 300));
  });

  it("closes a connection that has not finished its HTTP/2 handshake in time", async () => {
    const silent = await connect();
    const ms = await closedWithin(silent, 5_000);
    expect(ms).not.toBeNull();
    expect(ms!).toBeGreaterThanOrEqual(400);
  });

  it("sends GOAWAY to a connection idle for the idle time, and offers at most 100 streams per connection", async () => {
    const session = http2.connect(`http://127.0.0.1:${h.api.port}`);
    session.on("error", () => {});
    const settings = await new Promise<http2.Settings>((r) => session.once("remoteSettings", r));
    expect(settings.maxConcurrentStreams).toBe(100);
    const at = Date.now();
    const code = await Promise.race([new Promise<number>((r) => session.once("goaway", (c: number) => r(c))), new Promise<null>((r) => setTimeout(() => r(null), 5_000))]);
    expect(code, "no GOAWAY within 5 s").not.toBeNull();
    expect(Date.now() - at).toBeGreaterThanOrEqual(800);
    session.destroy();
  });

  it("refuses log sharing without a known caller at once (UNAUTHENTICATED) instead of holding the stream", async () => {
    const logs = h.client("LogStream") as unknown as { StreamLogs(md: Metadata): ClientDuplexStream<object, object> };
    for (const md of [new Metadata(), auth("satl_" + "x".repeat(40))]) {
      const stream = logs.StreamLogs(md);
      const at = Date.now();
      const err = await new Promise<{ code: number }>((r) => stream.on("error", r));
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(Date.now() - at).toBeLessThan(2_000);
    }
  });

  // grpc-js buffers a message whole before a handler (or the caller check) sees it, up to its
  // 4 MiB default: 100 anonymous calls each announcing 4 MiB and sending nearly that held
  // ~400 MiB of the proxy process per connection. Earthly's messages are a few KiB.
  it("refuses a message over 1 MiB as soon as its length is announced, without a caller", async () => {
    const session = http2.connect(`http://127.0.0.1:${h.api.port}`);
    session.on("error", () => {});
    const req = session.request({ ":method": "POST", ":path": "/api.public.analytics.Analytics/SendAnalytics", "content-type": "application/grpc", te: "trailers" });
    req.on("error", () => {});
    const head = Buffer.alloc(5);
    head.writeUInt32BE(2 << 20, 1);
    req.write(Buffer.concat([head, Buffer.alloc(64 << 10)]));
    const trailers = await Promise.race([
      new Promise<http2.IncomingHttpHeaders>((r) => {
        req.on("trailers", r);
        req.on("response", (h, flags: number) => flags & http2.constants.NGHTTP2_FLAG_END_STREAM && r(h));
      }),
      new Promise<null>((r) => setTimeout(() => r(null), 5_000)),
    ]);
    expect(trailers?.["grpc-status"]).toBe(String(status.RESOURCE_EXHAUSTED));
    session.destroy();
  });
});
