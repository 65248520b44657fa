import { fileURLToPath } from "node:url";
import path from "node:path";

/** The repository root, found from this file so scripts work from any working directory. */
export const repoRoot = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
export const migrationsDir = path.join(repoRoot, "prisma/migrations");
