// `npm run db:migrate`: create the configured database if needed and apply pending migrations.
import { loadConfigOrExit, redactUrl } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";

const config = loadConfigOrExit();
try {
  if (await ensureDatabase(config.DATABASE_URL)) console.log(`created database ${redactUrl(config.DATABASE_URL)}`);
  const r = await migrate(config.DATABASE_URL, { log: (l) => console.log(l) });
  console.log(`migrations: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
} catch (err) {
  console.error(`db:migrate failed: ${(err as Error).message}`);
  process.exit(1);
}
