// Finding (or starting) the Postgres and Redis the configuration names. A local Redis is
// started as our child when `redis-server` is on PATH; a local Debian Postgres cluster is
// started with pg_ctlcluster. Otherwise we stop with the exact command that would help.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import net from "node:net";
import pg from "pg";

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

export class ServiceError extends Error {
  override name = "ServiceError";
}

function onPath(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function postgresAnswers(url: string): Promise<string | null> {
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

export async function ensurePostgres(url: string, log: (l: string) => void): Promise<void> {
  const problem = await postgresAnswers(url);
  if (problem === null) return;
  const u = new URL(url);
  const clusters = existsSync("/etc/postgresql") ? readdirSync("/etc/postgresql") : [];
  const command = clusters.length
    ? `pg_ctlcluster --skip-systemctl-redirect ${clusters[0]} main start`
    : `apt-get install -y postgresql && pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`;
  if (LOOPBACK.has(u.hostname) && clusters.length && onPath("pg_ctlcluster")) {
    log(`Postgres not reachable (${problem}); starting the local cluster: ${command}`);
    try {
      execFileSync("sh", ["-c", command], { stdio: "inherit" });
      for (let i = 0; i < 30; i++) {
        if ((await postgresAnswers(url)) === null) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    } catch {
      // fall through to the message below
    }
  }
  throw new ServiceError(
    `Postgres is not reachable at ${u.host} (${problem}).\n  Start one:  ${command}\n  or point DATABASE_URL at a running Postgres (postgresql://user@host:5432/satellites).`,
  );
}

function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once("connect", () => s.write("PING\r\n"));
    s.once("data", (d) => {
      s.destroy();
      resolve(d.toString().startsWith("+PONG") || d.toString().startsWith("-NOAUTH"));
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Returns the child we started (to stop with us), or null when Redis was already there. */
export async function ensureRedis(url: string, dataDir: string, log: (l: string) => void): Promise<ChildProcess | null> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port || 6379);
  if (await redisAnswers(host, port)) return null;
  const command = `redis-server --port ${port} --bind 127.0.0.1 --save "" --appendonly no`;
  if (LOOPBACK.has(u.hostname) && onPath("redis-server")) {
    log(`Redis not reachable at ${u.host}; starting one for this session: ${command}`);
    const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dataDir], { stdio: "ignore" });
    for (let i = 0; i < 40; i++) {
      if (await redisAnswers(host, port)) return child;
      await new Promise((r) => setTimeout(r, 250));
    }
    child.kill();
  }
  throw new ServiceError(
    `Redis is not reachable at ${u.host}.\n  Start one:  ${onPath("redis-server") ? command : `apt-get install -y redis-server && ${command}`}\n  or point REDIS_URL at a running Redis (redis://host:6379).`,
  );
}
