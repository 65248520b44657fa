// The product as a client with a certificate meets it: the jobs worker running real buildkitd
// satellites (LOCAL_BUILDKITD, or another daemon through LOCAL_SATELLITE_COMMAND), the proxy
// process (front door: TLS with client certificates and h2c on one port; mutual TLS to the
// satellites), both sharing a control-plane CA and a client CA in a folder of the test's own.
// Certificates are issued with the same code the API uses; the Connect card's snippets
// (@satellites/client-certs/connect) are run verbatim in a shell, in a HOME of their own.
import { exec as execCb } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { issueClientCertificate, loadClientCa, loadControlPlaneCa, serverCaPem, type ClientBundle, type IssueRequest } from "@satellites/client-certs";
import { clientSetups, type ClientSetups } from "@satellites/client-certs/connect";
import type { Db, Satellite } from "@satellites/db";
import { requestDelete, requestSleep } from "@satellites/lifecycle";
import type { CertificateAuthority } from "@satellites/pki";
import { createQueues, enqueue, redisConnection, type SatelliteQueues } from "@satellites/queue";
import { createSatellite } from "@satellites/state";
import type { Redis } from "ioredis";
import { dropQueueKeys, uniquePrefix } from "./helpers.ts";
import { freePort, metric, ownDatabase, startJobsProcess, startProxyProcess, until, type Proc } from "./processes.ts";

const exec = promisify(execCb);

export interface CertificateWorld {
  db: Db;
  dir: string;
  queues: SatelliteQueues;
  proxy: Proc & { port: number; adminPort: number };
  jobs: Proc;
  /** host:port clients are told to use (PROXY_PUBLIC_ADDRESS). */
  address: string;
  controlCa: CertificateAuthority;
  clientCa: CertificateAuthority;
  caEnv: Record<string, string>;
  launch(orgId: string, name: string): Promise<Satellite>;
  sleep(id: string): Promise<void>;
  issue(s: Satellite, over?: Partial<IssueRequest>): Promise<{ id: string; bundle: ClientBundle }>;
  /** Bytes the proxy has forwarded to satellites so far. */
  forwardedBytes(): Promise<number>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Satellite program for the jobs worker (LOCAL_BUILDKITD or LOCAL_SATELLITE_COMMAND …). */
  satelliteEnv: Record<string, string>;
  /** The host clients use; the embedded server certificate names it. */
  publicHost?: string;
}

export async function certificateWorld(opts: WorldOptions): Promise<CertificateWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), "cert-world-"));
  const own = await ownDatabase();
  const db = own.db;
  const prefix = uniquePrefix();
  const redis: Redis = redisConnection(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const queues = createQueues(redis, prefix);
  const cgroupParent = `satellites-test-certs-${process.pid}`;
  const caEnv = { SATELLITE_CA_DIR: path.join(dir, "ca"), CLIENT_CA_DIR: path.join(dir, "client-ca") };
  const env = { DATABASE_URL: own.url, QUEUE_PREFIX: prefix, ...caEnv };
  const procs: Proc[] = [];
  const launched: string[] = [];
  const close = async () => {
    for (const id of launched) {
      const sat = await db.satellite.findUnique({ where: { id } });
      if (sat && sat.state !== "deleted") await requestDelete(db, queues, sat, { actor: "system", force: true }).catch(() => {});
    }
    for (const id of launched) await until("deleted", async () => (await db.satellite.findUniqueOrThrow({ where: { id } })).state === "deleted", 30_000).catch(() => {});
    await Promise.all(procs.map((p) => p.stop()));
    await queues.close();
    redis.disconnect();
    await dropQueueKeys(prefix);
    await own.drop();
    for (const h of ["cpu", "memory", "freezer", "pids"]) await exec(`rmdir /sys/fs/cgroup/${h}/${cgroupParent} 2>/dev/null || true`);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const jobs = await startJobsProcess({ ...env, LOCAL_DATA_DIR: path.join(dir, "data"), LOCAL_CGROUP_PARENT: cgroupParent, IDLE_SCAN_EVERY_MS: "300", IDLE_MIN_SECONDS: "0", ...opts.satelliteEnv });
    procs.push(jobs);
    // The public address must name the proxy's port: choose it first.
    const port = await freePort();
    const host = opts.publicHost ?? "127.0.0.1";
    const proxy = await startProxyProcess({ ...env, PROXY_PUBLIC_ADDRESS: `${host}:${port}` }, port);
    procs.push(proxy);
    const controlCa = await loadControlPlaneCa(caEnv);
    const clientCa = await loadClientCa(caEnv);
    const caPem = await serverCaPem(caEnv);
    return {
      db,
      dir,
      queues,
      proxy,
      jobs,
      address: `${host}:${proxy.port}`,
      controlCa,
      clientCa,
      caEnv,
      async launch(orgId, name) {
        const { satellite } = await createSatellite(db, { orgId, name, platform: "amd64", size: "small", provider: "local", actor: "system", limitMemoryMiB: 2048 });
        launched.push(satellite.id);
        await enqueue(queues, "launch", { satelliteId: satellite.id, version: satellite.version });
        await until(`${name} awake`, async () => (await db.satellite.findUniqueOrThrow({ where: { id: satellite.id } })).state === "awake", 90_000);
        return db.satellite.findUniqueOrThrow({ where: { id: satellite.id } });
      },
      async sleep(id) {
        await requestSleep(db, queues, await db.satellite.findUniqueOrThrow({ where: { id } }), { cause: "manual", actor: "system" });
        await until("asleep", async () => (await db.satellite.findUniqueOrThrow({ where: { id } })).state === "asleep", 60_000);
      },
      async issue(s, over = {}) {
        const r = await issueClientCertificate(db, clientCa, caPem, { orgId: s.orgId, satelliteId: s.id, satelliteName: s.name, name: "test", days: 90, createdById: null, ...over });
        return { id: r.certificate.id, bundle: r.bundle };
      },
      forwardedBytes: () => metric(proxy.adminPort, "satellites_proxy_bytes_total", { direction: "upstream" }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A person's machine: a HOME of its own, the bundle saved as the Connect card says, the clients on PATH. */
export interface ClientMachine {
  home: string;
  env: Record<string, string>;
  setups: ClientSetups;
  /** Runs a snippet verbatim with sh in `cwd`; never throws. */
  run(snippet: string, cwd: string, timeoutMs?: number): Promise<{ code: number; out: string; ms: number }>;
}

export async function clientMachine(base: string, address: string, satellite: string, bundle: ClientBundle, bins: Record<string, string>, extraEnv: Record<string, string> = {}): Promise<ClientMachine> {
  const home = await mkdtemp(path.join(base, "home-"));
  const bin = path.join(home, "bin");
  await mkdir(bin);
  for (const [name, target] of Object.entries(bins)) await symlink(target, path.join(bin, name));
  const env: Record<string, string> = { HOME: home, PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`, ...extraEnv };
  const setups = clientSetups({ address, satellite });
  const run = async (snippet: string, cwd: string, timeoutMs = 240_000) => {
    const started = Date.now();
    try {
      const r = await exec(snippet, { cwd, env, shell: "/bin/sh", timeout: timeoutMs, maxBuffer: 64 << 20 });
      return { code: 0, out: r.stdout + r.stderr, ms: Date.now() - started };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`, ms: Date.now() - started };
    }
  };
  // The download: three files in a folder, then the card's own lines move them into place.
  const downloads = await mkdtemp(path.join(home, "Downloads-"));
  await writeFile(path.join(downloads, "ca.pem"), bundle.caPem);
  await writeFile(path.join(downloads, "client.pem"), bundle.certPem);
  await writeFile(path.join(downloads, "client-key.pem"), bundle.keyPem);
  const saved = await run(setups.files, downloads);
  if (saved.code !== 0) throw new Error(`saving the bundle failed: ${saved.out}`);
  return { home, env, setups, run };
}

/** A build context needing no registry: FROM scratch, busybox, a 50 MB file, a RUN writing their sums. */
export async function buildContext(dir: string, big: Buffer, opts: { sleepSeconds?: number } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  // Copied with its mode: the RUN step executes it.
  await copyFile("/usr/bin/busybox", path.join(dir, "busybox"));
  await writeFile(path.join(dir, "big.bin"), big);
  const sleep = opts.sleepSeconds ? `/bin/busybox sleep ${opts.sleepSeconds}; ` : "";
  await writeFile(
    path.join(dir, "Dockerfile"),
    `FROM scratch\nCOPY busybox /bin/busybox\nCOPY big.bin /data/big.bin\nRUN ["/bin/busybox", "sh", "-c", "${sleep}/bin/busybox sha256sum /data/big.bin > /data/sums.txt"]\n`,
  );
  return dir;
}

/** Every file under `dir` (relative path → SHA-256), to compare two outputs byte for byte. */
export async function treeDigest(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if ((await stat(p)).isFile()) out[path.relative(dir, p)] = createHash("sha256").update(await readFile(p)).digest("hex");
    }
  };
  await walk(dir);
  return out;
}
