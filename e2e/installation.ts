// One installation of the product for the browser tests: web (the dashboard the global setup
// built), proxy and jobs as separate processes on ports of their own, each in its own process
// group, logging to a file. The global setup starts the shared one; tests that need real
// BuildKit satellites start a second (test/buildkit-world.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@satellites/testing";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

export interface InstallationPorts {
  web: number;
  proxy: number;
  proxyAdmin: number;
  jobsAdmin: number;
  earthlyApi: number;
}

export async function installationPorts(): Promise<InstallationPorts> {
  const [web, proxy, proxyAdmin, jobsAdmin, earthlyApi] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  return { web, proxy, proxyAdmin, jobsAdmin, earthlyApi };
}

/** The environment all three processes share: the local provider, fast idle scans, these ports. */
export function installationEnv(o: { databaseUrl: string; dataDir: string; cgroupParent: string; ports: InstallationPorts; extra?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  const webUrl = `http://127.0.0.1:${o.ports.web}`;
  return {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: o.databaseUrl,
    PROVIDER: "local",
    LOCAL_DATA_DIR: o.dataDir,
    // A cgroup parent of this installation's own, next to (never inside) a real one's.
    LOCAL_CGROUP_PARENT: o.cgroupParent,
    WEB_PORT: String(o.ports.web),
    PROXY_PORT: String(o.ports.proxy),
    PROXY_ADMIN_PORT: String(o.ports.proxyAdmin),
    EARTHLY_API_PORT: String(o.ports.earthlyApi),
    JOBS_ADMIN_PORT: String(o.ports.jobsAdmin),
    PROXY_PUBLIC_ADDRESS: `127.0.0.1:${o.ports.proxy}`,
    PUBLIC_URL: webUrl,
    AUTH_SECRET: randomBytes(32).toString("base64url"),
    IDLE_SCAN_EVERY_MS: "2000",
    RECONCILE_EVERY_MS: "10000",
    LOG_LEVEL: "info",
    ...o.extra,
  };
}

async function healthy(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    if (await fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)) return true;
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

export interface Installation {
  /** Processes that did not become healthy within 90 s, with the tail of their log. */
  down: Record<string, string>;
  /** SIGTERM to each process group, SIGKILL 1.5 s later. Local satellites outlive it by design. */
  stop(): Promise<void>;
}

/** Starts web, proxy and jobs with `env`; `logFile(name)` is where each one's output goes. */
export async function startInstallation(env: NodeJS.ProcessEnv, ports: InstallationPorts, logFile: (name: string) => string): Promise<Installation> {
  const specs = [
    { name: "web", cmd: ["npm", "run", "start", "-w", "@satellites/web", "--silent"], health: `http://127.0.0.1:${ports.web}/api/health` },
    { name: "proxy", cmd: [process.execPath, "--import", "tsx", "apps/proxy/src/main.ts"], health: `http://127.0.0.1:${ports.proxyAdmin}/healthz` },
    { name: "jobs", cmd: [process.execPath, "--import", "tsx", "apps/jobs/src/main.ts"], health: `http://127.0.0.1:${ports.jobsAdmin}/healthz` },
  ];
  const children: ChildProcess[] = [];
  const down: Record<string, string> = {};
  await Promise.all(
    specs.map(async (s) => {
      const log = logFile(s.name);
      const out = createWriteStream(log);
      const child = spawn(s.cmd[0]!, s.cmd.slice(1), { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
      children.push(child);
      if (!(await healthy(s.health, child, 90_000))) down[s.name] = `${s.name} did not answer ${s.health}; last log lines:\n${tail(log)}`;
    }),
  );
  const signal = (sig: NodeJS.Signals): void => {
    for (const child of children) {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // already gone
      }
    }
  };
  return {
    down,
    async stop() {
      signal("SIGTERM");
      await new Promise((r) => setTimeout(r, 1500));
      signal("SIGKILL");
    },
  };
}
