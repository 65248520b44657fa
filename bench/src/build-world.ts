// The deployed shape bench:build measures: the jobs worker running a real buildkitd satellite
// (LOCAL_BUILDKITD; sleep freezes it, a request wakes it), the proxy process (h2c and TLS with
// client certificates on one port; mutual TLS to the satellite), the CAs they share, and the
// credentials each client needs: metadata (org, token), the hop's client certificate for direct
// builds, and a tenant's client-certificate bundle for buildx.
import { randomBytes } from "node:crypto";
import { mkdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { issueClientCertificate, loadClientCa, loadControlPlaneCa, serverCaPem } from "@satellites/client-certs";
import { requestDelete, requestLaunch, requestSleep } from "@satellites/lifecycle";
import { createQueues, liveLeases, redisConnection } from "@satellites/queue";
import { metric } from "../../apps/proxy/test/processes.ts";
import { benchDatabase, freePort, httpOk, say, start, startProxyProcess, tenant, waitFor } from "./harness.ts";

/** A folder holding ca.pem, cert.pem and key.pem. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface BuildWorld {
  /** host:port of the satellite's buildkitd (mutual TLS with `hop`). */
  upstream: string;
  hop: TlsFiles;
  /** host:port of the proxy's front door. */
  proxy: string;
  proxyPid: number;
  /** Full (mark-compact) garbage collections the proxy has run so far (its /metrics). */
  proxyMajorGcs(): Promise<number>;
  satellite: { id: string; name: string; org: string; token: string };
  /** The tenant's client-certificate bundle for this satellite. */
  bundle: TlsFiles;
  /** How the next sleep puts the daemon away: frozen with its memory (the product's default on amd64), or stopped. */
  setHibernate(hibernate: boolean): Promise<void>;
  /** Puts the satellite to sleep once the last build's lease has lapsed; resolves when asleep. */
  sleep(): Promise<void>;
  /** asleep → starting transitions so far. */
  wakes(): Promise<number>;
  /** The last wake's commit (asleep → starting) and awake (starting → awake) times, ms since the epoch. */
  lastWake(): Promise<{ wokeAt: number; awakeAt: number } | undefined>;
  close(): Promise<void>;
}

async function saveTls(dir: string, pems: { caPem: string; certPem: string; keyPem: string }): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true });
  const files = { ca: join(dir, "ca.pem"), cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  await Promise.all([writeFile(files.ca, pems.caPem), writeFile(files.cert, pems.certPem), writeFile(files.key, pems.keyPem, { mode: 0o600 })]);
  return files;
}

export async function buildWorld(base: string, buildkitd: string): Promise<BuildWorld> {
  const bench = await benchDatabase();
  const prefix = `satellites-bench-${randomBytes(3).toString("hex")}`;
  const redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const queues = createQueues(redis, prefix);
  const cgroupParent = `satellites-bench-build-${process.pid}`;
  const caEnv = { SATELLITE_CA_DIR: join(base, "ca"), CLIENT_CA_DIR: join(base, "client-ca") };
  const env = { DATABASE_URL: bench.url, QUEUE_PREFIX: prefix, LOG_LEVEL: "warn", ...caEnv };
  const cleanups: Array<() => Promise<unknown>> = [];
  let satelliteId: string | undefined;
  const state = async () => (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId! } })).state;
  const close = async () => {
    if (satelliteId) {
      const sat = await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } });
      await requestDelete(bench.db, queues, sat, { actor: "system", force: true }).catch(() => {});
      await waitFor("satellite deleted", async () => (await state()) === "deleted", 30_000).catch(() => {});
    }
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await queues.close();
    redis.disconnect();
    await bench.drop();
  };
  try {
    // Made here first: the two processes would otherwise race to create them.
    const [controlCa, clientCa] = await Promise.all([loadControlPlaneCa(caEnv), loadClientCa(caEnv)]);
    const jobsAdmin = await freePort();
    const jobs = start(process.execPath, ["--import", "tsx", "apps/jobs/src/main.ts"], {
      ...env,
      PROVIDER: "local",
      LOCAL_DATA_DIR: join(base, "data"),
      LOCAL_CGROUP_PARENT: cgroupParent,
      LOCAL_BUILDKITD: buildkitd,
      JOBS_ADMIN_PORT: String(jobsAdmin),
      IDLE_SCAN_EVERY_MS: "3600000",
      RECONCILE_EVERY_MS: "3600000",
    }, "jobs");
    cleanups.push(async () => {
      await jobs.stop();
      for (const h of ["cpu", "memory", "freezer", "pids"]) await rmdir(`/sys/fs/cgroup/${h}/${cgroupParent}`).catch(() => {});
    });
    await waitFor("jobs worker", () => httpOk(`http://127.0.0.1:${jobsAdmin}/healthz`));
    const proxy = await startProxyProcess(env);
    cleanups.push(() => proxy.child.stop());

    const { orgId, token } = await tenant(bench.db);
    // As the dashboard and the API launch one: default limits and hibernation for the size and platform.
    const launched = await requestLaunch(bench.db, queues, { orgId, name: `bench-build-${process.pid}`, size: "medium", platform: "amd64", provider: "local", idleTimeoutSeconds: 1800, actor: "system" });
    if (launched.kind !== "launched") throw new Error(`launch refused: ${launched.reason}`);
    const { satellite } = launched;
    satelliteId = satellite.id;
    await waitFor("buildkitd satellite awake", async () => (await state()) === "awake", 120_000);
    const upstream = (await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId } })).upstream!;
    const hop = await saveTls(join(base, "hop"), await controlCa.issueClient("bench direct"));
    const issued = await issueClientCertificate(bench.db, clientCa, await serverCaPem(caEnv), { orgId, satelliteId, satelliteName: satellite.name, name: "bench", days: 1, createdById: null });
    const bundle = await saveTls(join(base, "bundle"), issued.bundle);
    say(`satellite ${satellite.name} at ${upstream} (buildkitd), proxy :${proxy.port}`);
    return {
      upstream,
      hop,
      proxy: `127.0.0.1:${proxy.port}`,
      proxyPid: proxy.child.proc.pid!,
      proxyMajorGcs: () => metric(proxy.adminPort, "satellites_proxy_nodejs_gc_duration_seconds_count", { kind: "major" }),
      satellite: { id: satelliteId, name: satellite.name, org: orgId, token },
      bundle,
      async setHibernate(hibernate) {
        await bench.db.satellite.update({ where: { id: satelliteId! }, data: { hibernate } });
      },
      async sleep() {
        // The proxy keeps a lease a few seconds after a build's last call; a sleep waits for it.
        await waitFor("the last build's lease to lapse", async () => (await liveLeases(redis, satelliteId!)) === 0, 60_000);
        await requestSleep(bench.db, queues, await bench.db.satellite.findUniqueOrThrow({ where: { id: satelliteId! } }), { cause: "manual", actor: "system" });
        await waitFor("satellite asleep", async () => (await state()) === "asleep", 60_000);
      },
      wakes: () => bench.db.satelliteEvent.count({ where: { satelliteId: satelliteId!, from: "asleep", to: "starting" } }),
      async lastWake() {
        const last = (from: "asleep" | "starting", to: "starting" | "awake") => bench.db.satelliteEvent.findFirst({ where: { satelliteId: satelliteId!, from, to }, orderBy: { id: "desc" } });
        const [woke, awake] = await Promise.all([last("asleep", "starting"), last("starting", "awake")]);
        if (!woke || !awake || awake.id < woke.id) return undefined;
        return { wokeAt: woke.finishedAt.getTime(), awakeAt: awake.finishedAt.getTime() };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
