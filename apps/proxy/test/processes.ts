// End-to-end pieces: a database of the test's own (the jobs worker's idle scan and reconciler
// act on every satellite in a database, so they must not see other test files' fixtures),
// and the proxy and jobs worker as real processes.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ownDatabase as sharedOwnDatabase } from "@satellites/testing";
import { freePort } from "@satellites/testing";
export { freePort };

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** A migrated database of the test's own (the jobs worker acts on every satellite it sees). */
export const ownDatabase = () => sharedOwnDatabase("proxy");


export interface Proc {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

/** SATELLITES_TEST_PROFILE_DIR: each process started here writes a V8 CPU profile there on exit (how issue 12's attack profiles were taken). */
const profile = (): string[] => (process.env.SATELLITES_TEST_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SATELLITES_TEST_PROFILE_DIR}`] : []);

export function spawnTs(entry: string, env: Record<string, string>): Proc {
  const proc = spawn(process.execPath, [...profile(), "--import", "tsx", entry], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (c: Buffer) => {
    out += c.toString();
    if (out.length > 50_000) out = out.slice(-25_000);
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  return {
    proc,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        proc.once("exit", (code) => {
          clearTimeout(t);
          resolve(code);
        });
        proc.kill("SIGTERM");
      }),
  };
}

export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve().then(check).catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function healthy(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
  return res?.status === 200;
}

export async function startProxyProcess(env: Record<string, string>, chosenPort?: number): Promise<Proc & { port: number; adminPort: number; earthlyApiPort: number }> {
  const port = chosenPort ?? (await freePort());
  const adminPort = await freePort();
  const earthlyApiPort = await freePort();
  const p = spawnTs("apps/proxy/src/main.ts", { ...env, PROXY_PORT: String(port), PROXY_ADMIN_PORT: String(adminPort), EARTHLY_API_PORT: String(earthlyApiPort) });
  // Start-up is tsx compiling the proxy and its packages: on a loaded 2-vCPU CI machine that took
  // over 30 s (build-records failed there at start-up, before testing anything).
  await until(`proxy on ${port}`, () => healthy(adminPort), 120_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${p.output()}`);
  });
  return { ...p, port, adminPort, earthlyApiPort };
}

export async function startJobsProcess(env: Record<string, string>): Promise<Proc & { adminPort: number }> {
  const adminPort = await freePort();
  const p = spawnTs("apps/jobs/src/main.ts", { PROVIDER: "local", RECONCILE_EVERY_MS: "3600000", ...env, JOBS_ADMIN_PORT: String(adminPort) });
  await until("jobs worker", () => healthy(adminPort)).catch((err: Error) => {
    throw new Error(`${err.message}: ${p.output()}`);
  });
  return { ...p, adminPort };
}

/** One sample's value from a Prometheus text page, summed over label sets matching `labels`. */
export async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^(\w+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
