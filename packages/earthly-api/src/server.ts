// Earthly's cloud gRPC API on a port of its own (EARTHLY_API_PORT), started by the proxy
// process with one call. grpc-js serves it: these are ordinary, known services, unlike the
// proxy's byte-level forwarding. TLS with the proxy's certificate when one is configured.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { type Config, proxyPublicAddress } from "@satellites/config";
import { earthlySatelliteAddress } from "./satellite-address.ts";
import { createDb, type Db } from "@satellites/db";
import { Announcements } from "@satellites/db/announcements";
import { createQueues, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { STATE_CHANNEL, StateWatcher } from "@satellites/state";
import { REVOCATION_CHANNEL } from "@satellites/tokens/revocations";
import { type AuthFailures, Callers } from "./caller.ts";
import { computeHandlers } from "./compute.ts";
import type { ApiContext } from "./context.ts";
import { toServiceError } from "./errors.ts";
import { OpenStreams, watchStreamRevocations } from "./open-streams.ts";
import { listen, type Listening, serverOptions } from "./listener.ts";
import { loadEarthlyServices } from "./proto.ts";
import { analyticsHandlers, billingHandlers, logStreamHandlers } from "./side-services.ts";
import { streamUntilAsleep, streamUntilAwake } from "./status-streams.ts";

export type EarthlyApiConfig = Pick<
  Config,
  | "DATABASE_URL"
  | "DATABASE_POOL_MIN"
  | "REDIS_URL"
  | "EARTHLY_API_PORT"
  | "PROXY_TLS_CERT"
  | "PROXY_TLS_KEY"
  | "PROXY_PUBLIC_ADDRESS"
  | "PUBLIC_URL"
  | "PROXY_PORT"
  | "PROVIDER"
  | "IDLE_TIMEOUT_DEFAULT_SECONDS"
  | "QUEUE_PREFIX"
  | "PROXY_MAX_CONNECTIONS"
  | "PROXY_MAX_CONNECTIONS_PER_ADDRESS"
>;

export interface EarthlyApiDeps {
  /** Interface to bind to; default all interfaces. */
  host?: string;
  /** Port to bind instead of EARTHLY_API_PORT (0: any free port, for tests). */
  port?: number;
  /** Logs unexpected handler failures (bad input and refusals are answers, not errors). */
  onError?: (err: unknown, method: string) => void;
  /** Longest a Wake/Reserve/Sleep stream follows its satellite; default 20 min (the CLI's own reserve limit). */
  streamTimeoutMs?: number;
  /** How long a token verification is trusted (revocation latency); default 2 s. */
  tokenCacheMs?: number;
  /**
   * The process's one LISTEN connection, on at least EARTHLY_API_CHANNELS (the proxy's, in
   * main.ts). Default: one of the API's own, closed with it.
   */
  announcements?: Announcements;
  /** Told of each ReserveSatellite that answered OPERATIONAL (ApiContext.onReserved). */
  onReserved?: ApiContext["onReserved"];
  /** A connection silent this long is closed; default 10 s (the proxy's front door's). */
  handshakeTimeoutMs?: number;
  /** A connection with no call this long gets GOAWAY; default 5 min. */
  idleTimeoutMs?: number;
  /** Where failed authentications are counted (the proxy's budget, in main.ts); default: not counted. */
  authFailures?: AuthFailures;
}

/** What the API hears: state changes for its status streams, revocations that end them. */
export const EARTHLY_API_CHANNELS = [STATE_CHANNEL, REVOCATION_CHANNEL] as const;

export interface EarthlyApi {
  port: number;
  close(): Promise<void>;
}

function unary<Q>(method: string, ctx: ApiContext, fn: (call: grpc.ServerUnaryCall<Q, unknown>) => Promise<unknown>): grpc.handleUnaryCall<Q, unknown> {
  return (call, callback) => {
    fn(call).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const e = toServiceError(err);
        if (e !== err) ctx.onError(err, method);
        callback(e);
      },
    );
  };
}

type StatusStream = grpc.ServerWritableStream<{ org_id: string; name: string }, { status: number }>;

function serverStream(method: string, ctx: ApiContext, fn: (call: StatusStream) => Promise<void>): grpc.handleServerStreamingCall<{ org_id: string; name: string }, { status: number }> {
  return (call) => {
    fn(call).catch((err: unknown) => {
      const e = toServiceError(err);
      if (e !== err) ctx.onError(err, method);
      if (!call.cancelled) call.emit("error", e);
    });
  };
}

/** Earthly's four services on one grpc-js server, each call through the context's rules. */
function earthlyServer(ctx: ApiContext, idleTimeoutMs: number): grpc.Server {
  const services = loadEarthlyServices();
  const server = new grpc.Server(serverOptions(idleTimeoutMs));
  const compute = computeHandlers(ctx);
  server.addService(services.Compute.service, {
    ListSatellites: unary("ListSatellites", ctx, compute.ListSatellites),
    GetSatellite: unary("GetSatellite", ctx, compute.GetSatellite),
    LaunchSatellite: unary("LaunchSatellite", ctx, compute.LaunchSatellite),
    UpdateSatellite: unary("UpdateSatellite", ctx, compute.UpdateSatellite),
    DeleteSatellite: unary("DeleteSatellite", ctx, compute.DeleteSatellite),
    WakeSatellite: serverStream("WakeSatellite", ctx, async (call) => {
      const caller = await ctx.callers.require(call, "member", "wake satellites");
      await streamUntilAwake(ctx, call, caller, "manual");
    }),
    ReserveSatellite: serverStream("ReserveSatellite", ctx, async (call) => {
      const caller = await ctx.callers.require(call, "member", "use satellites");
      await streamUntilAwake(ctx, call, caller, "request");
    }),
    SleepSatellite: serverStream("SleepSatellite", ctx, async (call) => {
      const caller = await ctx.callers.require(call, "member", "put satellites to sleep");
      await streamUntilAsleep(ctx, call, caller);
    }),
  });
  server.addService(services.Billing.service, billingHandlers);
  server.addService(services.LogStream.service, logStreamHandlers(ctx));
  server.addService(services.Analytics.service, analyticsHandlers);
  return server;
}

/** Listens with the proxy's certificate when one is configured, else plaintext, within the proxy's connection limits. */
function bind(server: grpc.Server, config: EarthlyApiConfig, deps: EarthlyApiDeps): Promise<Listening> {
  const credentials =
    config.PROXY_TLS_CERT && config.PROXY_TLS_KEY
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(config.PROXY_TLS_CERT), private_key: readFileSync(config.PROXY_TLS_KEY) }], false)
      : grpc.ServerCredentials.createInsecure();
  return listen(server, credentials, deps.host ?? "0.0.0.0", deps.port ?? config.EARTHLY_API_PORT, {
    maxConnections: config.PROXY_MAX_CONNECTIONS,
    maxConnectionsPerAddress: config.PROXY_MAX_CONNECTIONS_PER_ADDRESS,
    handshakeTimeoutMs: deps.handshakeTimeoutMs ?? 10_000,
  });
}

/** Lets open calls finish for up to 5 s, then cuts them. */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 5_000);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startEarthlyApi(config: EarthlyApiConfig, deps: EarthlyApiDeps = {}): Promise<EarthlyApi> {
  const db: Db = createDb(config.DATABASE_URL, { min: config.DATABASE_POOL_MIN });
  const redis = redisConnection(config.REDIS_URL);
  redis.on("error", () => {});
  const queues: SatelliteQueues = createQueues(redis, config.QUEUE_PREFIX);
  const onError = deps.onError ?? (() => {});
  const hub = deps.announcements ?? (await Announcements.start(config.DATABASE_URL, EARTHLY_API_CHANNELS, { onError: (err) => onError(err, "announcements") }));
  const watcher = new StateWatcher(hub);
  const ctx: ApiContext = {
    db,
    queues,
    watcher,
    callers: new Callers(db, deps.tokenCacheMs ?? 2_000, deps.authFailures),
    streams: new OpenStreams(),
    proxyAddress: earthlySatelliteAddress(proxyPublicAddress(config), { tls: Boolean(config.PROXY_TLS_CERT) }),
    provider: config.PROVIDER,
    idleTimeoutSeconds: config.IDLE_TIMEOUT_DEFAULT_SECONDS,
    streamTimeoutMs: deps.streamTimeoutMs ?? 20 * 60_000,
    onError,
    onReserved: deps.onReserved,
  };
  const stopRevocations = watchStreamRevocations(hub, db, ctx.streams, (id) => ctx.callers.forget(id), (err) => onError(err, "revocations"));
  const release = async (): Promise<void> => {
    stopRevocations();
    await Promise.allSettled([watcher.close(), deps.announcements ? undefined : hub.close(), queues.close(), db.$disconnect()]);
    redis.disconnect();
  };

  const server = earthlyServer(ctx, deps.idleTimeoutMs ?? 5 * 60_000);
  let listening: Listening;
  try {
    listening = await bind(server, config, deps);
  } catch (err) {
    await release();
    throw err;
  }
  return {
    port: listening.port,
    async close() {
      await shutdown(server);
      await listening.close();
      await release();
    },
  };
}
