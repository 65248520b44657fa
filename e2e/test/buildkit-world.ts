// A second installation for the browser tests that need real BuildKit satellites: web (the
// dashboard the global setup built), proxy and jobs with LOCAL_BUILDKITD, on a database, a BullMQ
// keyspace, a data directory and ports of its own, so the shared world's satellites stay on the
// built-in backend and nothing here touches them.
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { dropDatabase } from "@satellites/db/scratch";
import { terminateLocalSatellites } from "@satellites/testing/local";
import { requirePeer } from "@satellites/testing/peers";
import { installationEnv, installationPorts, startInstallation } from "../installation.ts";
import { ARTIFACTS } from "./browser.ts";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

export interface BuildkitWorld {
  webUrl: string;
  proxyAddress: string;
  databaseUrl: string;
  close(): Promise<void>;
}

export async function startBuildkitWorld(label: string): Promise<BuildkitWorld> {
  const buildkitd = requirePeer("buildkit", "buildkitd");
  const base = parseConfig({ ...process.env, NODE_ENV: "test" });
  const dbUrl = new URL(base.DATABASE_URL);
  dbUrl.pathname = `/satellites_e2e_bk_${Date.now()}_${process.pid}`;
  const databaseUrl = dbUrl.toString();
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);
  const ports = await installationPorts();
  const dataDir = path.join(root, `.data/e2e-bk-${process.pid}-${randomBytes(3).toString("hex")}`);
  const cgroupParent = `satellites-e2e-bk-${randomBytes(4).toString("hex")}`;
  mkdirSync(dataDir, { recursive: true });
  const env = installationEnv({ databaseUrl, dataDir, cgroupParent, ports, extra: { QUEUE_PREFIX: `e2e-bk-${randomBytes(4).toString("hex")}`, LOCAL_BUILDKITD: buildkitd } });
  const installation = await startInstallation(env, ports, (name) => path.join(ARTIFACTS, `${label}-${name}.log`));
  const close = async (): Promise<void> => {
    await installation.stop();
    try {
      await terminateLocalSatellites(dataDir, cgroupParent);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      if (!process.env.KEEP_TEST_DB) await dropDatabase(databaseUrl);
    }
  };
  const failures = Object.values(installation.down);
  if (failures.length) {
    await close();
    throw new Error(failures.join("\n\n"));
  }
  return { webUrl: `http://127.0.0.1:${ports.web}`, proxyAddress: `127.0.0.1:${ports.proxy}`, databaseUrl, close };
}
