// Starts the product for the browser tests: a fresh migrated database, a Redis logical
// database of its own (so no other worker on this machine takes these jobs), the dashboard
// built for production, and web + proxy + jobs with the local provider on free ports.
// Processes that fail to come up are reported to the tests (which then fail with the reason)
// instead of aborting the whole run, so the dashboard steps still run while a colleague's
// process is broken.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { Redis } from "ioredis";
import { parseConfig } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { dropDatabase } from "@satellites/db/scratch";
import { startMailbox } from "@satellites/testing/mailbox";
import { terminateLocalSatellites } from "@satellites/testing/local";
import { installationEnv, installationPorts, startInstallation } from "./installation.ts";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
const artifacts = path.join(root, "e2e/artifacts");

declare module "vitest" {
  export interface ProvidedContext {
    webUrl: string;
    proxyAddress: string;
    databaseUrl: string;
    /** Where the run's SMTP server writes each mail it receives, one JSON file each. */
    mailDir: string;
    /** Processes that did not become healthy, with the tail of their log. */
    down: Record<string, string>;
  }
}


/** Every process whose environment names this run's data dir: the local satellites it left. */
function killLeftovers(marker: string): void {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const mine = readFileSync(`/proc/${pid}/environ`, "utf8").includes(`E2E_DATA_DIR=${marker}`) || readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
      if (mine && Number(pid) !== process.pid) process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone, or not ours to read
    }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  mkdirSync(artifacts, { recursive: true });
  const base = parseConfig({ ...process.env, NODE_ENV: "test" });
  const dbName = `satellites_e2e_${Date.now()}_${process.pid}`;
  const dbUrl = new URL(base.DATABASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const databaseUrl = dbUrl.toString();
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);

  // A Redis logical database for this run; emptied first, so stale jobs cannot interfere.
  const redisUrl = new URL(base.REDIS_URL);
  redisUrl.pathname = `/${process.env.E2E_REDIS_DB ?? "13"}`;
  const redis = new Redis(redisUrl.toString(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushdb();
  redis.disconnect();

  if (!process.env.E2E_SKIP_BUILD || !existsSync(path.join(root, "apps/web/.next/BUILD_ID"))) {
    const r = spawnSync("npm", ["run", "build", "-w", "@satellites/web"], { cwd: root, stdio: "inherit", env: { ...process.env, NODE_ENV: "production" } });
    if (r.status !== 0) throw new Error("the dashboard build failed (npm run build -w @satellites/web)");
  }

  // A real SMTP server for the web process's mail (verification, reset, invitations).
  const mailDir = path.join(artifacts, "mail");
  rmSync(mailDir, { recursive: true, force: true });
  mkdirSync(mailDir, { recursive: true });
  let mails = 0;
  const mailbox = await startMailbox({ onMail: (m) => writeFileSync(path.join(mailDir, `${String(++mails).padStart(4, "0")}.json`), JSON.stringify(m)) });

  const ports = await installationPorts();
  const dataDir = path.join(root, `.data/e2e-${process.pid}-${randomBytes(3).toString("hex")}`);
  const cgroupParent = `satellites-e2e-${randomBytes(4).toString("hex")}`;
  mkdirSync(dataDir, { recursive: true });
  const webUrl = `http://127.0.0.1:${ports.web}`;
  const env = installationEnv({
    databaseUrl,
    dataDir,
    cgroupParent,
    ports,
    extra: {
      REDIS_URL: redisUrl.toString(),
      // killLeftovers finds this run's processes by it.
      E2E_DATA_DIR: dataDir,
      SMTP_URL: mailbox.url,
      SMTP_FROM: "Satellites <noreply@satellites.test>",
    },
  });
  const installation = await startInstallation(env, ports, (name) => path.join(artifacts, `${name}.log`));
  const { down } = installation;
  if (down.web) throw new Error(down.web);

  project.provide("webUrl", webUrl);
  project.provide("proxyAddress", `127.0.0.1:${ports.proxy}`);
  project.provide("databaseUrl", databaseUrl);
  project.provide("down", down);
  project.provide("mailDir", mailDir);

  return async () => {
    await mailbox.close();
    await installation.stop();
    // Local satellites outlive the jobs worker by design (and get none of its environment, so
    // killLeftovers cannot see them): terminate them through the provider that launched them.
    try {
      await terminateLocalSatellites(dataDir, cgroupParent);
    } finally {
      killLeftovers(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
      if (!process.env.KEEP_TEST_DB) await dropDatabase(databaseUrl);
    }
  };
}
