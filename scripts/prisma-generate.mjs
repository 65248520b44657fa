// `prisma generate` offline: the CLI only downloads its schema engine when
// PRISMA_SCHEMA_ENGINE_BINARY does not name a file; generate itself runs on WASM.
// Pointing the variable at any existing file skips the download (see docs/operations.md).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";
const r = spawnSync(process.execPath, ["node_modules/prisma/build/index.js", "generate"], { cwd: root, env, stdio: "inherit" });
process.exit(r.status ?? 1);
