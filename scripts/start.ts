// `npm start`: the whole product on one machine — migrations, then web (3000), proxy (8372)
// and jobs together with prefixed logs. Ctrl-C stops all three cleanly.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type Config, loadConfigOrExit, redactUrl } from "@satellites/config";
import { ensureDatabase, migrate } from "@satellites/db/migrate";
import { bridgeNetwork, BuildkitNetworkError, findExecutable } from "@satellites/provider/buildkit-network";
import { localSatellitesLeft } from "@satellites/provider/local-left-running";
import { peerPath } from "@satellites/testing/peers";
import { chooseSatelliteDaemon } from "./satellite-daemon.ts";
import { ensurePostgres, ensureRedis, ServiceError } from "./services.ts";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "..");
const dataDir = path.join(root, ".data");
const say = (line: string) => process.stdout.write(`\x1b[1m[start]\x1b[0m ${line}\n`);

/** The embedded default needs a session secret; generate one once and keep it in .data/. */
function authSecret(): string {
  const file = path.join(dataDir, "auth-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret + "\n", { mode: 0o600 });
  return secret;
}

interface AppSpec {
  name: string;
  color: string;
  cmd: string[];
  cwd: string;
  health: string;
}

function apps(config: Config): AppSpec[] {
  const tsx = (entry: string) => [process.execPath, "--import", "tsx", entry];
  return [
    { name: "web", color: "\x1b[36m", cmd: ["npm", "run", "start", "-w", "@satellites/web", "--silent"], cwd: root, health: `http://127.0.0.1:${config.WEB_PORT}/api/health` },
    { name: "proxy", color: "\x1b[35m", cmd: tsx("apps/proxy/src/main.ts"), cwd: root, health: `http://127.0.0.1:${config.PROXY_ADMIN_PORT}/healthz` },
    { name: "jobs", color: "\x1b[33m", cmd: tsx("apps/jobs/src/main.ts"), cwd: root, health: `http://127.0.0.1:${config.JOBS_ADMIN_PORT}/healthz` },
  ];
}

function pipeLines(child: ChildProcess, app: AppSpec): void {
  const prefix = `${app.color}[${app.name}]\x1b[0m `;
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => process.stdout.write(prefix + line + "\n"));
  }
}

async function healthy(url: string, deadline: number, alive: () => boolean): Promise<boolean> {
  while (Date.now() < deadline && alive()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

/** Ends a child's whole process group: SIGTERM, then SIGKILL if it has not exited within 10 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        child.kill(sig);
      }
    };
    const timer = setTimeout(() => kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    kill("SIGTERM");
  });
}

/** The processes `npm start` runs (the apps, and a Redis it started), stopped together once. */
class Supervisor {
  readonly children: { app: AppSpec | null; child: ChildProcess }[] = [];
  stopping = false;
  /** Said once everything is stopped (what outlives it). */
  afterStop: (() => Promise<void>) | undefined;

  async stopAll(code: number): Promise<never> {
    if (this.stopping) return new Promise(() => {});
    this.stopping = true;
    say("stopping…");
    // Apps first (they drain streams and jobs), the Redis we started last.
    await Promise.all(this.children.filter((c) => c.app).map(({ child }) => stopChild(child)));
    await Promise.all(this.children.filter((c) => !c.app).map(({ child }) => stopChild(child)));
    say("stopped");
    await this.afterStop?.();
    process.exit(code);
  }

  /** Starts an app with its output prefixed; if it exits on its own, everything stops. */
  startApp(app: AppSpec, env: NodeJS.ProcessEnv): void {
    const child = spawn(app.cmd[0]!, app.cmd.slice(1), { cwd: app.cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.children.push({ app, child });
    pipeLines(child, app);
    child.once("exit", (code, signal) => {
      if (this.stopping) return;
      say(`${app.name} exited (${signal ?? `code ${code}`}); stopping the others`);
      void this.stopAll(1);
    });
  }
}

/** Postgres and Redis reachable (a Redis started here if none runs), the database created and migrated. */
async function prepareServices(config: Config, supervisor: Supervisor): Promise<void> {
  try {
    await ensurePostgres(config.DATABASE_URL, say);
    const redis = await ensureRedis(config.REDIS_URL, dataDir, say);
    if (redis) supervisor.children.push({ app: null, child: redis });
  } catch (err) {
    if (err instanceof ServiceError) {
      process.stderr.write(`${err.message}\n`);
      await supervisor.stopAll(1);
    }
    throw err;
  }
  if (await ensureDatabase(config.DATABASE_URL)) say(`created database ${redactUrl(config.DATABASE_URL)}`);
  const m = await migrate(config.DATABASE_URL, { log: say });
  say(`database ready (${m.applied.length} migrations applied, ${m.alreadyApplied.length} already)`);
}

/**
 * Production build of the dashboard (Turbopack builds offline). Turborepo caches it by the hash
 * of its sources, so this is instant unless something changed since the last start.
 */
function buildDashboard(env: NodeJS.ProcessEnv): boolean {
  say("building the dashboard (cached after the first start)…");
  const r = spawnSync("npx", ["turbo", "run", "build", "--filter=@satellites/web", "--output-logs=errors-only"], { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) process.stderr.write("dashboard build failed; see the output above\n");
  return r.status === 0;
}

function sayReady(config: Config, daemon: string): void {
  const host = config.PROXY_PUBLIC_ADDRESS ?? `localhost:${config.PROXY_PORT}`;
  say("ready:");
  say(`  dashboard   ${config.PUBLIC_URL ?? `http://localhost:${config.WEB_PORT}`}`);
  say(`  gRPC proxy  ${host}  (BuildKit traffic: the satellite address)`);
  say(`  Earthly API localhost:${config.EARTHLY_API_PORT} (EARTHLY_GRPC_ADDRESS; REST at the dashboard's /api/v0; see docs/earthly-cli.md)`);
  say(`  metrics     http://localhost:${config.PROXY_ADMIN_PORT}/metrics (proxy), http://localhost:${config.JOBS_ADMIN_PORT}/metrics (jobs)`);
  say(`  provider    ${config.PROVIDER}   database ${redactUrl(config.DATABASE_URL)}`);
  if (daemon) say(`  satellites  run ${daemon}`);
  say("Ctrl-C stops the dashboard, proxy and jobs; satellites are machines and outlive them.");
}

/** Local satellites outlive `npm start`, as machines do: the ones whose processes are still there, named. */
async function sayLeftRunning(dataDir: string): Promise<void> {
  const left = await localSatellitesLeft(dataDir).catch(() => []);
  if (!left.length) return;
  const names = (frozen: boolean) => left.filter((s) => s.frozen === frozen).map((s) => s.name);
  const parts = [[names(false), "still running"], [names(true), "asleep, frozen in memory"]] as const;
  const said = parts.filter(([n]) => n.length).map(([n, what]) => `${n.join(", ")} ${what}`);
  say(`satellites outlive npm start, as machines do: ${said.join("; ")}. The next start takes them over (an idle one goes to sleep); deleting a satellite in the dashboard ends its process.`);
}

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  env.AUTH_SECRET ||= authSecret();
  const daemon = chooseSatelliteDaemon(loadConfigOrExit(env), env.LOCAL_BUILDKITD, {
    peers: { earthlyBuildkitd: peerPath("earthly-buildkit", "buildkitd"), buildkitd: peerPath("buildkit", "buildkitd"), earthDebugger: peerPath("earthly", "earth_debugger") },
    exists: existsSync,
    executable: (name) => findExecutable(name, env.PATH),
    isRoot: process.getuid?.() === 0,
    stepNetworkProblem: (c) => {
      try {
        bridgeNetwork({ cniBinDir: c.LOCAL_CNI_BIN_DIR, subnets: c.LOCAL_BUILDKIT_SUBNETS, ports: c.LOCAL_SATELLITE_PORTS });
        return undefined;
      } catch (err) {
        if (err instanceof BuildkitNetworkError) return err.message;
        throw err;
      }
    },
  });
  if (daemon.buildkitd) env.LOCAL_BUILDKITD = daemon.buildkitd;
  const config = loadConfigOrExit(env);
  const supervisor = new Supervisor();
  if (config.PROVIDER === "local") supervisor.afterStop = () => sayLeftRunning(path.resolve(root, config.LOCAL_DATA_DIR));
  process.on("SIGINT", () => void supervisor.stopAll(0));
  process.on("SIGTERM", () => void supervisor.stopAll(0));

  await prepareServices(config, supervisor);
  if (!buildDashboard(env)) await supervisor.stopAll(1);
  for (const app of apps(config)) supervisor.startApp(app, env);

  const deadline = Date.now() + 120_000;
  const results = await Promise.all(
    supervisor.children.filter((c) => c.app).map(async ({ app, child }) => [app!, await healthy(app!.health, deadline, () => child.exitCode === null)] as const),
  );
  for (const [app, ok] of results) if (!ok) say(`${app.name} did not answer ${app.health} in time`);
  if (results.every(([, ok]) => ok)) sayReady(config, daemon.says);
  else await supervisor.stopAll(1);
}

await main();
