import { randomBytes } from "node:crypto";
import { type ScratchDatabase, scratchDatabase } from "@satellites/db/scratch";
import { testDatabaseUrl } from "./index.ts";

/**
 * A migrated database of the caller's own, next to the run's test database. Tests that run
 * a jobs worker need one: its idle scan and reconciler act on every satellite they can see.
 */
export function ownDatabase(label = "own"): Promise<ScratchDatabase> {
  return scratchDatabase(testDatabaseUrl(), `satellites_test_${label}_${randomBytes(4).toString("hex")}`);
}
