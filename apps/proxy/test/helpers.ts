// Shared pieces of the proxy's integration tests: a proxy in this process on free ports, tokens,
// satellites in a given state, grpc-js TestService clients carrying the auth metadata, and a
// raw node:http2 upstream that records what reaches it.
import type { TlsMaterial } from "@satellites/pki";
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { loadTestService } from "@satellites/backend";
import { parseConfig } from "@satellites/config";
import type { Db, Satellite } from "@satellites/db";
import { makeSatellite } from "@satellites/testing";
import { transition } from "@satellites/state";
import { generateToken } from "@satellites/tokens";
import { Redis } from "ioredis";
import pino from "pino";
import { startProxy, type Proxy, type ProxyDeps } from "../src/proxy.ts";

export function testConfig(over: Record<string, string> = {}) {
  return { ...parseConfig({ ...process.env, ...over }), PROXY_PORT: 0, PROXY_ADMIN_PORT: 0 };
}

export function uniquePrefix(): string {
  return `satellites-test-${randomBytes(4).toString("hex")}`;
}

export async function startTestProxy(deps: ProxyDeps = {}, over: Record<string, string> = {}): Promise<Proxy & { prefix: string }> {
  const prefix = deps.queuePrefix ?? uniquePrefix();
  const proxy = await startProxy(testConfig(over), { host: "127.0.0.1", logger: pino({ level: process.env.LOG_LEVEL ?? "warn" }), queuePrefix: prefix, ...deps });
  return { ...proxy, prefix };
}

/** Deletes a test's BullMQ keys (nothing consumes them when no jobs worker runs). */
export async function dropQueueKeys(prefix: string): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export async function makeToken(db: Db, orgId: string): Promise<{ token: string; id: string }> {
  const { token, prefix, hash } = generateToken();
  const row = await db.apiToken.create({ data: { orgId, name: "test", prefix, hash } });
  return { token, id: row.id };
}

/** A satellite in `awake` with the given upstream (as the jobs worker leaves one). */
export async function awakeSatellite(db: Db, orgId: string, upstream: string, name?: string): Promise<Satellite> {
  const sat = await makeSatellite(db, orgId, name ? { name } : {});
  const r = await transition(db, { satellite: sat, to: "awake", cause: "launch", actor: "system", set: { upstream } });
  if (!r.won) throw new Error("could not make satellite awake");
  return r.satellite;
}

/** A satellite in `asleep`, through awake and stopping as in real life. */
export async function asleepSatellite(db: Db, orgId: string, upstream: string): Promise<Satellite> {
  let sat = await awakeSatellite(db, orgId, upstream);
  for (const [to, cause] of [["stopping", "idle"], ["asleep", "idle"]] as const) {
    const r = await transition(db, { satellite: sat, to, cause, actor: "system" });
    if (!r.won) throw new Error(`could not move satellite to ${to}`);
    sat = r.satellite;
  }
  return sat;
}

export function authMetadata(name: string, org: string, token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("satellite_name", name);
  md.set("satellite_org", org);
  md.set("satellite_token", token);
  return md;
}

export type TestClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const service = loadTestService();
if (!service) throw new Error("grpc.testing protos missing: apt-get install grpc-proto");
const TestServiceClient = grpc.makeGenericClientConstructor(service, "TestService");

export const CLIENT_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
  "grpc.enable_retries": 0,
  "grpc.use_local_subchannel_pool": 1,
};

export function testClient(address: string): TestClient {
  return new TestServiceClient(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS) as unknown as TestClient;
}

export function unary<Res>(client: TestClient, method: string, req: unknown, md: grpc.Metadata, opts: grpc.CallOptions = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client[method] as (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Res) => void) => void)(req, md, opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The status a failing unary call ends with. */
export async function unaryStatus(client: TestClient, method: string, req: unknown, md: grpc.Metadata, opts: grpc.CallOptions = {}): Promise<{ code: number; details: string }> {
  try {
    await unary(client, method, req, md, opts);
    return { code: 0, details: "" };
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
}

export interface RecordedStream {
  headers: http2.IncomingHttpHeaders;
  rawHeaders: string[];
  stream: http2.ServerHttp2Stream;
  /** Captured on arrival: a closed stream forgets its session. */
  session: http2.Http2Session;
  closed: Promise<number>;
}

/** A raw HTTP/2 upstream: every stream is recorded and handed to `onStream` (default: echo with OK). */
export async function rawUpstream(
  onStream?: (s: RecordedStream) => void,
  /** Serve mutual TLS with this material (what a proxy process requires of satellites). */
  tls?: TlsMaterial,
): Promise<{ address: string; streams: RecordedStream[]; sessions: http2.ServerHttp2Session[]; settled: http2.ServerHttp2Session[]; close(): Promise<void> }> {
  const streams: RecordedStream[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  /** Sessions whose client acknowledged our SETTINGS: it has them, so it counts the session as up. */
  const settled: http2.ServerHttp2Session[] = [];
  const options = { settings: { initialWindowSize: 4 << 20 }, maxHeaderListPairs: 4096 };
  const server = tls
    ? http2.createSecureServer({ ...options, ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, requestCert: true, rejectUnauthorized: true })
    : http2.createServer(options);
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const closed = new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode ?? 0)));
    stream.on("error", () => {});
    const rec = { headers, rawHeaders, stream, session: stream.session!, closed };
    streams.push(rec);
    if (onStream) onStream(rec);
    else echo(stream);
  });
  server.on("session", (s: http2.ServerHttp2Session) => {
    sessions.push(s);
    s.once("localSettings", () => {
      settled.push(s);
      s.setLocalWindowSize(32 << 20);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    streams,
    sessions,
    settled,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        // Sessions still open would hold close() forever.
        setTimeout(r, 200).unref();
      }),
  };
}

/** Echo every request byte back, then OK in trailers. */
export function echo(stream: http2.ServerHttp2Stream): void {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.pipe(stream);
}

/** A raw HTTP/2 call to the proxy; resolves with everything the client saw. */
export function rawCall(
  address: string,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer = Buffer.alloc(0),
): Promise<{ headers: http2.IncomingHttpHeaders; rawHeaders: string[]; trailersOnly: boolean; trailers: http2.IncomingHttpHeaders | undefined; body: Buffer; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`, { maxHeaderListPairs: 4096 });
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": "/grpc.testing.TestService/EmptyCall", "content-type": "application/grpc", te: "trailers", ...headers });
    let resHeaders: http2.IncomingHttpHeaders = {};
    let rawHeaders: string[] = [];
    let trailersOnly = false;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h: http2.IncomingHttpHeaders, flags: number, raw: string[]) => {
      resHeaders = h;
      rawHeaders = raw;
      trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => {});
    req.on("close", () => {
      session.close();
      resolve({ headers: resHeaders, rawHeaders, trailersOnly, trailers, body: Buffer.concat(chunks), rstCode: req.rstCode ?? 0 });
    });
    // In slices, honouring backpressure: one 20 MiB write would overrun the session's memory cap.
    Readable.from((function* () {
      for (let i = 0; i < body.length; i += 64 << 10) yield body.subarray(i, i + (64 << 10));
    })()).pipe(req);
  });
}

/** One gRPC length-prefixed message frame (flag byte, 4-byte length, bytes). */
export function grpcFrame(payload: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}
