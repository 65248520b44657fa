// Renders schema.prisma as the SQL Prisma would create from an empty database — offline.
// Prisma 7's migrate commands need a native schema engine these machines cannot download;
// Prisma 6.19's WASM engine (`engine: "js"`) computes the same diff without it. Used by the
// drift test and by `npm run db:sql` when writing a new migration.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./paths.ts";

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/**
 * @param databaseUrl a reachable Postgres: the WASM engine opens a connection through the
 *   driver adapter even though an empty-to-datamodel diff reads nothing from it.
 */
export async function schemaToSql(databaseUrl: string, schemaPath = path.join(repoRoot, "prisma/schema.prisma")): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "satellites-schema-"));
  try {
    // Prisma 6 wants the URL in the schema (7 forbids it), and the generator is irrelevant here.
    const schema = (await readFile(schemaPath, "utf8"))
      .replace(/generator client \{[^}]*\}/s, "")
      .replace(/datasource db \{/, 'datasource db {\n  url = "postgresql://unused@127.0.0.1/unused"');
    await writeFile(path.join(dir, "schema.prisma"), schema);
    const adapter = require.resolve("adapter-pg6");
    await writeFile(
      path.join(dir, "prisma.config.mjs"),
      `import { PrismaPg } from ${JSON.stringify(adapter)};
export default {
  experimental: { adapter: true },
  engine: "js",
  schema: "schema.prisma",
  adapter: async () => new PrismaPg({ connectionString: ${JSON.stringify(databaseUrl)} }),
};
`,
    );
    const cli = require.resolve("prisma6/build/index.js");
    const { stdout } = await run(
      process.execPath,
      [cli, "migrate", "diff", "--config", "prisma.config.mjs", "--from-empty", "--to-schema-datamodel", "schema.prisma", "--script"],
      {
        cwd: dir,
        maxBuffer: 16 * 1024 * 1024,
        // Any existing file stops the CLI from downloading engines it does not use here.
        env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_QUERY_ENGINE_LIBRARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: "1" },
      },
    );
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
