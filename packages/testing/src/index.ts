// Fixtures for integration tests: the run's database (created by the global setup) and
// organizations/satellites to act on. Test-only; no app imports this.
import { randomUUID } from "node:crypto";
import { createDb, type Db, type Satellite } from "@satellites/db";
import { createSatellite, type NewSatellite } from "@satellites/state";

export function testDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url || !url.includes("satellites_test_")) throw new Error("DATABASE_URL is not the test database; run through vitest (npm test)");
  return url;
}

let shared: Db | undefined;
export function testDb(): Db {
  shared ??= createDb(testDatabaseUrl());
  return shared;
}

export async function makeOrg(db: Db, name = "org"): Promise<{ id: string; slug: string }> {
  const id = randomUUID();
  const slug = `${name}-${id.slice(0, 8)}`;
  await db.organization.create({ data: { id, name, slug } });
  return { id, slug };
}

export async function makeSatellite(db: Db, orgId: string, over: Partial<NewSatellite> = {}): Promise<Satellite> {
  const { satellite } = await createSatellite(db, {
    orgId,
    name: `sat-${randomUUID().slice(0, 8)}`,
    platform: "amd64",
    size: "small",
    provider: "local",
    actor: "system",
    limitMemoryMiB: 4096,
    ...over,
  });
  return satellite;
}
export * from "./redis.ts";
export * from "./database.ts";
export * from "./net.ts";
