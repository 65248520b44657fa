// Drift check: does applying prisma/migrations give the database schema.prisma describes?
// Renders schema.prisma to SQL with Prisma's own differ, applies it to a scratch database,
// adds prisma/extra-indexes.sql (what the schema language cannot express), and compares both
// catalogs.
import { readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { diffShapes, introspect } from "./introspect.ts";
import { ensureDatabase } from "./migrate.ts";
import { repoRoot } from "./paths.ts";
import { schemaToSql } from "./schema-sql.ts";
import { dropDatabase } from "./scratch.ts";

export async function checkDrift(migratedUrl: string, schemaPath = path.join(repoRoot, "prisma/schema.prisma")): Promise<string[]> {
  const scratch = new URL(migratedUrl);
  const name = `satellites_drift_${process.pid}_${Date.now()}`;
  scratch.pathname = `/${name}`;
  const admin = new URL(migratedUrl);
  admin.pathname = "/postgres";
  await ensureDatabase(scratch.toString());
  try {
    // What Prisma's schema language cannot say (partial indexes) sits next to the schema.
    const extra = await readFile(path.join(path.dirname(schemaPath), "extra-indexes.sql"), "utf8").catch(() => readFile(path.join(repoRoot, "prisma/extra-indexes.sql"), "utf8"));
    const sql = `${await schemaToSql(admin.toString(), schemaPath)}\n${extra}`;
    const c = new pg.Client({ connectionString: scratch.toString() });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
    return diffShapes(await introspect(migratedUrl), await introspect(scratch.toString()));
  } finally {
    await dropDatabase(scratch.toString());
  }
}
