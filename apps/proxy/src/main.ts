// Process entry: `tsx apps/proxy/src/main.ts` with the environment of @satellites/config.
// Exits 0 after a graceful stop on SIGINT/SIGTERM: GOAWAY, open calls finish for up to
// PROXY_DRAIN_MS, then are cut (a second signal cuts them at once).
import { loadClientCa, loadControlPlaneCa } from "@satellites/client-certs";
import { loadConfigOrExit } from "@satellites/config";
import { Announcements } from "@satellites/db/announcements";
import { EARTHLY_API_CHANNELS, startEarthlyApi } from "@satellites/earthly-api";
import { redisConnection } from "@satellites/queue";
import pino from "pino";
import { setHeapGrowth } from "./heap-growth.ts";
import { PROXY_CHANNELS, startProxy } from "./proxy.ts";
import { ReserveWaits } from "./reserve-waits.ts";
import { frontDoorTls } from "./server-certificate.ts";

const config = loadConfigOrExit();
const log = pino({ level: config.LOG_LEVEL, base: { service: "proxy" } });
setHeapGrowth(config.PROXY_HEAP_GROWTH_PERCENT);

const fail = (what: string) => (err: unknown): never => {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, what);
  process.exit(1);
};
// The proxy→satellite hop is always mutual TLS: a client certificate from the control plane's CA.
const controlPlaneCa = await loadControlPlaneCa(config).catch(fail("cannot load the satellite CA (SATELLITE_CA_DIR / SATELLITE_CA_CERT_FILE)"));
const upstreamTls = await controlPlaneCa.issueClient(`proxy ${process.pid}`);
// Clients' own certificates (docs/clients.md) are the client CA's, on the front door's TLS.
const clientCa = await loadClientCa(config).catch(fail("cannot load the client CA (CLIENT_CA_DIR / CLIENT_CA_CERT_FILE)"));
const tls = await frontDoorTls(config, controlPlaneCa, clientCa).catch(fail("cannot set up the proxy's TLS (PROXY_TLS_CERT / PROXY_TLS_KEY)"));

// One LISTEN connection for the whole process, proxy and Earthly API alike.
const announcements = await Announcements.start(config.DATABASE_URL, [...new Set([...PROXY_CHANNELS, ...EARTHLY_API_CHANNELS])], {
  onError: (err) => log.warn({ err: err.message }, "announcement listener error"),
}).catch(fail("cannot listen for the database's announcements (DATABASE_URL)"));

// The Earthly CLI waits for a wake in ReserveSatellite, then builds through the proxy (often
// another replica's: the reserves are noted in Redis).
const reserveRedis = redisConnection(config.REDIS_URL);
reserveRedis.on("error", (err) => log.warn({ err: err.message }, "redis error (Earthly reserves)"));
const reserveWaits = new ReserveWaits(reserveRedis, { onError: (err) => log.warn({ err: err.message }, "an Earthly reserve's wait was not noted or claimed") });

const proxy = await startProxy(config, {
  logger: log,
  announcements,
  reserveWaits,
  upstreamTls,
  frontDoorTls: tls,
  // Tests and benchmarks give proxy and jobs a BullMQ keyspace of their own.
  ...(config.QUEUE_PREFIX ? { queuePrefix: config.QUEUE_PREFIX } : {}),
}).catch((err: unknown) => {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, "proxy failed to start");
  process.exit(1);
});

// Earthly's cloud gRPC API (login tokens, Compute, Billing…) on EARTHLY_API_PORT.
const earthlyLog = log.child({ component: "earthly-api" });
const earthly = await startEarthlyApi(config, { announcements, authFailures: { failed: (source) => proxy.authFailed(source) }, onReserved: (w) => reserveWaits.note(w), onError: (err, method) => earthlyLog.error({ method, err: err instanceof Error ? err.message : String(err) }, "earthly api call failed") }).catch(
  (err: unknown) => {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, "earthly api failed to start");
    process.exit(1);
  },
);
earthlyLog.info({ port: earthly.port }, "earthly api listening");

let signals = 0;
const stop = (signal: NodeJS.Signals): void => {
  signals++;
  if (signals > 1) process.exit(1);
  log.info({ signal }, "shutting down");
  const closed = async (): Promise<void> => {
    await Promise.all([proxy.close({ graceMs: config.PROXY_DRAIN_MS }), earthly.close()]);
    reserveRedis.disconnect();
    await announcements.close();
  };
  closed().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err: String(err) }, "shutdown failed");
      process.exit(1);
    },
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
