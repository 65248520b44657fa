// Starts the product for the browser tests: a fresh migrated database, a Redis logical
// database of its own (so no other worker on this machine takes these jobs), the dashboard
// built for production, and web + proxy + jobs with the local provider on free ports.
// Processes that fail to come up are reported to the tests (which then fail with the reason)
// instead of aborting the whole run, so the dashboard steps still run while a colleague's
// process is broken.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { Redis } from "ioredis";
import { parseConfig } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { dropDatabase } from "@satellites/db/scratch";
import { freePort } from "@satellites/testing";
import { startMailbox } from "@satellites/testing/mailbox";
import { terminateLocalSatellites } from "@satellites/testing/local";

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


async function healthy(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
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

  const [web, proxy, proxyAdmin, jobsAdmin, earthlyApi] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const dataDir = path.join(root, `.data/e2e-${process.pid}-${randomBytes(3).toString("hex")}`);
  const cgroupParent = `satellites-e2e-${randomBytes(4).toString("hex")}`;
  mkdirSync(dataDir, { recursive: true });
  const webUrl = `http://127.0.0.1:${web}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl.toString(),
    PROVIDER: "local",
    LOCAL_DATA_DIR: dataDir,
    // A cgroup parent of this run's own, next to (never inside) a real installation's.
    LOCAL_CGROUP_PARENT: cgroupParent,
    E2E_DATA_DIR: dataDir,
    WEB_PORT: String(web),
    PROXY_PORT: String(proxy),
    PROXY_ADMIN_PORT: String(proxyAdmin),
    EARTHLY_API_PORT: String(earthlyApi),
    JOBS_ADMIN_PORT: String(jobsAdmin),
    PROXY_PUBLIC_ADDRESS: `127.0.0.1:${proxy}`,
    PUBLIC_URL: webUrl,
    SMTP_URL: mailbox.url,
    SMTP_FROM: "Satellites <noreply@satellites.test>",
    AUTH_SECRET: randomBytes(32).toString("base64url"),
    IDLE_SCAN_EVERY_MS: "2000",
    RECONCILE_EVERY_MS: "10000",
    LOG_LEVEL: "info",
  };
  const specs = [
    { name: "web", cmd: ["npm", "run", "start", "-w", "@satellites/web", "--silent"], health: `${webUrl}/api/health` },
    { name: "proxy", cmd: [process.execPath, "--import", "tsx", "apps/proxy/src/main.ts"], health: `http://127.0.0.1:${proxyAdmin}/healthz` },
    { name: "jobs", cmd: [process.execPath, "--import", "tsx", "apps/jobs/src/main.ts"], health: `http://127.0.0.1:${jobsAdmin}/healthz` },
  ];
  const children: ChildProcess[] = [];
  const down: Record<string, string> = {};
  await Promise.all(
    specs.map(async (s) => {
      const log = path.join(artifacts, `${s.name}.log`);
      const out = createWriteStream(log);
      const child = spawn(s.cmd[0]!, s.cmd.slice(1), { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
      children.push(child);
      if (!(await healthy(s.health, child, 90_000))) down[s.name] = `${s.name} did not answer ${s.health}; last log lines:\n${tail(log)}`;
    }),
  );
  if (down.web) throw new Error(down.web);

  project.provide("webUrl", webUrl);
  project.provide("proxyAddress", `127.0.0.1:${proxy}`);
  project.provide("databaseUrl", databaseUrl);
  project.provide("down", down);
  project.provide("mailDir", mailDir);

  return async () => {
    await mailbox.close();
    for (const child of children) {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 1500));
    for (const child of children) {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
    // Local satellites outlive the jobs worker by design (and get none of its environment, so
    // killLeftovers cannot see them): terminate them through the provider that launched them.
    await terminateLocalSatellites(dataDir, cgroupParent);
    killLeftovers(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    if (process.env.KEEP_TEST_DB) return;
    await dropDatabase(databaseUrl);
  };
}
