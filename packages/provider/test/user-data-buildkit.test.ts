// The EC2 user-data's buildkitd.toml and CNI config, run by the real daemons an image would carry
// (moby BuildKit and Earthly's fork): the script writes them into a scratch root, the daemon starts
// with them (paths moved into that root, loopback instead of 0.0.0.0, no systemd slice here), and a
// RUN step shows it has a network of its own on the configured subnet — the instance's loopback
// (and with it the metadata service's one-hop reach) out of range — and the daemon reports the
// cache budget from the disk limit.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { defaultLimits } from "@satellites/catalog";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { carriesLabel, waitHealthy } from "@satellites/backend/probe";
import { bridgeNetwork } from "../src/buildkit-network.ts";
import { LIMITS_LABEL, limitsLabel } from "../src/limits-label.ts";
import { BUILDKITD_TOML_PATH, CNI_BIN_PATH, CNI_CONFLIST_PATH, CNI_PLUGINS, renderLimitsScript, RUNC_WRAPPER_PATH, SLICE_NAME, type UserDataContext } from "../src/user-data.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const GiB = 1024 ** 3;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const flavors = [
  { name: "moby BuildKit", peer: ["buildkit", "buildkitd"] as const },
  { name: "Earthly's BuildKit fork", peer: ["earthly-buildkit", "buildkitd"] as const },
];

describe.runIf(isRoot).each(flavors)("an EC2 satellite's buildkitd configuration, run by $name", ({ peer }) => {
  const subnet = "10.10.7.0/24";
  const limits = { ...defaultLimits("small"), diskGiB: 23 };
  let dir: string;
  let port: number;
  let daemon: ChildProcess | undefined;
  let buildctl: string;
  const scratchGroup = `satellites-test-ec2-${process.pid}-${peer[0]}`;

  beforeAll(async () => {
    const buildkitd = requirePeer(peer[0], peer[1]);
    buildctl = requirePeer("buildkit", "buildctl");
    dir = mkdtempSync(join(tmpdir(), "ec2-bk-"));
    port = await freePort();
    const ctx: UserDataContext = { size: "small", platform: "amd64", satellitePort: port, stepNetwork: { mode: "bridge", subnet } };
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "systemctl"), "#!/bin/sh\n");
    chmodSync(join(bin, "systemctl"), 0o755);
    const root = join(dir, "root");
    const network = bridgeNetwork();
    const cniBinDir = network.mode === "bridge" ? network.cniBinDir : CNI_BIN_PATH;
    // The image's CNI plugins, which the script checks for: this host's.
    mkdirSync(join(root, CNI_BIN_PATH), { recursive: true });
    for (const p of CNI_PLUGINS) symlinkSync(join(cniBinDir, p), join(root, CNI_BIN_PATH, p));
    execFileSync("sh", ["-c", renderLimitsScript(limits, ctx)], { env: { ...process.env, SATELLITE_ROOT: root, SATELLITE_SETTLE_SECONDS: "0", PATH: `${bin}:${process.env.PATH ?? ""}` } });
    // The image's places, moved into the scratch root; everything else as rendered.
    const toml = readFileSync(join(root, BUILDKITD_TOML_PATH), "utf8")
      .replace(`tcp://0.0.0.0:${port}`, `tcp://127.0.0.1:${port}`)
      .replace(`"${CNI_CONFLIST_PATH}"`, JSON.stringify(join(root, CNI_CONFLIST_PATH)))
      .replace(`"${CNI_BIN_PATH}"`, JSON.stringify(cniBinDir))
      .replace(`"/${SLICE_NAME}"`, JSON.stringify(`/${scratchGroup}`))
      .replace(`"${RUNC_WRAPPER_PATH}"`, JSON.stringify(join(root, RUNC_WRAPPER_PATH)));
    writeFileSync(join(dir, "buildkitd.toml"), toml);
    // The wrapper as written, its slice a scratch group of this host's (no systemd here).
    const wrapper = join(root, RUNC_WRAPPER_PATH);
    writeFileSync(wrapper, readFileSync(wrapper, "utf8").replaceAll(`/${SLICE_NAME}/buildkit`, `/${scratchGroup}/buildkit`));
    daemon = spawn(buildkitd, ["--config", join(dir, "buildkitd.toml"), "--root", join(dir, "state")], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    daemon.stderr!.on("data", (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await run(buildctl, ["--addr", `tcp://127.0.0.1:${port}`, "debug", "workers"]).then(() => true, () => false);
      if (ok) break;
      if (Date.now() > deadline || daemon.exitCode !== null) throw new Error(`buildkitd did not come up with the rendered configuration:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    mkdirSync(join(dir, "ctx"));
    copyFileSync("/usr/bin/busybox", join(dir, "ctx", "busybox"));
  }, 60_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill("SIGTERM");
      await new Promise((r) => daemon!.once("exit", r));
    }
    await run("ip", ["link", "del", "satbk0"]).catch(() => {});
    // runc made the group in every hierarchy (v1) or once (v2).
    for (const h of ["", ...readdirSync("/sys/fs/cgroup").map((d) => `${d}/`)]) {
      for (const d of [`${scratchGroup}/buildkit`, scratchGroup]) await run("rmdir", [`/sys/fs/cgroup/${h}${d}`]).catch(() => {});
    }
    rmSync("/var/lib/cni/networks/satbk0", { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  // A woken EC2 daemon may still run the previous boot's files: the wake waits for the one that
  // carries the label of the limits it was given (carriesLabel, through the daemon's ListWorkers).
  it("says which limits it runs with: its worker carries their label, and a wake for other limits waits", async () => {
    const address = `127.0.0.1:${port}`;
    expect(await carriesLabel(address, { timeoutMs: 5000 }, { key: LIMITS_LABEL, value: limitsLabel(limits, "small") })).toBe(true);
    expect(await carriesLabel(address, { timeoutMs: 5000 }, { key: LIMITS_LABEL, value: limitsLabel({ ...limits, cpuPercent: 60 }, "small") })).toBe(false);
    expect(await waitHealthy(address, { totalMs: 1500, workerLabel: { key: LIMITS_LABEL, value: limitsLabel({ ...limits, cpuPercent: 60 }, "small") } })).toBe(false);
    expect(await waitHealthy(address, { totalMs: 5000, workerLabel: { key: LIMITS_LABEL, value: limitsLabel(limits, "small") } })).toBe(true);
  });

  it("keeps the cache within the disk limit", async () => {
    const { stdout } = await run(buildctl, ["--addr", `tcp://127.0.0.1:${port}`, "debug", "workers", "--verbose"]);
    // moby caps the cache by "Maximum used space", the fork by what it calls "Reserved space"
    // (its keep-storage): the largest of them is the budget, 23 GiB, printed in GB.
    const sizes = [...stdout.matchAll(/(?:Maximum used space|Reserved space):\s*([\d.]+)GB/g)].map((m) => Number(m[1]));
    expect(sizes.length, stdout).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeCloseTo((23 * GiB) / 1e9, 6);
  });

  // BuildKit takes a client's cgroup parent (`--opt cgroup-parent=/`, buildx's --cgroup-parent)
  // over its configured default, and no entitlement gates it: on EC2 such a step ran in
  // /buildkit/<id>, outside the slice's CPU, memory and process caps, and with the daemon's OOM
  // score (which the tenant sets), so a memory-limit kill could hang the daemon with its step.
  it("keeps every RUN step under the satellite's slice, whatever cgroup parent the client asks for, and more killable than the daemon", async () => {
    const step = 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox cat /proc/self/cgroup > /cgroup.txt; /bin/busybox cat /proc/self/oom_score_adj > /oom.txt"]';
    const df = join(dir, "df-cgroup");
    mkdirSync(df, { recursive: true });
    for (const parent of [undefined, "/", "/escape"]) {
      writeFileSync(join(df, "Dockerfile"), ["FROM scratch", "COPY busybox /bin/busybox", step, `RUN ["/bin/busybox", "echo", "${parent ?? "default"}"]`].join("\n"));
      const out = join(dir, "out-cgroup");
      await run(buildctl, [
        "--addr", `tcp://127.0.0.1:${port}`, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
        "--local", `context=${join(dir, "ctx")}`, "--local", `dockerfile=${df}`, "--output", `type=local,dest=${out}`,
        ...(parent ? ["--opt", `cgroup-parent=${parent}`] : []),
      ]);
      const lines = readFileSync(join(out, "cgroup.txt"), "utf8").trim().split("\n");
      // cgroup v2's one line, or v1's memory and cpu lines.
      const groups = lines.filter((l) => l.startsWith("0::") || /:(.*,)?(memory|cpu)(,.*)?:/.test(l));
      expect(groups.length, lines.join("\n")).toBeGreaterThan(0);
      for (const line of groups) expect(line, `cgroup-parent=${parent ?? "default"}`).toMatch(new RegExp(`:/${scratchGroup}/buildkit/[a-z0-9]+$`));
      expect(Number(readFileSync(join(out, "oom.txt"), "utf8"))).toBeGreaterThanOrEqual(500);
    }
  }, 120_000);

  it("runs each RUN step on the satellite's bridge: it reaches what the instance serves to its network, not its loopback", async () => {
    const servers = await Promise.all(["127.0.0.1", "0.0.0.0"].map(async (host) => {
      const server = http2.createServer();
      await new Promise<void>((r) => server.listen(0, host, () => r()));
      return { server, port: (server.address() as { port: number }).port };
    }));
    const [loopback, everywhere] = servers as [(typeof servers)[0], (typeof servers)[0]];
    const bb = "/bin/busybox";
    const probe = (host: string, p: number, file: string) =>
      `printf 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n' | ${bb} nc -w 2 ${host} ${p} | ${bb} od -An -tx1 | ${bb} head -n 2 > ${file}; echo end >> ${file}`;
    const gateway = `$(${bb} ip route | ${bb} awk '/^default/ {print $3}')`;
    const script = [
      probe("127.0.0.1", loopback.port, "/loopback.txt"),
      probe(gateway, loopback.port, "/loopback-via-gateway.txt"),
      probe(gateway, everywhere.port, "/public.txt"),
      `${bb} ip -4 -o addr show | ${bb} grep -v ' lo ' > /addr.txt 2>&1; true`,
    ].join("; ");
    const df = join(dir, "df");
    mkdirSync(df, { recursive: true });
    writeFileSync(join(df, "Dockerfile"), ["FROM scratch", "COPY busybox /bin/busybox", `RUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(script)}]`].join("\n"));
    const out = join(dir, "out");
    try {
      await run(buildctl, [
        "--addr", `tcp://127.0.0.1:${port}`, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
        "--local", `context=${join(dir, "ctx")}`, "--local", `dockerfile=${df}`, "--output", `type=local,dest=${out}`,
      ]);
    } finally {
      for (const { server } of servers) server.close();
    }
    const reply = (f: string) => readFileSync(join(out, f), "utf8").replace(/\s+/g, " ").trim();
    expect(reply("addr.txt")).toMatch(/inet 10\.10\.7\.\d+\/24/);
    expect(reply("public.txt")).toMatch(/^00 00 [0-9a-f]{2} 04/);
    expect(reply("loopback.txt")).toBe("end");
    expect(reply("loopback-via-gateway.txt")).toBe("end");
  }, 90_000);
});
