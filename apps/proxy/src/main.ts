// Process entry: `tsx apps/proxy/src/main.ts` with the environment of @satellites/config.
// Exits 0 after a graceful stop on SIGINT/SIGTERM: GOAWAY, open calls finish for up to
// PROXY_DRAIN_MS, then are cut (a second signal cuts them at once).
import path from "node:path";
import { loadConfigOrExit } from "@satellites/config";
import { startEarthlyApi } from "@satellites/earthly-api";
import { loadCa } from "@satellites/pki";
import pino from "pino";
import { startProxy } from "./proxy.ts";

const config = loadConfigOrExit();
const log = pino({ level: config.LOG_LEVEL, base: { service: "proxy" } });

// The proxy→satellite hop is always mutual TLS: a client certificate from the control plane's CA.
const upstreamTls = await loadCa({ dir: path.resolve(config.SATELLITE_CA_DIR), certFile: config.SATELLITE_CA_CERT_FILE, keyFile: config.SATELLITE_CA_KEY_FILE })
  .then((ca) => ca.issueClient(`proxy ${process.pid}`))
  .catch((err: unknown) => {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, "cannot load the satellite CA (SATELLITE_CA_DIR / SATELLITE_CA_CERT_FILE)");
    process.exit(1);
  });

const proxy = await startProxy(config, {
  logger: log,
  upstreamTls,
  // Tests and benchmarks give proxy and jobs a BullMQ keyspace of their own.
  ...(config.QUEUE_PREFIX ? { queuePrefix: config.QUEUE_PREFIX } : {}),
}).catch((err: unknown) => {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, "proxy failed to start");
  process.exit(1);
});

// Earthly's cloud gRPC API (login tokens, Compute, Billing…) on EARTHLY_API_PORT.
const earthlyLog = log.child({ component: "earthly-api" });
const earthly = await startEarthlyApi(config, { onError: (err, method) => earthlyLog.error({ method, err: err instanceof Error ? err.message : String(err) }, "earthly api call failed") }).catch(
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
  Promise.all([proxy.close({ graceMs: config.PROXY_DRAIN_MS }), earthly.close()]).then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err: String(err) }, "shutdown failed");
      process.exit(1);
    },
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
