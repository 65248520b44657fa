// Wires the front door: an HTTP/2 server (h2c, or TLS when configured) whose every stream is
// metadata → token → director → forward, plus the admin server. `startProxy` is the process
// (main.ts) and the in-process tests alike.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Config } from "@satellites/config";
import { createDb, type Db } from "@satellites/db";
import { warmUp } from "@satellites/db/warm-up";
import { createQueues, redisConnection, type SatelliteQueues, touchActivity } from "@satellites/queue";
import { StateWatcher } from "@satellites/state";
import { generateToken, touchToken, verifyToken } from "@satellites/tokens";
import type { Redis } from "ioredis";
import pino, { type Logger } from "pino";
import { startAdmin } from "./admin.ts";
import { Authenticator } from "./auth.ts";
import { Director, type Route } from "./director.ts";
import { SatelliteDirectory } from "./directory.ts";
import { Call, type ForwardHooks } from "./forward.ts";
import { formatGrpcTimeout, GrpcError, Status, statusName } from "./grpc.ts";
import { Connection, type ConnectionOptions, type Half, type StreamOwner } from "./h2/connection.ts";
import { DEFAULT_LEASES, LeaseKeeper, type LeaseOptions } from "./leases.ts";
import { sweepConnections } from "./lifetimes.ts";
import { type CallMetadata, readCallMetadata } from "./metadata.ts";
import { ProxyMetrics } from "./metrics.ts";
import { FailureLimiter, type RateLimitOptions } from "./rate-limit.ts";
import { UpstreamPool } from "./upstream-pool.ts";
import { WakeWaiter } from "./wake-wait.ts";

export type ProxyConfig = Pick<
  Config,
  "DATABASE_URL" | "REDIS_URL" | "PROXY_PORT" | "PROXY_ADMIN_PORT" | "PROXY_WAKE_TIMEOUT_MS" | "PROXY_IDLE_CONNECTION_MS" | "PROXY_KEEPALIVE_MS" | "PROXY_TLS_CERT" | "PROXY_TLS_KEY" | "LOG_LEVEL"
>;

export interface ProxyDeps {
  /** Interface to bind both ports to; default all interfaces for gRPC, loopback for admin. */
  host?: string;
  adminHost?: string;
  logger?: Logger;
  /** BullMQ key prefix (tests isolate their queues with it); must match the jobs worker's. */
  queuePrefix?: string;
  leases?: Partial<LeaseOptions>;
  /** How long a token verification is trusted (revocation latency); default 2 s. */
  tokenCacheMs?: number;
  rateLimit?: RateLimitOptions;
  /** Unsent answers (PING, SETTINGS acks) a client may leave unread before it is cut off; default 64 MiB. */
  maxUnreadOutput?: number;
  /** A client connection that has not sent its preface and SETTINGS by then is closed; default 10 s. */
  handshakeTimeoutMs?: number;
  /** Per-stream and per-connection flow-control windows, both sides. */
  streamWindow?: number;
  sessionWindow?: number;
}

export interface Proxy {
  port: number;
  adminPort: number;
  replicaId: string;
  metrics: ProxyMetrics;
  /** Stops accepting calls, lets open ones finish for up to `graceMs`, then cuts them. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** Waits for `p`, but no longer than `ms`; shutdown must finish even when a dependency is down. */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

const noop = (): void => {};

const DEFAULT_STREAM_WINDOW = 4 << 20;
const DEFAULT_SESSION_WINDOW = 32 << 20;
// HTTP/2's usual header-list limit; BuildKit's one header per exposed session method fits many times over.
const MAX_HEADER_LIST_BYTES = 64 << 10;

export async function startProxy(config: ProxyConfig, deps: ProxyDeps = {}): Promise<Proxy> {
  const replicaId = `proxy-${randomBytes(6).toString("hex")}`;
  const log = deps.logger ? deps.logger.child({ replica: replicaId }) : pino({ level: config.LOG_LEVEL, base: { replica: replicaId } });
  const streamWindow = deps.streamWindow ?? DEFAULT_STREAM_WINDOW;
  const sessionWindow = deps.sessionWindow ?? DEFAULT_SESSION_WINDOW;

  const db: Db = createDb(config.DATABASE_URL);
  const redis: Redis = redisConnection(config.REDIS_URL);
  redis.on("error", (err) => log.warn({ err: err.message }, "redis error"));
  const queues: SatelliteQueues = createQueues(redis, deps.queuePrefix);
  const watcher = await StateWatcher.start(config.DATABASE_URL, (err) => log.warn({ err: err.message }, "state listener error"));

  const directory = new SatelliteDirectory(db, { ttlMs: 30_000, missTtlMs: 2_000 });
  const pool = new UpstreamPool({ streamWindow, sessionWindow, connectTimeoutMs: 5_000, maxHeaderListBytes: MAX_HEADER_LIST_BYTES }, (satellite, event, detail) =>
    log.debug({ satellite, event, detail }, "upstream session left the pool"),
  );
  const unsubscribe = watcher.subscribe(
    (change) => {
      directory.onChange(change);
      // A satellite put to sleep or resized lets open calls finish on its connections. Any
      // other way out of awake (failed, stopped or deleted under it) means no answer will come:
      // those calls end now instead of hanging on a connection nobody serves.
      if (change.to !== "awake") pool.drop(change.id, `state ${change.to}`, change.to === "stopping" || change.to === "updating" ? "drain" : "cut");
    },
    () => directory.clear(),
  );
  const leases = new LeaseKeeper(redis, db, replicaId, { ...DEFAULT_LEASES, ...deps.leases }, (err, satellite) =>
    log.warn({ satellite, err: err instanceof Error ? err.message : String(err) }, "lease or activity write failed"),
  );
  const limiter = new FailureLimiter(deps.rateLimit ?? { burst: 30, perSecond: 5 });
  const auth = new Authenticator(db, limiter, { cacheMs: deps.tokenCacheMs ?? 2_000 }, (err) =>
    log.warn({ err: err instanceof Error ? err.message : String(err) }, "token touch failed"),
  );
  const waker = new WakeWaiter(db, queues, watcher, config.PROXY_WAKE_TIMEOUT_MS, (id, upstream) => pool.warm(id, upstream));
  const director = new Director(directory, leases, waker);
  const metrics = new ProxyMetrics(() => leases.openCalls(), replicaId);

  // The queries a first call makes (token, satellite, wake's re-read, last-use and activity), matching
  // nothing: a restarted proxy's first call would otherwise wait ~300 ms for Prisma's start.
  await warmUp([
    () => verifyToken(db, generateToken().token),
    () => directory.lookup("warm-up", "warm-up"),
    () => db.satellite.findUnique({ where: { id: "warm-up" } }),
    () => touchToken(db, "warm-up"),
    () => touchActivity(db, "warm-up"),
  ]).then(
    (ms) => log.debug({ ms }, "database queries warmed up"),
    (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, "database warm-up failed; the first calls will be slower"),
  );

  const tls = Boolean(config.PROXY_TLS_CERT && config.PROXY_TLS_KEY);
  const connections = new Set<Connection>();
  const connectionOptions: ConnectionOptions = {
    role: "server",
    streamWindow,
    connectionWindow: sessionWindow,
    maxConcurrentStreams: 1000,
    maxHeaderListBytes: MAX_HEADER_LIST_BYTES,
    maxUnreadOutput: deps.maxUnreadOutput,
  };

  let openCalls = 0;
  let closing = false;

  /** One forwarded call's bookkeeping: the hooks the Call reports to. */
  class Forwarding implements ForwardHooks {
    constructor(
      private readonly route: Route,
      private readonly path: string | undefined,
      private readonly startedAt: number,
      private readonly record: CallRecord,
    ) {}
    sent(n: number): void {
      metrics.bytesUp += n;
    }
    received(n: number): void {
      metrics.bytesDown += n;
    }
    done(outcome: number | "reset"): void {
      this.route.release();
      this.record.done(outcome);
      if (log.isLevelEnabled("debug")) {
        const s = this.route.satellite;
        log.debug({ satellite: s.name, satelliteId: s.id, org: s.orgId, path: this.path, outcome: outcome === "reset" ? "reset" : statusName(outcome), ms: Date.now() - this.startedAt }, "call finished");
      }
    }
  }

  /** Counts a call once, whatever way it ends. */
  class CallRecord {
    private counted = false;
    constructor() {
      openCalls++;
    }
    done(outcome: number | "reset"): void {
      if (this.counted) return;
      this.counted = true;
      openCalls--;
      metrics.call(outcome);
    }
  }

  /** The headers that go upstream: the client's, minus ours, with what remains of its deadline. */
  const upstreamHeaders = (meta: CallMetadata, startedAt: number): string[] => {
    // The call's own array: appended to, not copied.
    if (meta.timeoutMs !== undefined) meta.forward.push("grpc-timeout", formatGrpcTimeout(meta.timeoutMs - (Date.now() - startedAt)));
    return meta.forward;
  };

  const onStream = (source: string) => (half: Half, pairs: string[], endStream: boolean): StreamOwner => {
    const startedAt = Date.now();
    const record = new CallRecord();
    const call = new Call(half, endStream);

    let method: string | undefined;
    let contentType: string | undefined;
    let path: string | undefined;
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const k = pairs[i];
      if (k === ":method") method = pairs[i + 1];
      else if (k === "content-type") contentType ??= pairs[i + 1];
      else if (k === ":path") path = pairs[i + 1];
    }
    if (method !== "POST" || contentType === undefined || !contentType.startsWith("application/grpc")) {
      // Not gRPC: the spec's answer is 415; there is no gRPC status to give.
      call.answerHttp(415);
      record.done(Status.INVALID_ARGUMENT);
      return call;
    }

    let meta: CallMetadata;
    try {
      meta = readCallMetadata(pairs);
    } catch (err) {
      refuse(call, err, { source }, record);
      return call;
    }

    // Steady traffic: token, satellite, lease and connection all known — no awaits at all.
    if (meta.timeoutMs === undefined || meta.timeoutMs > 0) {
      const identity = auth.cached(meta.token);
      const route = identity && director.tryRoute(meta, identity);
      if (route) {
        const conn = pool.ready(route.satellite.id, route.upstream);
        if (conn) {
          call.forward(conn, upstreamHeaders(meta, startedAt), new Forwarding(route, path, startedAt, record));
          return call;
        }
        route.release();
      }
    }
    void slowPath(call, path, meta, source, startedAt, record);
    return call;
  };

  /** Everything that may wait: token check, lookup, lease write, wake, connecting upstream. */
  const slowPath = async (call: Call, path: string | undefined, meta: CallMetadata, source: string, startedAt: number, record: CallRecord): Promise<void> => {
    let route: Route | undefined;
    let ctx: { satellite?: string; org?: string } = { satellite: meta.name, org: meta.org };
    try {
      const identity = await auth.authenticate(meta.token, source);
      // A call held for a wake hears of its client going away through the call itself.
      route = await director.route(meta, identity, startedAt, call);
      const { satellite } = route;
      ctx = { satellite: satellite.name, org: satellite.orgId };
      if (route.waitedMs > 0) metrics.wakeWaited(route.waitedMs / 1000);
      if (meta.timeoutMs !== undefined && meta.timeoutMs - (Date.now() - startedAt) <= 0) {
        throw new GrpcError(Status.DEADLINE_EXCEEDED, `satellite "${satellite.name}" was still waking when the call's deadline passed`);
      }
      // Calls released by a wake find the connection made on the announcement, usually ready.
      const ready = pool.ready(satellite.id, route.upstream);
      const upstream = ready ? { conn: ready, opened: noop } : await pool.connection(satellite.id, route.upstream);
      call.onClientGone = undefined;
      if (call.clientGone) {
        upstream.opened();
        route.release();
        record.done("reset");
        return;
      }
      const r = route;
      route = undefined;
      call.forward(upstream.conn, upstreamHeaders(meta, startedAt), new Forwarding(r, path, startedAt, record));
      upstream.opened();
    } catch (err) {
      route?.release();
      call.onClientGone = undefined;
      refuse(call, err, { ...ctx, source }, record);
    }
  };

  const refuse = (call: Call, err: unknown, ctx: Record<string, string | undefined>, record: CallRecord): void => {
    if (call.clientGone) {
      record.done("reset");
      return;
    }
    if (err instanceof GrpcError) {
      const msg = err.code === Status.UNAUTHENTICATED || err.code === Status.RESOURCE_EXHAUSTED || err.code === Status.INVALID_ARGUMENT ? "call refused" : "call not forwarded";
      const cause = err.cause instanceof Error ? err.cause.message : undefined;
      log.info({ ...ctx, code: statusName(err.code), reason: err.message, ...(cause ? { cause } : {}) }, msg);
      call.answer(err.code, err.message);
      record.done(err.code);
      return;
    }
    // Internal failures (database, Redis, connecting upstream) are logged in full, answered briefly.
    const reason = err instanceof Error ? err.message : String(err);
    log.error({ ...ctx, err: reason }, "call failed inside the proxy");
    call.answer(Status.UNAVAILABLE, "the satellite cannot be reached right now; try again");
    record.done(Status.UNAVAILABLE);
  };

  const accept = (socket: Socket): void => {
    // Small gRPC frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
    socket.setNoDelay(true);
    const source = socket.remoteAddress ?? "unknown";
    const conn = new Connection(socket, connectionOptions, {
      onStream: onStream(source),
      onClose: (err) => {
        connections.delete(conn);
        if (err) log.debug({ err: err.message, source }, "client connection error");
      },
    });
    connections.add(conn);
    if (closing) conn.shutdown();
  };
  const handshakeMs = deps.handshakeTimeoutMs ?? 10_000;
  const stopSweeping = sweepConnections(connections, { handshakeMs, idleMs: config.PROXY_IDLE_CONNECTION_MS, keepaliveMs: config.PROXY_KEEPALIVE_MS }, log);

  const server: net.Server = tls
    ? createTlsServer({ cert: readFileSync(config.PROXY_TLS_CERT!), key: readFileSync(config.PROXY_TLS_KEY!), ALPNProtocols: ["h2"], handshakeTimeout: handshakeMs }, accept)
    : net.createServer(accept);
  server.on("tlsClientError", (err: Error) => log.debug({ err: err.message }, "TLS handshake failed"));

  const host = deps.host;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PROXY_PORT, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let admin: http.Server;
  try {
    admin = await startAdmin(deps.adminHost ?? "127.0.0.1", config.PROXY_ADMIN_PORT, metrics, () => ({
      ok: !closing && server.listening,
      detail: { replica: replicaId, openCalls },
    }));
  } catch (err) {
    server.close();
    throw err;
  }
  const adminPort = (admin.address() as AddressInfo).port;
  log.info({ port, adminPort, tls }, "proxy listening");

  let closed: Promise<void> | undefined;
  const close = ({ graceMs = 10_000 }: { graceMs?: number } = {}): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      stopSweeping();
      server.close();
      // GOAWAY tells clients to take new calls elsewhere while open ones finish.
      for (const c of connections) c.shutdown();
      const deadline = Date.now() + graceMs;
      while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const c of [...connections]) c.destroy();
      pool.destroy();
      unsubscribe();
      // Redis may be the reason we are stopping: releasing leases and closing queues get a bound.
      await atMost(leases.shutdown(), 2_000);
      await new Promise<void>((r) => admin.close(() => r()));
      await watcher.close();
      await atMost(queues.close(), 2_000);
      redis.disconnect();
      await db.$disconnect();
      log.info("proxy stopped");
    })());

  return { port, adminPort, replicaId, metrics, close };
}
