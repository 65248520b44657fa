// Local satellites running real BuildKit (moby v0.24 buildkitd, OCI worker, Debian's runc):
// ready over mutual TLS, build steps inside the satellite's cgroup (limits, OOM, freezer), and
// no connection without a client certificate from the control plane's CA. Builds are
// `FROM scratch` with Debian's static busybox copied in for RUN (no registry is reachable).
import { execFile, spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeBuildkit, probeHealth, waitHealthy } from "@satellites/backend";
import type { Limits } from "@satellites/catalog";
import { CertificateAuthority, type TlsMaterial } from "@satellites/pki";
import { terminateAll } from "@satellites/testing/local";
import { requirePeer } from "@satellites/testing/peers";
import { satelliteBridge } from "../src/buildkit-network.ts";
import { bridgeNetwork, createLocalProvider, type LocalProvider } from "../src/local.ts";
import type { LocalState } from "../src/local-state.ts";
import { PermanentProviderError, type LaunchSpec } from "../src/types.ts";

const run = promisify(execFile);
/** Processes one satellite may have (LOCAL_SATELLITE_PIDS_MAX), small here for the fork test. */
const PIDS_MAX = 300;
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const limits = (over: Partial<Limits> = {}): Limits => ({
  cpuPercent: 90,
  memoryMiB: 256,
  swapMiB: 0,
  diskGiB: 5,
  oomScoreAdj: 300,
  idleTimeoutSeconds: 60,
  ...over,
});

const spec = (satelliteId: string, over: Partial<LaunchSpec> = {}): LaunchSpec => ({
  satelliteId,
  orgId: "org-1",
  name: satelliteId,
  platform: "amd64",
  size: "small",
  limits: limits(),
  hibernate: true,
  ...over,
});

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms`);
    await sleep(50);
  }
}

describe.runIf(isRoot)("local satellites running BuildKit", () => {
  const cgroupParent = `satellites-test-bk-${process.pid}`;
  let base: string;
  let provider: LocalProvider;
  let ca: CertificateAuthority;
  let client: TlsMaterial;
  let clientFiles: { ca: string; cert: string; key: string };
  let creds: grpc.ChannelCredentials;
  let buildctl: string;
  let context: string;

  beforeAll(async () => {
    const buildkitd = requirePeer("buildkit", "buildkitd");
    buildctl = requirePeer("buildkit", "buildctl");
    base = await mkdtemp(join(tmpdir(), "bk-"));
    ca = (await CertificateAuthority.create("test CA")).ca;
    client = await ca.issueClient("test proxy");
    clientFiles = { ca: join(base, "ca.pem"), cert: join(base, "client.pem"), key: join(base, "client-key.pem") };
    await writeFile(clientFiles.ca, client.caPem);
    await writeFile(clientFiles.cert, client.certPem);
    await writeFile(clientFiles.key, client.keyPem);
    creds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(client.keyPem), Buffer.from(client.certPem));
    provider = createLocalProvider({ dataDir: join(base, "data"), cgroupParent, daemon: { kind: "buildkit", buildkitd, network: bridgeNetwork() }, ca, stopGraceMs: 5000, pidsMax: PIDS_MAX });
    context = join(base, "ctx");
    await mkdir(context);
    await copyFile("/usr/bin/busybox", join(context, "busybox"));
  }, 60_000);

  afterAll(async () => {
    try {
      if (provider) await terminateAll(provider);
    } finally {
        for (const h of ["cpu", "memory", "freezer", "pids"]) await run("rmdir", [`/sys/fs/cgroup/${h}/${cgroupParent}`]).catch(() => {});
      if (base) await rm(base, { recursive: true, force: true });
    }
  }, 60_000);

  const state = async (id: string): Promise<LocalState> => JSON.parse(await readFile(join(base, "data", id, "state.json"), "utf8")) as LocalState;

  /** Builds `dockerfile` with buildctl over mutual TLS; resolves with its exit code and output. */
  function build(upstream: string, dockerfile: string, out: string, signal?: AbortSignal, extra: string[] = []): Promise<{ code: number | null; output: string }> {
    return (async () => {
      const dir = await mkdtemp(join(base, "df-"));
      await writeFile(join(dir, "Dockerfile"), dockerfile);
      const args = [
        "--addr", `tcp://${upstream}`,
        "--tlscacert", clientFiles.ca, "--tlscert", clientFiles.cert, "--tlskey", clientFiles.key,
        "build", "--progress", "plain", "--frontend", "dockerfile.v0",
        "--local", `context=${context}`, "--local", `dockerfile=${dir}`,
        "--output", `type=local,dest=${out}`,
        ...extra,
      ];
      return new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(buildctl, args, { signal });
        let output = "";
        child.stdout.on("data", (d: Buffer) => (output += d.toString()));
        child.stderr.on("data", (d: Buffer) => (output += d.toString()));
        child.on("error", () => undefined);
        child.on("close", (code) => resolve({ code, output }));
      });
    })();
  }

  let id: string;
  let upstream: string;

  it("launches buildkitd in the satellite's cgroup, ready over mutual TLS only", async () => {
    const launched = await provider.launch(spec("sat-bk-1"));
    id = launched.instanceId;
    expect(launched.limitsEnforced).toBe(true);
    const info = await provider.describe(id);
    upstream = info.upstream!;
    expect(await waitHealthy(upstream, { totalMs: 30_000, credentials: creds })).toBe(true);
    // BuildKit's own readiness answers too (what the probe falls back to on daemons without health).
    expect(await probeBuildkit(upstream, { timeoutMs: 5000, credentials: creds })).toBe("SERVING");
    // A plain client, or TLS without a client certificate from the CA, is refused at the handshake.
    expect(await probeHealth(upstream, { timeoutMs: 3000 })).toBe("UNREACHABLE");
    const noCert = grpc.credentials.createSsl(Buffer.from(client.caPem));
    expect(await probeHealth(upstream, { timeoutMs: 3000, credentials: noCert })).toBe("UNREACHABLE");
    const stranger = (await CertificateAuthority.create("stranger")).ca;
    const foreign = await stranger.issueClient("intruder");
    const foreignCreds = grpc.credentials.createSsl(Buffer.from(client.caPem), Buffer.from(foreign.keyPem), Buffer.from(foreign.certPem));
    expect(await probeHealth(upstream, { timeoutMs: 3000, credentials: foreignCreds })).toBe("UNREACHABLE");
    // Its own root and config under the satellite's directory; the disk limit is the GC budget.
    const s = await state(id);
    const dir = join(base, "data", id);
    expect(s.command).toContain(`--root ${dir}/buildkit`);
    expect(s.command).toContain("--oci-worker-gc-keepstorage 0,0,5368");
    expect(await readFile(join(dir, "buildkitd.toml"), "utf8")).toContain(`defaultCgroupParent = "/${cgroupParent}/${id}"`);
  }, 60_000);

  it("runs a RUN step inside the satellite's cgroup", async () => {
    const out = join(base, "out-cgroup");
    const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/self/cgroup > /cgroup.txt"]'].join("\n"), out);
    expect(r.code, r.output).toBe(0);
    const lines = (await readFile(join(out, "cgroup.txt"), "utf8")).split("\n");
    for (const h of ["cpu", "memory", "freezer"]) {
      const line = lines.find((l) => l.split(":")[1]?.split(",").includes(h));
      expect(line, `${h} line`).toMatch(new RegExp(`:/${cgroupParent}/${id}/buildkit/[a-z0-9]+$`));
    }
  }, 60_000);

  // BuildKit takes the client's cgroup-parent (`--opt cgroup-parent=…`, buildx's --cgroup-parent)
  // over the configured default, and no entitlement gates it: a step asked for `/` ran at the
  // host's top, outside every limit, its freezer and the delete's sweep. A build step is also
  // more killable than its daemon (the tenant sets the daemon's score; steps inherited it).
  it("keeps a RUN step inside the satellite's cgroup whatever parent the client asks for, and more killable than the daemon", async () => {
    const out = join(base, "out-escape");
    const step = 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/self/cgroup > /cgroup.txt; /bin/busybox cat /proc/self/oom_score_adj > /oom.txt"]';
    for (const parent of ["/", "/escape", "../../.."]) {
      const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", `${step}`, `RUN ["/bin/busybox", "echo", "${parent}"]`].join("\n"), out, undefined, ["--opt", `cgroup-parent=${parent}`]);
      expect(r.code, r.output).toBe(0);
      const lines = (await readFile(join(out, "cgroup.txt"), "utf8")).split("\n");
      for (const h of ["cpu", "memory", "freezer"]) {
        const line = lines.find((l) => l.split(":")[1]?.split(",").includes(h));
        expect(line, `${h} line, cgroup-parent=${parent}`).toMatch(new RegExp(`:/${cgroupParent}/${id}/buildkit/[a-z0-9]+$`));
      }
      expect(Number(await readFile(join(out, "oom.txt"), "utf8"))).toBeGreaterThanOrEqual(500);
    }
  }, 120_000);

  // Nothing capped a satellite's processes: a fork bomb in a RUN step took the host's PIDs (32,768
  // by default), and every other tenant's builds, Postgres, the proxy and the jobs could not fork.
  it("caps the satellite's processes: a RUN step forking past the cap fails; the daemon and the next build carry on", async () => {
    const bomb = 'RUN ["/bin/busybox", "sh", "-c", "i=0; while [ $i -lt 600 ]; do /bin/busybox sleep 30 & [ $? -eq 0 ] || exit 7; i=$((i+1)); done; echo all 600 started"]';
    const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", bomb].join("\n"), join(base, "out-pids"));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/can't fork|Resource temporarily unavailable/i);
    const pidsMax = (await run("sh", ["-c", `cat /sys/fs/cgroup/pids/${cgroupParent}/${id}/pids.max 2>/dev/null || cat /sys/fs/cgroup/${cgroupParent}/${id}/pids.max`])).stdout.trim();
    expect(pidsMax).toBe(String(PIDS_MAX));
    expect(await probeHealth(upstream, { timeoutMs: 5000, credentials: creds })).toBe("SERVING");
    const ok = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", 'RUN ["/bin/busybox", "touch", "/after-pids"]'].join("\n"), join(base, "out-after-pids"));
    expect(ok.code, ok.output).toBe(0);
  }, 120_000);

  it("OOM-kills a RUN step that allocates past the memory limit; the daemon survives and the build reports it", async () => {
    // dd fills a 400 MiB buffer, against a 256 MiB limit with no swap.
    const hog = 'RUN ["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=400M", "count=1"]';
    const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", hog].join("\n"), join(base, "out-oom"));
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/exit code: 137|signal: killed|OOM/i);
    const s = await state(id);
    expect(await probeHealth(upstream, { timeoutMs: 5000, credentials: creds })).toBe("SERVING");
    expect((await run("cat", [`/proc/${s.pid}/stat`])).stdout).not.toMatch(/^\d+ \(.*\) [ZX]/);
    const ok = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", 'RUN ["/bin/busybox", "touch", "/after"]'].join("\n"), join(base, "out-after"));
    expect(ok.code, ok.output).toBe(0);
  }, 90_000);

  it("freezes a running RUN step when the satellite hibernates, and it carries on after the wake", async () => {
    const out = join(base, "out-sleep");
    const running = build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox sleep 3; /bin/busybox touch /slept"]'].join("\n"), out);
    const steps = join("/sys/fs/cgroup/freezer", cgroupParent, id, "buildkit");
    const stepDir = async () => (await readdir(steps, { withFileTypes: true }).catch(() => [])).find((e) => e.isDirectory())?.name;
    await until(async () => (await stepDir()) !== undefined, 20_000, "a RUN step container");
    const step = (await stepDir())!;
    await provider.stop(id, { hibernate: true });
    expect((await readFile(join(steps, step, "freezer.state"), "utf8")).trim()).toBe("FROZEN");
    const pids = (await readFile(join(steps, step, "cgroup.procs"), "utf8")).trim().split("\n").filter(Boolean);
    expect(pids.length).toBeGreaterThan(0);
    // Frozen past the step's own 3 s: it cannot finish while the satellite sleeps.
    await sleep(4000);
    expect(await readFile(join(steps, step, "freezer.state"), "utf8").then((s) => s.trim())).toBe("FROZEN");
    await provider.start(id);
    const r = await running;
    expect(r.code, r.output).toBe(0);
    expect(await readFile(join(out, "slept"), "utf8")).toBe("");
  }, 90_000);

  it("a RUN step has a network of its own: it reaches neither another tenant's satellite nor the host's loopback services; the control plane reaches both", async () => {
    const other = await provider.launch(spec("sat-bk-other", { orgId: "org-2" }));
    const otherUpstream = (await provider.describe(other.instanceId)).upstream!;
    expect(await waitHealthy(otherUpstream, { totalMs: 30_000, credentials: creds })).toBe(true);
    const port = otherUpstream.split(":")[1]!;
    // Plaintext HTTP/2 servers on the host: one on loopback only, as the control plane's Redis and
    // Postgres are (a step that reached them would own every tenant); one on every address, as
    // the proxy's public port is (the control: the step's network works).
    const servers = await Promise.all(["127.0.0.1", "0.0.0.0"].map(async (host) => {
      const server = http2.createServer();
      await new Promise<void>((r) => server.listen(0, host, () => r()));
      return { server, port: (server.address() as { port: number }).port };
    }));
    const [loopback, everywhere] = servers as [(typeof servers)[0], (typeof servers)[0]];
    // From inside org-1's build: an HTTP/2 preface (what any gRPC call starts with) to each, and
    // the first bytes that come back.
    const probe = (host: string, p: string | number, file: string) =>
      `printf 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' | /bin/busybox nc -w 2 ${host} ${p} | /bin/busybox od -An -tx1 | /bin/busybox head -n 2 > ${file}; echo end >> ${file}`;
    const gateway = "$(/bin/busybox ip route | /bin/busybox awk '/^default/ {print $3}')";
    const script = [
      probe("127.0.0.1", port, "/sealed.txt"),
      probe("127.0.0.1", loopback.port, "/loopback.txt"),
      probe(gateway, loopback.port, "/loopback-via-gateway.txt"),
      probe(gateway, everywhere.port, "/public.txt"),
      "/bin/busybox ip -4 addr show eth0 > /addr.txt 2>&1; true",
    ].join("; ");
    const out = join(base, "out-isolation");
    const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", `RUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(script)}]`].join("\n"), out);
    for (const { server } of servers) server.close();
    expect(r.code, r.output).toBe(0);
    const reply = async (f: string) => (await readFile(join(out, f), "utf8")).replace(/\s+/g, " ").trim();
    const settings = /^00 00 [0-9a-f]{2} 04/;
    // The step's own network, on the satellite's bridge: it reaches what the host serves to all…
    expect(await reply("addr.txt")).toMatch(/inet 10\.\d+\.\d+\.\d+\/24/);
    expect(await reply("public.txt")).toMatch(settings);
    // …and nothing bound to the host's loopback, by either address.
    expect(await reply("loopback.txt")).toBe("end");
    expect(await reply("loopback-via-gateway.txt")).toBe("end");
    // Another tenant's satellite never answers.
    expect(await reply("sealed.txt")).toBe("end");
    // The control plane's certificate still reaches both.
    expect(await probeHealth(upstream, { timeoutMs: 5000, credentials: creds })).toBe("SERVING");
    expect(await probeHealth(otherUpstream, { timeoutMs: 5000, credentials: creds })).toBe("SERVING");
    await provider.terminate(other.instanceId);
  }, 90_000);

  // BuildKit lets a build ask for the host's network (`RUN --network=host`, entitlement
  // network.host); granted, a step would be on the host's loopback with the control plane's
  // Redis and Postgres and every satellite. The daemon grants no entitlement a client asks for.
  it("a build asking for the host's network is refused, whatever the client allows", async () => {
    const out = join(base, "out-host-network");
    const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", 'RUN --network=host ["/bin/busybox", "sh", "-c", "/bin/busybox ip -4 addr > /addr.txt"]'].join("\n"), out, undefined, ["--allow", "network.host", "--allow", "security.insecure"]);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/network\.host is not allowed/);
  }, 60_000);

  // On a cloud VM the instance metadata service (169.254.169.254) hands out the host's
  // credentials to whoever asks; a step's NAT out through the host reached it. The address is
  // put on the host's loopback for the test (a local address, as the metadata service is one
  // hop away: both are dropped before routing).
  it("a RUN step reaches no link-local address (the cloud's instance metadata service); the host does", async () => {
    const metadata = "169.254.169.254";
    await run("ip", ["addr", "add", `${metadata}/32`, "dev", "lo"]).catch(() => undefined);
    const server = http2.createServer();
    await new Promise<void>((r) => server.listen(0, metadata, () => r()));
    const mport = (server.address() as { port: number }).port;
    try {
      const fromHost = await new Promise<boolean>((resolve) => {
        const c = createConnection(mport, metadata, () => {
          c.destroy();
          resolve(true);
        });
        c.on("error", () => resolve(false));
      });
      expect(fromHost).toBe(true);
      const script = `printf 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' | /bin/busybox nc -w 2 ${metadata} ${mport} | /bin/busybox od -An -tx1 | /bin/busybox head -n 2 > /metadata.txt; echo end >> /metadata.txt`;
      const out = join(base, "out-metadata");
      const r = await build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", `RUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(script)}]`].join("\n"), out);
      expect(r.code, r.output).toBe(0);
      expect((await readFile(join(out, "metadata.txt"), "utf8")).replace(/\s+/g, " ").trim()).toBe("end");
    } finally {
      server.close();
      await run("ip", ["addr", "del", `${metadata}/32`, "dev", "lo"]).catch(() => undefined);
    }
  }, 90_000);

  it("a RUN step of one satellite cannot reach a step of another (each satellite its own bridge); the host can", async () => {
    const other = await provider.launch(spec("sat-bk-neighbour", { orgId: "org-2" }));
    const otherUpstream = (await provider.describe(other.instanceId)).upstream!;
    expect(await waitHealthy(otherUpstream, { totalMs: 30_000, credentials: creds })).toBe(true);
    // Org-1's step tells the test its address (through its gateway, the host), then listens for 20 s.
    let announced: (ip: string) => void = () => {};
    const stepIp = new Promise<string>((resolve) => (announced = resolve));
    const mailbox = createServer((socket) => {
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString()));
      socket.on("end", () => announced(text.trim()));
    });
    await new Promise<void>((r) => mailbox.listen(0, "0.0.0.0", () => r()));
    const mailboxPort = (mailbox.address() as { port: number }).port;
    const bb = "/bin/busybox";
    const listen = [
      `ip=$(${bb} ip -4 -o addr show | ${bb} awk '$2 != "lo" {print $4}' | ${bb} cut -d/ -f1)`,
      `gw=$(${bb} ip route | ${bb} awk '/^default/ {print $3}')`,
      `echo $ip | ${bb} nc -w 2 $gw ${mailboxPort}`,
      `${bb} timeout 20 ${bb} nc -l -p 7000 > /got.txt 2>&1; true`,
    ].join("; ");
    const listenerOut = join(base, "out-listener");
    const listening = build(upstream, ["FROM scratch", "COPY busybox /bin/busybox", `RUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(listen)}]`].join("\n"), listenerOut);
    try {
      const ip = await Promise.race([stepIp, sleep(30_000).then(() => "")]);
      expect(ip).toMatch(new RegExp(`^${satelliteBridge(Number(upstream.split(":")[1])).subnet.replace(/\.0\/24$/, "").replaceAll(".", "\\.")}\\.\\d+$`));
      await sleep(500); // nc listens once the step's shell has started it
      // Org-2's step, on its own satellite's bridge, tries it.
      const out = join(base, "out-neighbour");
      const r = await build(otherUpstream, ["FROM scratch", "COPY busybox /bin/busybox", `RUN ["/bin/busybox", "sh", "-c", "echo from-neighbour | /bin/busybox nc -w 3 ${ip} 7000 > /try.txt 2>&1; echo rc=$? >> /try.txt"]`].join("\n"), out);
      expect(r.code, r.output).toBe(0);
      expect(await readFile(join(out, "try.txt"), "utf8")).toMatch(/rc=1/);
      // The control: the host (the bridge's gateway) reaches the same listener.
      await new Promise<void>((resolve, reject) => {
        const socket = createConnection({ host: ip, port: 7000 }, () => socket.end("from-host\n", () => resolve()));
        socket.on("error", reject);
      });
      expect((await listening).code).toBe(0);
      expect(await readFile(join(listenerOut, "got.txt"), "utf8")).toBe("from-host\n");
    } finally {
      await listening;
      mailbox.close();
      await provider.terminate(other.instanceId);
    }
  }, 90_000);

  it("refuses to start a satellite whose steps' subnet the host already routes elsewhere, and leaves the host's route alone", async () => {
    // A second provider confined to one port, whose /24 an interface of the host (standing in for
    // a VPN or the LAN) already has. A bridge there would take that traffic from the host.
    const port = 23990;
    const { subnet } = satelliteBridge(port);
    const lan = `satlan${process.pid % 10_000}`;
    const hostAddress = subnet.replace(/\.0\/24$/, ".7/24");
    await run("ip", ["link", "add", lan, "type", "bridge"]);
    try {
      await run("ip", ["addr", "add", hostAddress, "dev", lan]);
      await run("ip", ["link", "set", lan, "up"]);
      const crowded = createLocalProvider({
        dataDir: join(base, "data-crowded"),
        cgroupParent,
        portRange: [port, port],
        daemon: { kind: "buildkit", buildkitd: requirePeer("buildkit", "buildkitd"), network: bridgeNetwork() },
        ca,
      });
      const err: unknown = await crowded.launch(spec("sat-bk-crowded")).then(() => undefined, (e: unknown) => e);
      await terminateAll(crowded);
      expect(err).toBeInstanceOf(PermanentProviderError);
      expect((err as PermanentProviderError).code).toBe("SubnetInUse");
      expect((err as Error).message).toContain(`subnet ${subnet} overlaps the host's route ${subnet} on ${lan}`);
      expect((err as Error).message).toContain("LOCAL_BUILDKIT_SUBNETS");
      const { stdout } = await run("ip", ["-4", "route", "show", subnet]);
      expect(stdout.trim().split("\n")).toEqual([expect.stringContaining(`dev ${lan}`)]);
    } finally {
      await run("ip", ["link", "del", lan]).catch(() => {});
    }
  }, 60_000);

  it("terminate removes the daemon, its steps' groups in every hierarchy, and its directory", async () => {
    const { pid } = await state(id);
    expect(pid).toBeGreaterThan(0);
    await provider.terminate(id);
    expect(() => process.kill(pid!, 0)).toThrow(/ESRCH/);
    await expect(readdir(join(base, "data", id))).rejects.toThrow(/ENOENT/);
    for (const h of ["cpu", "memory", "freezer", "pids", "devices"]) {
      await expect(readdir(join("/sys/fs/cgroup", h, cgroupParent, id))).rejects.toThrow(/ENOENT/);
    }
  }, 60_000);
});
