// A process keeps DATABASE_POOL_MIN Postgres connections open through a quiet spell: a new one
// costs 10–20 ms here (a backend process and authentication), and the first build after a quiet
// spell — a wake — would pay it on its path several times (bench:build's wake_build_p50_ms).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { expect, it } from "vitest";
import { testDatabaseUrl } from "@satellites/testing";
import { createDb } from "../src/index.ts";

async function backends(app: string): Promise<number> {
  const c = new pg.Client({ connectionString: testDatabaseUrl() });
  await c.connect();
  try {
    return Number((await c.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [app])).rows[0].n);
  } finally {
    await c.end();
  }
}

function named(app: string): string {
  const u = new URL(testDatabaseUrl());
  u.searchParams.set("application_name", app);
  return u.toString();
}

it("after more than pg-pool's 10 s idle timeout, a pool keeps its minimum open and closes the rest", { timeout: 30_000 }, async () => {
  const warm = `pool-warm-${randomUUID().slice(0, 8)}`;
  const cold = `pool-cold-${randomUUID().slice(0, 8)}`;
  const kept = createDb(named(warm), { min: 2 });
  const plain = createDb(named(cold));
  try {
    // A burst that opens three connections in each pool.
    await Promise.all([kept, plain].flatMap((db) => [1, 2, 3].map(() => db.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.1)`)));
    expect(await backends(warm)).toBe(3);
    expect(await backends(cold)).toBe(3);
    await new Promise((r) => setTimeout(r, 11_500));
    expect(await backends(warm)).toBe(2);
    expect(await backends(cold)).toBe(0);
  } finally {
    await kept.$disconnect();
    await plain.$disconnect();
  }
});
