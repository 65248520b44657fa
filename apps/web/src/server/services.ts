// Process-wide singletons: one Prisma client, one set of BullMQ queues, one LISTEN
// connection. Next.js may evaluate this module once per route bundle (and again on every
// hot reload in dev), so the instances live on globalThis; otherwise each bundle would open
// its own pool and the database would run out of connections.
import { loadClientCa, serverCaPem } from "@satellites/client-certs";
import { config } from "@satellites/config";
import type { CertificateAuthority } from "@satellites/pki";
import { createDb, type Db } from "@satellites/db";
import { Announcements } from "@satellites/db/announcements";
import { createQueues, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { STATE_CHANNEL, StateWatcher } from "@satellites/state";
import { REVOCATION_CHANNEL } from "@satellites/tokens/revocations";

interface Services {
  db?: Db;
  queues?: SatelliteQueues;
  announcements?: Promise<Announcements>;
  watcher?: Promise<StateWatcher>;
  authorities?: Promise<Authorities>;
}

interface Authorities {
  clientCa: CertificateAuthority;
  serverCaPem: string;
}

const g = globalThis as typeof globalThis & { __satellitesWeb?: Services };
const services: Services = (g.__satellitesWeb ??= {});

/** Created lazily: `next build` imports this module and must not connect anywhere. */
export function db(): Db {
  services.db ??= createDb(config().DATABASE_URL, { min: config().DATABASE_POOL_MIN });
  return services.db;
}

export function queues(): SatelliteQueues {
  // QUEUE_PREFIX: the same interim switch the proxy honours, for tests sharing one Redis.
  services.queues ??= createQueues(redisConnection(config().REDIS_URL), process.env.QUEUE_PREFIX || undefined);
  return services.queues;
}

/**
 * The process's one LISTEN connection: state changes for `watch` subscriptions and revocations
 * that end them, heard in commit order (a change committed after a revocation comes after it).
 */
export function announcements(): Promise<Announcements> {
  services.announcements ??= Announcements.start(config().DATABASE_URL, [STATE_CHANNEL, REVOCATION_CHANNEL], {
    onError: (err) => console.error(`announcement listener: ${err.message}`),
  }).catch((err: unknown) => {
    // Let the next subscriber try again instead of caching the failure forever.
    services.announcements = undefined;
    throw err;
  });
  return services.announcements;
}

/** State changes, from the process's announcements, for every `watch` subscription. */
export function watcher(): Promise<StateWatcher> {
  services.watcher ??= announcements().then(
    (hub) => new StateWatcher(hub),
    (err: unknown) => {
      services.watcher = undefined;
      throw err;
    },
  );
  return services.watcher;
}

/** The client CA that issues tenants' certificates, and the CA bundles carry (docs/clients.md). */
export function certificateAuthorities(): Promise<Authorities> {
  services.authorities ??= Promise.all([loadClientCa(config()), serverCaPem(config())])
    .then(([clientCa, pem]) => ({ clientCa, serverCaPem: pem }))
    .catch((err: unknown) => {
      services.authorities = undefined;
      throw err;
    });
  return services.authorities;
}

/** For tests: use these instances instead of creating new ones. */
export function provideServices(s: { db?: Db; queues?: SatelliteQueues }): void {
  if (s.db) services.db = s.db;
  if (s.queues) services.queues = s.queues;
}

export async function closeServices(): Promise<void> {
  const { queues: q, watcher: w, announcements: a } = services;
  services.queues = undefined;
  services.watcher = undefined;
  services.announcements = undefined;
  await q?.close();
  await (await w?.catch(() => undefined))?.close();
  await (await a?.catch(() => undefined))?.close();
}
