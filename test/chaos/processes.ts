// The product's processes as the chaos suite runs them: real proxy and jobs processes
// (`node --import tsx apps/…/main.ts`) that it SIGKILLs and starts again on the same ports.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "@satellites/testing";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Member {
  name: string;
  /** The port clients use (proxy: gRPC), if any. */
  port: number | null;
  alive(): boolean;
  /** Started and answered its health check, and not killed or stopped since. */
  ready(): boolean;
  start(): Promise<void>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

async function healthy(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
  return res?.status === 200;
}

function member(name: string, entry: string, env: NodeJS.ProcessEnv, adminPort: number, port: number | null): Member {
  let proc: ChildProcess | null = null;
  let up = false;
  let out = "";
  const alive = () => proc !== null && proc.exitCode === null && proc.signalCode === null;
  const keep = (c: Buffer) => {
    out += c.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  return {
    name,
    port,
    alive,
    ready: () => up && alive(),
    output: () => out,
    async start() {
      if (alive()) return;
      const p = spawn(process.execPath, ["--import", "tsx", entry], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      proc = p;
      p.stdout!.on("data", keep);
      p.stderr!.on("data", keep);
      const end = Date.now() + 240_000;
      while (!(await healthy(adminPort))) {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${name} exited (${p.exitCode ?? p.signalCode}) while starting:\n${out.slice(-3000)}`);
        if (Date.now() > end) throw new Error(`${name} did not become healthy within 240 s:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      up = proc === p;
    },
    async kill9() {
      const p = proc;
      up = false;
      if (!p || !alive()) return;
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await gone;
    },
    async stop() {
      const p = proc;
      up = false;
      if (!p || !alive()) return;
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 15_000);
      await gone;
      clearTimeout(t);
    },
  };
}

export async function proxyMember(name: string, env: NodeJS.ProcessEnv): Promise<Member> {
  const [port, adminPort, earthlyApiPort] = [await freePort(), await freePort(), await freePort()];
  const full = { ...env, PROXY_PORT: String(port), PROXY_ADMIN_PORT: String(adminPort), EARTHLY_API_PORT: String(earthlyApiPort) };
  return member(name, "apps/proxy/src/main.ts", full, adminPort, port);
}

export async function jobsMember(name: string, env: NodeJS.ProcessEnv): Promise<Member> {
  const adminPort = await freePort();
  return member(name, "apps/jobs/src/main.ts", { ...env, JOBS_ADMIN_PORT: String(adminPort) }, adminPort, null);
}
