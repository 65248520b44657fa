// The migrations in prisma/migrations and schema.prisma must describe the same database.
// If this fails after editing schema.prisma: add a migration folder whose SQL makes the
// listed differences go away (`npm run db:sql` prints what Prisma would create from empty).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { testDatabaseUrl } from "@satellites/testing";
import { checkDrift } from "../src/drift.ts";
import { repoRoot } from "../src/paths.ts";

it("migrated database matches schema.prisma", async () => {
  expect(await checkDrift(testDatabaseUrl())).toEqual([]);
});

it("detects a column added to schema.prisma without a migration", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "drift-"));
  try {
    const schema = await readFile(path.join(repoRoot, "prisma/schema.prisma"), "utf8");
    const edited = schema.replace(/(model Satellite \{\n)/, "$1  nickname String?\n");
    expect(edited).not.toBe(schema);
    const file = path.join(dir, "schema.prisma");
    await writeFile(file, edited);
    const drift = await checkDrift(testDatabaseUrl(), file);
    expect(drift).toContain("+ schema.prisma only (columns): satellite.nickname text");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
