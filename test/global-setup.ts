// Fresh database per run, migrated with the same runner `npm start` uses; dropped afterwards.
import { parseConfig } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { dropDatabase } from "@satellites/db/scratch";
import { Redis } from "ioredis";

export default async function setup(): Promise<() => Promise<void>> {
  const base = parseConfig({ ...process.env, NODE_ENV: "test" });
  const url = new URL(base.DATABASE_URL);
  const name = `satellites_test_${Date.now()}_${process.pid}`;
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  try {
    await ensureDatabase(databaseUrl);
  } catch (err) {
    throw new Error(`Postgres is not reachable at ${base.DATABASE_URL} (${(err as Error).message}). Start it, e.g.: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, { cause: err });
  }
  await migrate(databaseUrl);
  const redis = new Redis(base.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis is not reachable at ${base.REDIS_URL} (${(err as Error).message}). Start it, e.g.: redis-server --daemonize yes --port 6379 --save "" --appendonly no`, { cause: err });
  } finally {
    redis.disconnect();
  }
  process.env.DATABASE_URL = databaseUrl;
  process.env.NODE_ENV = "test";
  process.env.LOG_LEVEL ??= "warn";

  return async () => {
    if (process.env.KEEP_TEST_DB) return;
    await dropDatabase(databaseUrl);
  };
}
