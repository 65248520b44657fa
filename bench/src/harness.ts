// What both benchmarks need: a throwaway database, child processes that are always cleaned up,
// free ports, and waiting for readiness. Progress goes to stderr; stdout is for results.
import { type ChildProcess, spawn, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@satellites/config";
import type { Db } from "@satellites/db";
import { type ScratchDatabase, scratchDatabase } from "@satellites/db/scratch";
import { createSatellite, transition } from "@satellites/state";
import { generateToken } from "@satellites/tokens";
import { freePort } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
export { freePort };

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The runtime a bench ran on, part of its JSON line: node:http2's cost per call and per byte differs by Node version (docs/benchmarks.md). */
export const RUNTIME = { node: process.version, nghttp2: process.versions.nghttp2 };

export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

const children = new Set<ChildProcess>();
function killAll(): void {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stop(): Promise<void>;
}

export function start(cmd: string, args: string[], env: Record<string, string> = {}, label = cmd): Child {
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  let out = "";
  let err = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => {
    err += c.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  proc.on("exit", (code, signal) => {
    children.delete(proc);
    if (code !== 0 && code !== null && !stopping) say(`${label} exited with ${code ?? signal}: ${err.slice(-2000)}`);
  });
  let stopping = false;
  return {
    proc,
    stdout: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        stopping = true;
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        proc.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        proc.kill("SIGTERM");
      }),
  };
}

/** Runs a child to completion and returns its last stdout line parsed as JSON. */
export function runJson<T>(cmd: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  const c = start(cmd, args, env, args.join(" ").slice(0, 60));
  return new Promise((resolve, reject) => {
    c.proc.once("exit", (code) => {
      const lines = c.stdout().trim().split("\n");
      if (code !== 0) return reject(new Error(`${args.join(" ")} exited with ${code}`));
      try {
        resolve(JSON.parse(lines[lines.length - 1]!) as T);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}


export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url).catch(() => null);
  return res?.status === 200;
}

export type BenchDb = ScratchDatabase;

/** A fresh, migrated database next to the configured one, dropped afterwards. */
export function benchDatabase(): Promise<BenchDb> {
  return scratchDatabase(parseConfig().DATABASE_URL, `satellites_bench_${Date.now()}_${process.pid}`, { max: 4 });
}

/** An organization, an API token, and the metadata a client sends to reach `satelliteName`. */
export async function tenant(db: Db): Promise<{ orgId: string; token: string }> {
  const orgId = randomUUID();
  await db.organization.create({ data: { id: orgId, name: "bench", slug: `bench-${orgId.slice(0, 8)}` } });
  const { token, prefix, hash } = generateToken();
  await db.apiToken.create({ data: { orgId, name: "bench", prefix, hash } });
  return { orgId, token };
}

export async function awakeSatellite(db: Db, orgId: string, upstream: string): Promise<string> {
  const { satellite } = await createSatellite(db, { orgId, name: `bench-${randomUUID().slice(0, 8)}`, platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 4096 });
  const r = await transition(db, { satellite, to: "awake", cause: "launch", actor: "system", set: { upstream } });
  if (!r.won) throw new Error("could not mark the bench satellite awake");
  return satellite.name;
}

/** A started program and the address it said it listens on. */
export interface Listening {
  child: Child;
  /** What the program printed after "listening ". */
  address: string;
  pid: number;
}

/** Starts a program that prints "listening <address>" once serving (backend, relay, satellites). */
export async function startListening(cmd: string, args: string[], label: string): Promise<Listening> {
  const child = start(cmd, args, {}, label);
  let address = "";
  await waitFor(`${label} to listen`, () => {
    const m = /listening (\S+)/.exec(child.stdout());
    if (m) address = m[1]!;
    return Boolean(m);
  });
  return { child, address, pid: child.proc.pid! };
}

/**
 * The built-in backend (the local provider's default satellite) as its own process. With `tls`
 * it serves mutual TLS with a certificate from the CA the proxy and jobs processes use, as every
 * satellite behind the proxy must; without, plaintext for direct measurements.
 */
export async function startBackendProcess(opts: { tls?: boolean } = {}): Promise<Listening> {
  const args = ["--import", "tsx", "packages/backend/src/main.ts", "--host", "127.0.0.1", "--port", "0"];
  let dir: string | undefined;
  if (opts.tls) {
    const material = await fixtureSatelliteTls();
    dir = mkdtempSync(join(tmpdir(), "bench-tls-"));
    writeFileSync(join(dir, "ca.pem"), material.caPem);
    writeFileSync(join(dir, "cert.pem"), material.certPem);
    writeFileSync(join(dir, "key.pem"), material.keyPem, { mode: 0o600 });
    args.push("--tls-ca", join(dir, "ca.pem"), "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem"));
  }
  try {
    return await startListening(process.execPath, args, opts.tls ? "backend (mTLS)" : "backend");
  } finally {
    // The backend reads its certificate and key once, at start: no key is left behind in /tmp.
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** BENCH_PROXY_CPU_PROF=<dir>: a proxy (or bench:proxy's node:http2 forwarder) writes a V8 CPU profile there when it stops. */
export function cpuProfileArgs(): string[] {
  const dir = process.env.BENCH_PROXY_CPU_PROF;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** The proxy process; `earthlyApiPort` is Earthly's cloud gRPC API it also serves (EARTHLY_API_PORT). */
export async function startProxyProcess(env: Record<string, string>, entry = "apps/proxy/src/main.ts"): Promise<{ child: Child; port: number; adminPort: number; earthlyApiPort: number }> {
  const port = await freePort();
  const adminPort = await freePort();
  const earthlyApiPort = await freePort();
  const child = start(
    process.execPath,
    [...cpuProfileArgs(), "--import", "tsx", entry],
    { LOG_LEVEL: "warn", ...env, PROXY_PORT: String(port), PROXY_ADMIN_PORT: String(adminPort), EARTHLY_API_PORT: String(earthlyApiPort) },
    "proxy",
  );
  // A loaded machine (other work, tsx compiling on start) can take well over 30 s to start one.
  await waitFor("proxy health", () => httpOk(`http://127.0.0.1:${adminPort}/healthz`), 120_000);
  return { child, port, adminPort, earthlyApiPort };
}

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
export function cpuMs(pid: number): number {
  // Fields after the parenthesised command name: state is [0], utime [11], stime [12], in ticks.
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}

/** Installs Debian packages a benchmark needs (as root, from the machine's package mirror). */
export function aptInstall(packages: string[], why: string): void {
  say(`${why}; installing Debian's ${packages.join(", ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], { stdio: "inherit", env });
}

export function which(cmd: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd} || ls /usr/sbin/${cmd} 2>/dev/null`], { encoding: "utf8" }).trim().split("\n")[0] || null;
  } catch {
    return null;
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : Math.round(((s[mid - 1]! + s[mid]!) / 2) * 10) / 10;
}
