// The chaos suite's own Postgres and Redis: started from Debian's binaries on free ports with
// data directories of their own (never the machine's shared services), so the suite may crash
// and restart them at will. Postgres refuses to run as root: as root, its commands run as the
// `postgres` user.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { freePort } from "@satellites/testing";

function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, "bin", "initdb"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error("chaos: no Postgres server binaries under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)");
  return path.join(root, newest, "bin");
}

const asRoot = process.getuid?.() === 0;
/** argv for a Postgres command, run as the postgres user when we are root. */
const pgArgv = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args]);

export interface PrivatePostgres {
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  adminUrl: string;
  urlFor(database: string): string;
  /** A crash (immediate shutdown, recovery at start), then up again. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostgres(dir: string): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const data = path.join(dir, "pg");
  mkdirSync(data, { recursive: true });
  if (asRoot) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    chownSync(data, uid, gid);
  }
  const run = (cmd: string, args: string[]) => {
    const [c, a] = pgArgv(path.join(bin, cmd), args);
    execFileSync(c, a, { stdio: ["ignore", "ignore", "pipe"] });
  };
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  // Durable enough to survive its own crash (fsync on: an immediate stop is a real crash).
  const options = `-p ${port} -k ${data} -c listen_addresses=127.0.0.1 -c max_connections=300 -c synchronous_commit=on`;
  const start = () => run("pg_ctl", ["-D", data, "-l", path.join(data, "log"), "-o", options, "-w", "-t", "60", "start"]);
  start();
  const base = `postgresql://postgres@127.0.0.1:${port}`;
  return {
    adminUrl: `${base}/postgres`,
    urlFor: (database) => `${base}/${database}`,
    async restart() {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      start();
    },
    async stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        // already down
      }
    },
  };
}

function postgresIds(): { uid: number; gid: number } {
  const out = execFileSync("id", ["postgres"]).toString();
  const uid = /uid=(\d+)/.exec(out)?.[1];
  const gid = /gid=(\d+)/.exec(out)?.[1];
  if (!uid || !gid) throw new Error("chaos: running as root needs a `postgres` user (Debian's postgresql package creates it)");
  return { uid: Number(uid), gid: Number(gid) };
}

export interface PrivateRedis {
  url: string;
  /** SIGKILL, then up again on the same port with what its append-only file kept. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(dir: string): Promise<PrivateRedis> {
  const data = path.join(dir, "redis");
  mkdirSync(data, { recursive: true });
  const port = await freePort();
  // AOF fsynced on every write: a crash loses nothing BullMQ acknowledged (its documented setup).
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", data, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"];
  let child: ChildProcess | null = null;
  const up = async () => {
    child = spawn("redis-server", args, { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      if (await answers(port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`chaos: redis-server did not start on port ${port}`);
  };
  const down = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await gone;
  };
  await up();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      await down();
      await up();
    },
    stop: down,
  };
}

async function answers(port: number): Promise<boolean> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => s.write("PING\r\n"));
    s.once("data", (d) => {
      s.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    s.once("error", () => resolve(false));
  });
}
