// Databases that live for one test file or one benchmark run: created next to a given one,
// migrated, and dropped (connections and all) afterwards.
import pg from "pg";
import { createDb, type Db } from "./index.ts";
import { ensureDatabase, migrate } from "./migrate.ts";

export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

export interface ScratchDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

/** A fresh, migrated database called `name` on the server of `nextTo`. */
export async function scratchDatabase(nextTo: string, name: string, opts: { max?: number } = {}): Promise<ScratchDatabase> {
  const u = new URL(nextTo);
  u.pathname = `/${name}`;
  const url = u.toString();
  await ensureDatabase(url);
  await migrate(url);
  const db = createDb(url, { max: opts.max ?? 10 });
  return {
    url,
    db,
    async drop() {
      await db.$disconnect();
      if (!process.env.KEEP_TEST_DB) await dropDatabase(url);
    },
  };
}
