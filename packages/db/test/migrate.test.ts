import { createHash } from "node:crypto";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabaseUrl } from "@satellites/testing";
import { ensureDatabase, migrate, readMigrations } from "../src/migrate.ts";

const scratch = new URL(testDatabaseUrl());
scratch.pathname = `/satellites_migrate_${process.pid}_${Date.now()}`;
const url = scratch.toString();

afterAll(async () => {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${scratch.pathname.slice(1)}" WITH (FORCE)`);
  await c.end();
});

async function rows(sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("migration runner", () => {
  it("records migrations as Prisma does and is idempotent", async () => {
    expect(await ensureDatabase(url)).toBe(true);
    expect(await ensureDatabase(url)).toBe(false);
    const first = await migrate(url);
    const files = await readMigrations();
    expect(first.applied).toEqual(files.map((f) => f.name));
    const second = await migrate(url);
    expect(second.applied).toEqual([]);
    const recorded = await rows(`SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at FROM "_prisma_migrations" ORDER BY migration_name`);
    expect(recorded).toHaveLength(files.length);
    for (const [i, r] of recorded.entries()) {
      expect(r.migration_name).toBe(files[i]!.name);
      // Prisma's checksum: sha256 hex of the migration.sql bytes.
      expect(r.checksum).toBe(createHash("sha256").update(files[i]!.sql).digest("hex"));
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.applied_steps_count).toBe(1);
      expect(r.rolled_back_at).toBeNull();
    }
  });

  it("concurrent runners apply each migration once", async () => {
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.flatMap((r) => r.applied)).toEqual([]);
  });

  it("a failing migration leaves neither schema changes nor a record", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mig-"));
    try {
      for (const f of await readMigrations()) {
        await mkdir(path.join(dir, f.name));
        await writeFile(path.join(dir, f.name, "migration.sql"), f.sql);
      }
      await mkdir(path.join(dir, "29990101000000_broken"));
      await writeFile(path.join(dir, "29990101000000_broken", "migration.sql"), `CREATE TABLE "half_written" (id int);\nSELECT * FROM does_not_exist;`);
      await expect(migrate(url, { dir })).rejects.toThrow(/29990101000000_broken failed/);
      expect(await rows(`SELECT 1 FROM information_schema.tables WHERE table_name = 'half_written'`)).toHaveLength(0);
      expect(await rows(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '29990101000000_broken'`)).toHaveLength(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
