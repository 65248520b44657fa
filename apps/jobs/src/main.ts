// The jobs process: the only one that calls the compute provider.
import { createServer } from "node:http";
import { loadConfigOrExit } from "@satellites/config";
import { createDb } from "@satellites/db";
import { warmUp } from "@satellites/db/warm-up";
import { redisConnection } from "@satellites/queue";
import { enteringEvent } from "@satellites/state";
import { pino } from "pino";
import { createMetrics } from "./metrics.ts";
import { caFromConfig, hopCredentials, providerFromConfig } from "./provider.ts";
import { startJobs } from "./worker.ts";

const config = loadConfigOrExit();
const log = pino({ level: config.LOG_LEVEL, base: { app: "jobs" } });
const db = createDb(config.DATABASE_URL, { min: config.DATABASE_POOL_MIN });
const redis = redisConnection(config.REDIS_URL);
// Satellites serve mutual TLS only: each gets a server certificate from this CA at launch/start,
// and the health probe presents a client certificate from it, as the proxy does.
const ca = await caFromConfig(config).catch((err: unknown) => {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, "cannot load the satellite CA (SATELLITE_CA_DIR / SATELLITE_CA_CERT_FILE)");
  process.exit(1);
});
const provider = await providerFromConfig(config, ca, redis).catch((err: unknown) => {
  // A machine that lacks what the configured provider needs (e.g. CNI plugins for BuildKit's steps): one line, no stack.
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, "cannot set up the satellite provider");
  process.exit(1);
});
const metrics = createMetrics();
// Every processor starts by reading its satellite; the first wake after a restart need not
// also wait for Prisma's start-up. A wake also reads the event that began it (its cause) while
// the machine starts, and commits only once it has it: its first compilation (~40 ms, then ~4)
// would hold up a start quicker than that.
await warmUp([() => db.satellite.findUnique({ where: { id: "warm-up" } }), () => enteringEvent(db, "warm-up", "starting")]).catch((err: unknown) =>
  log.warn({ err: err instanceof Error ? err.message : String(err) }, "database warm-up failed; the first jobs will be slower"),
);
const jobs = await startJobs({ config, db, redis, connection: redisConnection(config.REDIS_URL), provider, log, metrics, hopCredentials: await hopCredentials(ca), ...(config.QUEUE_PREFIX ? { prefix: config.QUEUE_PREFIX } : {}) });

const admin = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, provider: provider.name }));
  } else if (req.url === "/metrics") {
    void metrics.registry.metrics().then((body) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body));
  } else {
    res.writeHead(404).end();
  }
});
admin.listen(config.JOBS_ADMIN_PORT, "127.0.0.1", () => log.info({ provider: provider.name, admin: config.JOBS_ADMIN_PORT }, "jobs ready"));

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  log.info({ signal }, "shutting down");
  // Satellites keep running: the local provider's processes are detached and survive us.
  const force = setTimeout(() => process.exit(1), 15_000);
  await jobs.close();
  await provider.close?.();
  admin.close();
  redis.disconnect();
  await db.$disconnect();
  clearTimeout(force);
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
