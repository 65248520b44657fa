// The product as the real Earthly CLI meets it: the jobs worker running Earthly's BuildKit fork
// as each local satellite, the proxy process (satellite traffic and Earthly's cloud gRPC API),
// Earthly's REST account endpoints, and an organization with a member and an API token. The CLI
// is pointed at us with environment variables and ~/.earthly/config.yml only.
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { bridgeNetwork, cniConflist, satelliteBridge } from "@satellites/provider/buildkit-network";
import { createQueues, redisConnection } from "@satellites/queue";
import type { Db } from "@satellites/db";
import { makeOrg } from "@satellites/testing";
import { terminateLocalSatellites } from "@satellites/testing/local";
import { requirePeer } from "@satellites/testing/peers";
import { generateToken } from "@satellites/tokens";
import { createToken, listOrganizations, login, notOffered, ping } from "@satellites/earthly-api/rest";
import { freePort, ownDatabase, spawnTs, until, type Proc } from "./processes.ts";

/** The CLI refuses to treat 127.0.0.1/localhost as a remote BuildKit (it would manage a local
 *  container), so the proxy's public address is another loopback address. */
export const SATELLITE_HOST = "127.0.0.2";

// Where Earthly's buildkitd image has the debugger every RUN goes through (a host bind mount
// on the daemon's machine); a local satellite's machine is this one.
const EARTH_DEBUGGER = "/usr/bin/earth_debugger";

export function ensureEarthDebugger(): void {
  const built = requirePeer("earthly", "earth_debugger");
  if (existsSync(EARTH_DEBUGGER) && readFileSync(EARTH_DEBUGGER).equals(readFileSync(built))) return;
  copyFileSync(built, `${EARTH_DEBUGGER}.tmp`);
  execFileSync("chmod", ["0755", `${EARTH_DEBUGGER}.tmp`]);
  execFileSync("mv", ["-f", `${EARTH_DEBUGGER}.tmp`, EARTH_DEBUGGER]);
}

/**
 * buildkitd flags for a fork daemon started directly (not a satellite), set up as the local
 * provider sets up a satellite's: the OCI worker only, no insecure entitlements, and each build
 * step in a network namespace of its own on a bridge of its own (the same CNI chain, from a config
 * file), so that comparisons with satellites compare like with like. Its files go in `dir`.
 */
export function earthlyDirectDaemonArgs(dir: string, port: number): string[] {
  const network = bridgeNetwork();
  if (network.mode !== "bridge") throw new Error("bridge network expected");
  const conflist = path.join(dir, "cni.conflist");
  writeFileSync(conflist, cniConflist(satelliteBridge(port)));
  // The CNI config's path is taken from buildkitd.toml only: its flag is read under another name.
  const toml = path.join(dir, "buildkitd.toml");
  writeFileSync(toml, ["[worker.oci]", "  enabled = true", `  cniConfigPath = ${JSON.stringify(conflist)}`, "[worker.containerd]", "  enabled = false", ""].join("\n"));
  return ["--config", toml, "--oci-worker-net", "cni", "--oci-cni-binary-dir", network.cniBinDir];
}

/**
 * The jobs worker's environment for local satellites running Earthly's BuildKit fork: the
 * product's own setting, LOCAL_BUILDKITD. The provider knows the fork by its version (its
 * one-number GC budget; its steps' network from a CNI config file, as it has no bridge mode), and
 * confines its steps to the satellite's cgroup as it does moby's.
 */
export function earthlySatelliteEnv(): Record<string, string> {
  return { LOCAL_BUILDKITD: requirePeer("earthly-buildkit", "buildkitd") };
}

export interface Member {
  userId: string;
  apiTokenId: string;
  apiToken: string;
}

export interface CliResult {
  code: number | null;
  out: string;
  /** Each output line with when it arrived (ms after the CLI started): where a run spent its time. */
  lines: { ms: number; text: string }[];
}

export interface EarthlyWorld {
  db: Db;
  org: { id: string; slug: string };
  member: Member;
  proxyPort: number;
  apiPort: number;
  /** The second replica's Earthly API (WorldOptions.replica). */
  replicaApiPort?: number;
  restUrl: string;
  caFile?: string;
  /** The control plane's CA folder (SATELLITE_CA_DIR): satellites serve mutual TLS from it. */
  caDir: string;
  /** Runs `earthly ARGS` in `cwd` as the member (or with `env` overrides), to completion. */
  earthly(args: string[], opts?: { cwd?: string; env?: Record<string, string>; home?: string; timeoutMs?: number }): Promise<CliResult>;
  newMember(orgId: string, role?: "member" | "admin" | "owner"): Promise<Member>;
  jobsOutput(): string;
  proxyOutput(): string;
  /** Message bytes the proxy has forwarded to satellites so far (its /metrics). */
  forwardedBytes(): Promise<number>;
  close(): Promise<void>;
}

async function member(db: Db, orgId: string, role: "member" | "admin" | "owner"): Promise<Member> {
  const userId = randomUUID();
  await db.user.create({ data: { id: userId, name: role, email: `${role}-${userId.slice(0, 8)}@example.test` } });
  await db.member.create({ data: { id: randomUUID(), organizationId: orgId, userId, role } });
  const t = generateToken();
  const row = await db.apiToken.create({ data: { orgId, createdById: userId, name: "earthly-cli", prefix: t.prefix, hash: t.hash } });
  return { userId, apiTokenId: row.id, apiToken: t.token };
}

/** Earthly's REST account endpoints, exactly the handlers apps/web's /api/v0 route files call. */
async function startRest(db: Db): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = `http://${req.headers.host}${req.url}`;
    const body = chunks.length && req.method !== "GET" ? Buffer.concat(chunks) : undefined;
    const request = new Request(url, { method: req.method, headers: req.headers as Record<string, string>, body });
    const p = new URL(url).pathname;
    let response: Response;
    if (p === "/api/v0/account/login" && req.method === "POST") response = await login(db, request);
    else if (p === "/api/v0/account/ping" && req.method === "GET") response = await ping(db, request);
    else if (p === "/api/v0/admin/organizations" && req.method === "GET") response = await listOrganizations(db, request);
    else if (p.startsWith("/api/v0/account/token/") && req.method === "PUT") response = await createToken(db, request);
    else response = notOffered(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** A test CA and a certificate for the proxy (both loopback addresses), made with openssl. */
function testCertificates(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "1", "-subj", "/CN=satellites test CA"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("proxy.key"), "-out", f("proxy.csr"), "-subj", "/CN=satellites proxy"]);
  writeFileSync(f("ext.cnf"), `subjectAltName=IP:${SATELLITE_HOST},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  run(["x509", "-req", "-in", f("proxy.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("proxy.pem"), "-days", "1", "-extfile", f("ext.cnf")]);
  return { ca: f("ca.pem"), cert: f("proxy.pem"), key: f("proxy.key") };
}

export interface WorldOptions {
  /** Proxy and Earthly API with TLS from a test CA; the CLI trusts it through SSL_CERT_FILE. */
  tls?: boolean;
  jobsEnv?: Record<string, string>;
  /** Where the world's own database comes from (benches make theirs next to the default one). */
  database?: () => ReturnType<typeof ownDatabase>;
  /**
   * A second proxy replica whose Earthly API (`replicaApiPort`) hands out the first one's address,
   * as two replicas behind a load balancer may split a CLI's reserve and its build.
   */
  replica?: boolean;
}

export async function earthlyWorld(opts: WorldOptions = {}): Promise<EarthlyWorld> {
  ensureEarthDebugger();
  const earthlyBin = requirePeer("earthly", "earthly");
  const database = await (opts.database ?? ownDatabase)();
  const db = database.db;
  const prefix = `earthly-test-${randomUUID().slice(0, 8)}`;
  const work = mkdtempSync(path.join(tmpdir(), "earthly-world-"));
  const dataDir = path.join(work, "satellites");
  mkdirSync(dataDir);
  const cgroupParent = `satellites-earthly-${randomUUID().slice(0, 8)}`;
  const certs = opts.tls ? testCertificates(work) : undefined;

  // One control-plane CA for the jobs worker (issues satellites' certificates) and the proxy.
  const common = { DATABASE_URL: database.url, QUEUE_PREFIX: prefix, REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", SATELLITE_CA_DIR: path.join(work, "ca") };
  const procs: Proc[] = [];
  let rest: Awaited<ReturnType<typeof startRest>> | undefined;
  const closeAll = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    // A satellite that cannot be terminated fails the suite, once the rest is cleaned up.
    try {
      await terminateLocalSatellites(dataDir, cgroupParent);
    } finally {
      await rest?.close();
      const redis = redisConnection(common.REDIS_URL);
      await createQueues(redis, prefix).close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await database.drop();
      rmSync(work, { recursive: true, force: true });
    }
  };

  try {
    const jobsAdmin = await freePort();
    const jobs = spawnTs("apps/jobs/src/main.ts", {
      ...common,
      PROVIDER: "local",
      LOCAL_DATA_DIR: dataDir,
      LOCAL_CGROUP_PARENT: cgroupParent,
      ...earthlySatelliteEnv(),
      IDLE_SCAN_EVERY_MS: "300",
      RECONCILE_EVERY_MS: "2000",
      JOBS_ADMIN_PORT: String(jobsAdmin),
      ...opts.jobsEnv,
    });
    procs.push(jobs);
    await until("jobs worker", async () => (await fetch(`http://127.0.0.1:${jobsAdmin}/healthz`)).ok, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${jobs.output()}`);
    });

    /** A proxy process (its Earthly API too), healthy; `env(port)` on top of the world's. */
    const startProxyProcess = async (label: string, env: (port: number) => Record<string, string>) => {
      const [port, admin, api] = [await freePort(), await freePort(), await freePort()];
      const p = spawnTs("apps/proxy/src/main.ts", { ...common, PROXY_PORT: String(port), PROXY_ADMIN_PORT: String(admin), EARTHLY_API_PORT: String(api), ...env(port) });
      procs.push(p);
      await until(label, async () => (await fetch(`http://127.0.0.1:${admin}/healthz`)).ok, 60_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${p.output()}`);
      });
      return { proc: p, port, admin, api };
    };
    const tls: Record<string, string> = certs ? { PROXY_TLS_CERT: certs.cert, PROXY_TLS_KEY: certs.key } : {};
    // Plaintext: the proxy's public address is left at its default (localhost:<port>, as under
    // `npm start`), which the CLI must still be able to dial. With TLS it is the address the
    // certificate names.
    const main = await startProxyProcess("proxy", (port) => (certs ? { ...tls, PROXY_PUBLIC_ADDRESS: `${SATELLITE_HOST}:${port}` } : {}));
    const [proxy, proxyPort, adminPort, apiPort] = [main.proc, main.port, main.admin, main.api];
    // The second replica hands out the first one's address.
    const replicaApiPort = opts.replica ? (await startProxyProcess("second proxy replica", () => ({ ...tls, PROXY_PUBLIC_ADDRESS: `${SATELLITE_HOST}:${proxyPort}` }))).api : undefined;

    rest = await startRest(db);
    const org = await makeOrg(db, "earthly");
    const first = await member(db, org.id, "admin");
    const restUrl = rest.url;

    return {
      db,
      org,
      member: first,
      proxyPort,
      apiPort,
      replicaApiPort,
      restUrl,
      caFile: certs?.ca,
      caDir: common.SATELLITE_CA_DIR,
      newMember: (orgId, role = "admin") => member(db, orgId, role),
      jobsOutput: () => jobs.output(),
      proxyOutput: () => proxy.output(),
      async forwardedBytes() {
        const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
        const lines = text.split("\n").filter((l) => l.startsWith("satellites_proxy_bytes_total{") && l.includes('direction="upstream"'));
        return lines.reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
      },
      async earthly(args, o = {}) {
        const home = o.home ?? mkdtempSync(path.join(work, "home-"));
        mkdirSync(path.join(home, ".earthly"), { recursive: true });
        const cfg = path.join(home, ".earthly/config.yml");
        if (!existsSync(cfg)) {
          writeFileSync(cfg, `global:\n  disable_analytics: true\n  disable_log_sharing: true\n  tls_enabled: ${certs ? "true" : "false"}\n`);
        }
        const env: Record<string, string> = {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: home,
          EARTHLY_SERVER_ADDRESS: restUrl,
          EARTHLY_GRPC_ADDRESS: `127.0.0.1:${apiPort}`,
          EARTHLY_GRPC_INSECURE: certs ? "false" : "true",
          EARTHLY_TOKEN: first.apiToken,
          EARTHLY_ORG: org.slug,
          NO_COLOR: "1",
          ...(certs ? { SSL_CERT_FILE: certs.ca } : {}),
          ...o.env,
        };
        const started = performance.now();
        const child = spawn(earthlyBin, args, { cwd: o.cwd ?? home, env, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        const lines: CliResult["lines"] = [];
        // A line is stamped when its end arrives; stdout and stderr each keep their unfinished line.
        const reader = () => {
          let partial = "";
          return (c: Buffer) => {
            const ms = performance.now() - started;
            out += c.toString();
            const parts = (partial + c.toString()).split("\n");
            partial = parts.pop() ?? "";
            for (const text of parts) if (text.trim()) lines.push({ ms, text });
          };
        };
        child.stdout.on("data", reader());
        child.stderr.on("data", reader());
        const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 120_000);
        const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
        clearTimeout(timer);
        return { code, out, lines };
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** A project folder with an Earthfile that needs no registry: FROM scratch, a 50 MB file and
 *  small ones copied in, a RUN with Debian's static busybox, artifacts saved locally. */
export function earthlyProject(dir: string, big: Buffer, opts: { sleepSeconds?: number } = {}): void {
  mkdirSync(path.join(dir, "files"), { recursive: true });
  copyFileSync("/usr/bin/busybox", path.join(dir, "busybox"));
  writeFileSync(path.join(dir, "files/big.bin"), big);
  for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `files/small-${i}.txt`), `small file ${i}\n`);
  const sleep = opts.sleepSeconds ? `    RUN sleep ${opts.sleepSeconds}\n` : "";
  writeFileSync(
    path.join(dir, "Earthfile"),
    `VERSION 0.8
build:
    FROM scratch
    COPY busybox /bin/busybox
    COPY busybox /bin/sh
    COPY files /data
${sleep}    RUN sha256sum /data/big.bin /data/small-0.txt > /data/sums.txt && n=$(ls -l /data | wc -l) && echo $n > /data/count.txt
    SAVE ARTIFACT /data AS LOCAL out
`,
  );
}
