// A second installation for the browser tests that need real BuildKit satellites: web (the
// dashboard the global setup built), proxy and jobs with LOCAL_BUILDKITD, on a database, a BullMQ
// keyspace, a data directory and ports of its own, so the shared world's satellites stay on the
// built-in backend and nothing here touches them.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { dropDatabase } from "@satellites/db/scratch";
import { freePort } from "@satellites/testing";
import { terminateLocalSatellites } from "@satellites/testing/local";
import { requirePeer } from "@satellites/testing/peers";
import { ARTIFACTS } from "./browser.ts";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

export interface BuildkitWorld {
  webUrl: string;
  proxyAddress: string;
  databaseUrl: string;
  close(): Promise<void>;
}

async function healthy(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    if (await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)) return true;
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

export async function startBuildkitWorld(label: string): Promise<BuildkitWorld> {
  const buildkitd = requirePeer("buildkit", "buildkitd");
  const base = parseConfig({ ...process.env, NODE_ENV: "test" });
  const dbUrl = new URL(base.DATABASE_URL);
  dbUrl.pathname = `/satellites_e2e_bk_${Date.now()}_${process.pid}`;
  const databaseUrl = dbUrl.toString();
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);
  const [web, proxy, proxyAdmin, jobsAdmin, earthlyApi] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const dataDir = path.join(root, `.data/e2e-bk-${process.pid}-${randomBytes(3).toString("hex")}`);
  const cgroupParent = `satellites-e2e-bk-${randomBytes(4).toString("hex")}`;
  mkdirSync(dataDir, { recursive: true });
  const webUrl = `http://127.0.0.1:${web}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl,
    QUEUE_PREFIX: `e2e-bk-${randomBytes(4).toString("hex")}`,
    PROVIDER: "local",
    LOCAL_BUILDKITD: buildkitd,
    LOCAL_DATA_DIR: dataDir,
    LOCAL_CGROUP_PARENT: cgroupParent,
    WEB_PORT: String(web),
    PROXY_PORT: String(proxy),
    PROXY_ADMIN_PORT: String(proxyAdmin),
    EARTHLY_API_PORT: String(earthlyApi),
    JOBS_ADMIN_PORT: String(jobsAdmin),
    PROXY_PUBLIC_ADDRESS: `127.0.0.1:${proxy}`,
    PUBLIC_URL: webUrl,
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
  const close = async (): Promise<void> => {
    for (const c of children) {
      try {
        process.kill(-c.pid!, "SIGTERM");
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 1500));
    for (const c of children) {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        // gone
      }
    }
    await terminateLocalSatellites(dataDir, cgroupParent);
    rmSync(dataDir, { recursive: true, force: true });
    if (!process.env.KEEP_TEST_DB) await dropDatabase(databaseUrl);
  };
  const failures: string[] = [];
  await Promise.all(
    specs.map(async (s) => {
      const log = path.join(ARTIFACTS, `${label}-${s.name}.log`);
      const out = createWriteStream(log);
      const child = spawn(s.cmd[0]!, s.cmd.slice(1), { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
      children.push(child);
      if (!(await healthy(s.health, child, 90_000))) failures.push(`${s.name} did not answer ${s.health}:\n${readFileSync(log, "utf8").split("\n").slice(-30).join("\n")}`);
    }),
  );
  if (failures.length) {
    await close();
    throw new Error(failures.join("\n\n"));
  }
  return { webUrl, proxyAddress: `127.0.0.1:${proxy}`, databaseUrl, close };
}
