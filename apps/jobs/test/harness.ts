// Runs the real jobs worker as its own process (so tests can kill -9 it) against the test
// database and Redis, under a BullMQ prefix and a cgroup parent of its own.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultLimits, type Limits, limitColumns, type PlatformName, type SizeName } from "@satellites/catalog";
import { createQueues, enqueue, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import { freePort } from "@satellites/ec2-emulator/testing";
import type { Redis } from "ioredis";
import type { Db, Satellite } from "@satellites/db";
import { ownDatabase } from "@satellites/testing";
import { terminateLocalSatellites } from "@satellites/testing/local";
import { expect } from "vitest";

const root = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
export const TINY_HEALTH = `${process.execPath} ${path.join(root, "packages/testing/src/tiny-health.mjs")} --host {host} --port {port} --tls-ca {tlsCa} --tls-cert {tlsCert} --tls-key {tlsKey}`;

export interface JobsWorld {
  /** A database of this world's own: the worker's idle scan and reconciler see only it. */
  db: Db;
  env: NodeJS.ProcessEnv;
  queues: SatelliteQueues;
  redis: Redis;
  dataDir: string;
  cgroupParent: string;
  start(): Promise<JobsProcess>;
  close(): Promise<void>;
}

export interface JobsProcess {
  proc: ChildProcess;
  /** /healthz and /metrics on 127.0.0.1. */
  adminPort: number;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export async function jobsWorld(over: NodeJS.ProcessEnv = {}): Promise<JobsWorld> {
  const database = await ownDatabase("jobs");
  const prefix = `jobs-test-${randomUUID().slice(0, 8)}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), "sat-local-"));
  const cgroupParent = `satellites-test-${randomUUID().slice(0, 8)}`;
  const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: database.url,
    PROVIDER: "local",
    LOCAL_DATA_DIR: dataDir,
    LOCAL_CGROUP_PARENT: cgroupParent,
    IDLE_SCAN_EVERY_MS: "300",
    RECONCILE_EVERY_MS: "2000",
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: process.env.JOBS_LOG_LEVEL ?? "warn",
    ...over,
  };
  const running = new Set<JobsProcess>();
  const queues = createQueues(redis, prefix);
  return {
    db: database.db,
    env,
    queues,
    redis,
    dataDir,
    cgroupParent,
    async start() {
      const port = await freePort();
      const proc = spawn(process.execPath, ["--import", "tsx", path.join(root, "apps/jobs/src/main.ts")], {
        cwd: root,
        env: { ...env, JOBS_ADMIN_PORT: String(port) },
        stdio: ["ignore", "inherit", "inherit"],
      });
      const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
      for (let i = 0; ; i++) {
        if (proc.exitCode !== null) throw new Error(`jobs process exited with ${proc.exitCode}`);
        try {
          if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
        } catch {
          // not up yet
        }
        if (i > 600) throw new Error("jobs process did not become healthy within 60 s");
        await new Promise((r) => setTimeout(r, 100));
      }
      const handle: JobsProcess = {
        proc,
        adminPort: port,
        async stop() {
          running.delete(handle);
          if (proc.exitCode === null) proc.kill("SIGTERM");
          return exited;
        },
        async kill9() {
          running.delete(handle);
          proc.kill("SIGKILL");
          await exited;
        },
      };
      running.add(handle);
      return handle;
    },
    async close() {
      await Promise.all([...running].map((p) => p.stop()));
      try {
        // Local satellites outlive the worker by design; tests must not leave them behind (a
        // failed terminate fails the test, once the rest is cleaned up).
        if (env.PROVIDER === "local") await terminateLocalSatellites(dataDir, cgroupParent);
      } finally {
        await queues.close();
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length) await redis.del(...keys);
        redis.disconnect();
        await database.drop();
      }
    },
  };
}

export interface NewAwakeSatellite {
  orgId: string;
  name: string;
  /** Default amd64. */
  platform?: PlatformName;
  /** Default small. */
  size?: SizeName;
  /** Default the world's provider. */
  provider?: string;
  actor?: string;
  hibernate?: boolean;
  /** Over the size's defaults. */
  limits?: Partial<Limits>;
}

/**
 * A satellite made as a user's request makes one, launched by the world's worker: its row once
 * the worker has it awake (the worker must be started).
 */
export async function launchAwake(world: JobsWorld, s: NewAwakeSatellite, timeoutMs = 60_000): Promise<Satellite> {
  const size = s.size ?? "small";
  const { satellite } = await createSatellite(world.db, {
    orgId: s.orgId, name: s.name, platform: s.platform ?? "amd64", size, provider: s.provider ?? world.env.PROVIDER ?? "local", actor: s.actor ?? "user:alice",
    ...(s.hibernate === undefined ? {} : { hibernate: s.hibernate }),
    ...limitColumns({ ...defaultLimits(size), ...s.limits }),
  });
  await enqueue(world.queues, "launch", { satelliteId: satellite.id, version: satellite.version });
  const row = () => world.db.satellite.findUniqueOrThrow({ where: { id: satellite.id } });
  await expect.poll(async () => (await row()).state, { timeout: timeoutMs, interval: 200 }).toBe("awake");
  return row();
}
