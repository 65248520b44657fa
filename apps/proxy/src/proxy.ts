// Wires the proxy: the front door (front-door.ts: node:http2 server, limits), what each call
// goes through (calls.ts: metadata → token → director → forward), the satellites' sessions
// (upstream-pool.ts), and the admin server. `startProxy` is the process (main.ts) and the
// in-process tests alike.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import type { Config } from "@satellites/config";
import { createDb, type Db } from "@satellites/db";
import { Announcements } from "@satellites/db/announcements";
import { warmUp } from "@satellites/db/warm-up";
import { createQueues, redisConnection, requestCheck, type SatelliteQueues, touchActivity } from "@satellites/queue";
import { ADDRESS_CHANNEL, followAddressHints, STATE_CHANNEL, StateWatcher } from "@satellites/state";
import { generateToken, touchToken, verifyToken } from "@satellites/tokens";
import { REVOCATION_CHANNEL } from "@satellites/tokens/revocations";
import type { Redis } from "ioredis";
import type { TlsMaterial } from "@satellites/pki";
import pino, { type Logger } from "pino";
import { startAdmin } from "./admin.ts";
import { Authenticator } from "./auth.ts";
import { BuildRecorder } from "./build-records.ts";
import { CertificateAuthenticator } from "./certificate-auth.ts";
import { CallHandler } from "./calls.ts";
import { Director } from "./director.ts";
import { SatelliteDirectory } from "./directory.ts";
import { FrontDoor, type FrontDoorTls } from "./front-door.ts";
import { DEFAULT_LEASES, LeaseKeeper, type LeaseOptions } from "./leases.ts";
import { type LimitsConfig, limitsFromConfig } from "./limits.ts";
import { ProxyMetrics } from "./metrics.ts";
import { OpenCalls } from "./open-calls.ts";
import { MemoryGuard } from "./overload.ts";
import { type RevocationWatch, watchRevocations } from "./revocation-watch.ts";
import { AuthFailureLimiter, limiterConnection, type AuthLimitOptions, type FailureVerdict } from "./auth-limiter.ts";
import { RefusalLog } from "./refusal-log.ts";
import { UpstreamPool } from "./upstream-pool.ts";
import type { ReserveWaits } from "./reserve-waits.ts";
import { WakeWaiter } from "./wake-wait.ts";

export type ProxyConfig = Pick<
  Config,
  "DATABASE_URL" | "DATABASE_POOL_MIN" | "REDIS_URL" | "PROXY_PORT" | "PROXY_ADMIN_PORT" | "PROXY_WAKE_TIMEOUT_MS" | "PROXY_IDLE_CONNECTION_MS" | "PROXY_KEEPALIVE_MS" | "PROXY_TLS_CERT" | "PROXY_TLS_KEY" | "LOG_LEVEL" | "PROXY_AUTH_FAILURES_PER_ADDRESS" | "PROXY_AUTH_FAILURES_PER_SATELLITE" | "PROXY_AUTH_FAILURE_WINDOW_SECONDS" | "PROXY_AUTH_LOG_INTERVAL_MS" | "PROXY_BUILD_RECORDS" | "PROXY_BUILD_RECORD_INTERVAL_MS"
> &
  LimitsConfig;

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
  /** Failed-authentication budgets; default from the PROXY_AUTH_* settings. */
  authLimit?: Partial<AuthLimitOptions>;
  /** A client connection that has not sent its preface and SETTINGS by then is closed; default 10 s. */
  handshakeTimeoutMs?: number;
  /**
   * The proxy's client certificate for the mutual-TLS hop to satellites (main.ts always loads it
   * from the CA). Left out only by in-process tests whose fixture satellites speak plaintext.
   */
  upstreamTls?: TlsMaterial;
  /**
   * The front door's TLS (main.ts: server-certificate.ts — the operator's certificate, or one
   * from the control-plane CA beside h2c — with the client CA). Default: PROXY_TLS_CERT/KEY
   * alone, without client certificates, or h2c.
   */
  frontDoorTls?: FrontDoorTls;
  /**
   * The process's one LISTEN connection, on at least PROXY_CHANNELS (main.ts shares it with the
   * Earthly API). Default: one of the proxy's own, closed with it.
   */
  announcements?: Announcements;
  /** Waits of the Earthly API's reserves (main.ts shares one with it): the builds that follow take them. */
  reserveWaits?: ReserveWaits;
}

/** What the proxy hears: state changes, revocations, waking satellites' addresses. */
export const PROXY_CHANNELS = [STATE_CHANNEL, REVOCATION_CHANNEL, ADDRESS_CHANNEL] as const;

export interface Proxy {
  port: number;
  adminPort: number;
  replicaId: string;
  metrics: ProxyMetrics;
  /** Every forwarded call, to end any of them with a status (revocation). */
  openCalls: OpenCalls;
  /**
   * Counts a failed authentication from `source` (an addressKey) at another front door of the
   * process (the Earthly API's port) in this proxy's budget and refusal log; whether it is over.
   */
  authFailed(source: string): Promise<FailureVerdict>;
  /** Stops accepting calls, lets open ones finish for up to `graceMs`, then cuts them. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** Waits for `p`, but no longer than `ms`; shutdown must finish even when a dependency is down. */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => {}), new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The queries a first call makes (token, satellite, wake's re-read, last-use and activity), matching nothing. */
async function warmQueries(db: Db, directory: SatelliteDirectory, log: Logger): Promise<void> {
  // A restarted proxy's first call would otherwise wait ~300 ms for Prisma's start.
  await warmUp([
    () => verifyToken(db, generateToken().token),
    () => directory.lookup("warm-up", "warm-up"),
    () => db.satellite.findUnique({ where: { id: "warm-up" } }),
    () => touchToken(db, "warm-up"),
    () => touchActivity(db, "warm-up"),
  ]).then(
    (ms) => log.debug({ ms }, "database queries warmed up"),
    (err: unknown) => log.warn({ err: errorText(err) }, "database warm-up failed; the first calls will be slower"),
  );
}

/** Where the proxy keeps and hears its state: Postgres, Redis, the queues, the announcements. */
async function connectStores(config: ProxyConfig, deps: ProxyDeps, log: Logger) {
  const db: Db = createDb(config.DATABASE_URL, { min: config.DATABASE_POOL_MIN });
  const redis: Redis = redisConnection(config.REDIS_URL);
  redis.on("error", (err) => log.warn({ err: err.message }, "redis error"));
  const queues: SatelliteQueues = createQueues(redis, deps.queuePrefix);
  const hub = deps.announcements ?? (await Announcements.start(config.DATABASE_URL, PROXY_CHANNELS, { onError: (err) => log.warn({ err: err.message }, "announcement listener error") }));
  const watcher = new StateWatcher(hub);
  /** Closes the announcements only if they are the proxy's own. */
  const closeHub = deps.announcements ? async () => {} : () => hub.close();
  return { db, redis, queues, hub, watcher, closeHub };
}

/** Tokens and client certificates, checked against one failed-authentication budget. */
function authenticators(config: ProxyConfig, deps: ProxyDeps, db: Db, log: Logger) {
  const limiterRedis = limiterConnection(config.REDIS_URL);
  const limiter = new AuthFailureLimiter(limiterRedis, {
    perAddress: config.PROXY_AUTH_FAILURES_PER_ADDRESS,
    perSatellite: config.PROXY_AUTH_FAILURES_PER_SATELLITE,
    windowSeconds: config.PROXY_AUTH_FAILURE_WINDOW_SECONDS,
    keyPrefix: deps.queuePrefix ?? "satellites",
    ...deps.authLimit,
  });
  const refusals = new RefusalLog(log, config.PROXY_AUTH_LOG_INTERVAL_MS);
  const cacheMs = deps.tokenCacheMs ?? 2_000;
  const auth = new Authenticator(db, limiter, refusals, { cacheMs }, (err) => log.warn({ err: errorText(err) }, "token touch failed"));
  const certs = new CertificateAuthenticator(db, limiter, refusals, cacheMs, (err) => log.warn({ err: errorText(err) }, "certificate touch failed"));
  const authFailed = async (source: string): Promise<FailureVerdict> => {
    const verdict = await limiter.failedFrom(source);
    refusals.count(source, verdict.refused);
    return verdict;
  };
  return { auth, certs, refusals, limiterRedis, authFailed };
}

/** What each state announcement changes here: the directory, open calls of deleted satellites, sessions. */
function followStates(watcher: StateWatcher, directory: SatelliteDirectory, revocations: RevocationWatch, pool: UpstreamPool): () => void {
  return watcher.subscribe(
    (change) => {
      directory.onChange(change);
      // Before the sessions are cut: a deleted satellite's calls end saying so.
      revocations.onStateChange(change);
      // A satellite put to sleep or resized lets open calls finish on its sessions. Any other way
      // out of awake (failed, stopped or deleted under it) means no answer will come: those calls
      // end now instead of hanging on a connection nobody serves. Entering `starting` is not a
      // way out of awake (it comes from asleep or failed): the only session it could find is one
      // begun on the wake's address hint, which may be heard before this announcement.
      // A late announcement older than the address in use (the sleep before this wake) is ignored.
      if (change.to !== "awake" && change.to !== "starting") pool.drop(change.id, `state ${change.to}`, change.to === "stopping" || change.to === "updating" ? "drain" : "cut", change.version);
    },
    () => {
      directory.clear();
      revocations.onStateResync();
    },
  );
}

/** A waking satellite's address, announced before its probe passes: replicas holding calls for it connect meanwhile. */
function prepareOnHints(hub: Announcements, waker: WakeWaiter, pool: UpstreamPool): () => void {
  return followAddressHints(hub, (h) => {
    if (waker.isWaiting(h.id)) pool.prepare(h.id, h.upstream);
  });
}

/** The front door's TLS: what main.ts gives, else PROXY_TLS_CERT/KEY without client certificates, else h2c. */
function frontDoorTls(config: ProxyConfig, deps: ProxyDeps): FrontDoorTls | undefined {
  if (deps.frontDoorTls) return deps.frontDoorTls;
  if (!config.PROXY_TLS_CERT || !config.PROXY_TLS_KEY) return undefined;
  return { cert: readFileSync(config.PROXY_TLS_CERT, "utf8"), key: readFileSync(config.PROXY_TLS_KEY, "utf8"), plaintext: false };
}

type Stores = Awaited<ReturnType<typeof connectStores>>;

/** Everything a call goes through after the front door: authentication, director, wake, sessions, records. */
async function buildCallPath(config: ProxyConfig, deps: ProxyDeps, stores: Stores, limits: ReturnType<typeof limitsFromConfig>, replicaId: string, log: Logger) {
  const { db, redis, queues, watcher } = stores;
  const directory = new SatelliteDirectory(db, { ttlMs: 30_000, missTtlMs: 2_000 });
  const pool = new UpstreamPool(
    { streamWindow: limits.streamWindow, sessionWindow: limits.sessionWindow, connectTimeoutMs: 5_000, maxHeaderListBytes: limits.maxHeaderListBytes, tls: deps.upstreamTls },
    (satellite, event, detail) => log.debug({ satellite, event, detail }, "upstream session left the pool"),
  );
  const { auth, certs, refusals, limiterRedis, authFailed } = authenticators(config, deps, db, log);
  const openCalls = new OpenCalls();
  const revocations = watchRevocations(stores.hub, db, openCalls, { token: (id) => auth.forget(id), certificate: (id) => certs.forget(id) }, log);
  const unsubscribe = followStates(watcher, directory, revocations, pool);
  const leases = new LeaseKeeper(redis, db, replicaId, { ...DEFAULT_LEASES, ...deps.leases }, (err, satellite) =>
    log.warn({ satellite, err: errorText(err) }, "lease or activity write failed"),
  );
  const waker = new WakeWaiter(db, queues, watcher, config.PROXY_WAKE_TIMEOUT_MS, (id, upstream, version) => pool.warm(id, upstream, version), (r) =>
    // One line per wake and replica: where the time between the probe passing and the calls going out went.
    log.info({ satellite: r.satelliteId, heardMs: r.heardMs, connectedMs: r.connectedMs, forwardedMs: r.forwardedMs }, "wake released the calls held for it"),
  );
  const stopHints = prepareOnHints(stores.hub, waker, pool);
  const metrics = new ProxyMetrics(() => leases.openCalls(), replicaId);
  const guard = new MemoryGuard(limits.maxRssBytes, (over, rss) =>
    log.warn({ rssMiB: Math.round(rss / 2 ** 20), capMiB: Math.round(limits.maxRssBytes / 2 ** 20) }, over ? "memory over its cap: new connections and calls are refused" : "memory back under its cap"),
  );
  // A satellite that cannot be reached is checked by the jobs process now, not at its next
  // reconcile pass: a crashed machine shows as failed, with the reason, within seconds.
  const onUpstreamUnreachable = (satelliteId: string): void => {
    requestCheck(queues, satelliteId).catch((err: unknown) => log.warn({ satellite: satelliteId, err: errorText(err) }, "could not request a check"));
  };
  const recorder = new BuildRecorder(config.PROXY_BUILD_RECORDS ? db : undefined, replicaId, { intervalMs: config.PROXY_BUILD_RECORD_INTERVAL_MS, maxPending: 100_000 }, (err, dropped) =>
    log.warn({ err: errorText(err), dropped }, "build records not written yet"),
  );
  const calls = new CallHandler({ auth, certs, director: new Director(directory, leases, waker), pool, metrics, openCalls, guard, log, recorder, onUpstreamUnreachable, reserveWaits: deps.reserveWaits });

  /** After the front door has drained: the calls it ended are written with their end. */
  const stop = async (): Promise<void> => {
    guard.stop();
    pool.destroy();
    await atMost(recorder.close(), 5_000);
    unsubscribe();
    stopHints();
    revocations.close();
    // Redis may be the reason we are stopping: releasing leases gets a bound.
    await atMost(leases.shutdown(), 2_000);
    refusals.stop();
    limiterRedis.disconnect();
  };
  return { directory, metrics, guard, openCalls, calls, stop, authFailed };
}

async function closeStores({ db, redis, queues, watcher, closeHub }: Stores): Promise<void> {
  await watcher.close();
  await closeHub();
  await atMost(queues.close(), 2_000);
  redis.disconnect();
  await db.$disconnect();
}

export async function startProxy(config: ProxyConfig, deps: ProxyDeps = {}): Promise<Proxy> {
  const replicaId = `proxy-${randomBytes(6).toString("hex")}`;
  const log = deps.logger ? deps.logger.child({ replica: replicaId }) : pino({ level: config.LOG_LEVEL, base: { replica: replicaId } });
  const limits = limitsFromConfig(config, deps.handshakeTimeoutMs ?? 10_000);
  const stores = await connectStores(config, deps, log);
  const { directory, metrics, guard, openCalls, calls, stop, authFailed } = await buildCallPath(config, deps, stores, limits, replicaId, log);
  await warmQueries(stores.db, directory, log);

  const tls = frontDoorTls(config, deps);
  const door = new FrontDoor({ limits, tls, idleMs: config.PROXY_IDLE_CONNECTION_MS, keepaliveMs: config.PROXY_KEEPALIVE_MS, guard, log, onStream: calls.onStream });
  let closing = false;
  let port: number;
  let admin: http.Server;
  try {
    port = await door.listen(config.PROXY_PORT, deps.host);
    admin = await startAdmin(deps.adminHost ?? "127.0.0.1", config.PROXY_ADMIN_PORT, metrics, () => ({
      ok: !closing && door.listening,
      detail: { replica: replicaId, openCalls: calls.open },
    }));
  } catch (err) {
    // A port taken: what was opened so far is closed, so an embedding program is not kept alive by it.
    await door.drain(0);
    await stop();
    await closeStores(stores);
    throw err;
  }
  const adminPort = (admin.address() as AddressInfo).port;
  log.info({ port, adminPort, tls: Boolean(tls), h2c: !tls || tls.plaintext, clientCertificates: Boolean(tls?.clientCa) }, "proxy listening");

  let closed: Promise<void> | undefined;
  const close = ({ graceMs = 10_000 }: { graceMs?: number } = {}): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      await door.drain(graceMs);
      await stop();
      await new Promise<void>((r) => admin.close(() => r()));
      await closeStores(stores);
      log.info("proxy stopped");
    })());

  return { port, adminPort, replicaId, metrics, openCalls, authFailed, close };
}
