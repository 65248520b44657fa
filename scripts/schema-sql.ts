// `npm run db:sql`: print the SQL Prisma would create for schema.prisma from an empty
// database (offline) — the starting point for a new migration's migration.sql.
import { loadConfigOrExit } from "@satellites/config";
import { schemaToSql } from "@satellites/db/schema-sql";

const config = loadConfigOrExit();
const admin = new URL(config.DATABASE_URL);
admin.pathname = "/postgres";
process.stdout.write(await schemaToSql(admin.toString()));
