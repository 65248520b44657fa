import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDb, type Db } from "@satellites/db";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { testDatabaseUrl } from "./index.ts";

/**
 * A migrated database of the caller's own, next to the run's test database. Tests that run
 * a jobs worker need one: its idle scan and reconciler act on every satellite they can see.
 */
export async function ownDatabase(label = "own"): Promise<{ url: string; db: Db; drop(): Promise<void> }> {
  const base = new URL(testDatabaseUrl());
  const name = `satellites_test_${label}_${randomBytes(4).toString("hex")}`;
  base.pathname = `/${name}`;
  const url = base.toString();
  await ensureDatabase(url);
  await migrate(url);
  const db = createDb(url, { max: 10 });
  return {
    url,
    db,
    async drop() {
      await db.$disconnect();
      if (process.env.KEEP_TEST_DB) return;
      const admin = new URL(url);
      admin.pathname = "/postgres";
      const c = new pg.Client({ connectionString: admin.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await c.end();
    },
  };
}
