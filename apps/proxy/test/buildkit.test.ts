// Real builds through the proxy: an unmodified buildctl (behind a forwarder that adds the
// satellite metadata, as the Earthly CLI sends it), and a client on BuildKit's own Go library
// whose interceptor sends the metadata itself (peers/buildkit-client, no forwarder), against a
// local satellite running moby BuildKit over the proxy's mutual-TLS hop. COPY of a 50 MB random
// file, small files and a symlink, and a RUN step (busybox): outputs byte-identical direct and
// through the proxy.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFile, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testDb } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { goBuild } from "@satellites/testing/buildkit-client";
import { type ProxiedBuildkit, startProxiedBuildkit } from "./proxied-buildkit.ts";

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const db = testDb();
let base = "";
let bk: ProxiedBuildkit | undefined;
let buildctl = "";
let upstream = "";
let satelliteId = "";
let satellite = { name: "", org: "", token: "" };

beforeAll(async () => {
  if (!isRoot) return;
  buildctl = requirePeer("buildkit", "buildctl");
  base = await mkdtemp(join(tmpdir(), "bkproxy-"));
  bk = await startProxiedBuildkit({ label: "bkproxy", dataDir: join(base, "data"), cgroupParent: `satellites-test-bkproxy-${process.pid}` });
  ({ upstream, satelliteId, satellite } = bk);
  for (const [f, v] of [["ca.pem", bk.client.caPem], ["cert.pem", bk.client.certPem], ["key.pem", bk.client.keyPem]] as const) await writeFile(join(base, f), v);
  // The build context: 50 MB of random bytes, small files, a symlink, busybox for RUN.
  const ctx = join(base, "ctx");
  await mkdir(join(ctx, "small"), { recursive: true });
  await writeFile(join(ctx, "big.bin"), randomBytes(50 * 1024 * 1024));
  for (let i = 0; i < 20; i++) await writeFile(join(ctx, "small", `f${i}.txt`), randomBytes(100 + i * 37).toString("hex"), { mode: i % 2 ? 0o755 : 0o644 });
  await symlink("small/f1.txt", join(ctx, "link"));
  await copyFile("/usr/bin/busybox", join(ctx, "busybox"));
}, 120_000);

afterAll(async () => {
  await bk?.close();
  if (base) await rm(base, { recursive: true, force: true });
  await db.$disconnect();
}, 60_000);

/** Every file under `dir`: path → sha256 / mode / symlink target. */
async function tree(dir: string, prefix = ""): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = join(prefix, e.name);
    const st = await lstat(join(dir, rel));
    if (e.isSymbolicLink()) out[rel] = `link ${await readlink(join(dir, rel))}`;
    else if (e.isDirectory()) Object.assign(out, await tree(dir, rel));
    else out[rel] = `${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(await readFile(join(dir, rel))).digest("hex")}`;
  }
  return out;
}

async function build(addr: string, tls: boolean, dockerfile: string, out: string): Promise<void> {
  const df = await mkdtemp(join(base, "df-"));
  await writeFile(join(df, "Dockerfile"), dockerfile);
  const tlsArgs = tls ? ["--tlscacert", join(base, "ca.pem"), "--tlscert", join(base, "cert.pem"), "--tlskey", join(base, "key.pem"), "--tlsservername", "localhost"] : [];
  await run(buildctl, ["--addr", `tcp://${addr}`, ...tlsArgs, "build", "--frontend", "dockerfile.v0", "--local", `context=${join(base, "ctx")}`, "--local", `dockerfile=${df}`, "--output", `type=local,dest=${out}`], { maxBuffer: 64 << 20 });
}

const COPY = ["FROM scratch", "COPY . /"].join("\n");
const RUN = ["FROM scratch", "COPY busybox /bin/busybox", "COPY small /small", 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox sha256sum /small/* > /sums; /bin/busybox ln -s /sums /sums.link; /bin/busybox chmod 600 /sums"]'].join("\n");

it.runIf(isRoot)("COPY (50 MB random, small files, a symlink) and RUN outputs are identical direct and through the proxy", { timeout: 300_000 }, async () => {
  for (const [name, df] of [["copy", COPY], ["run", RUN]] as const) {
    const direct = join(base, `${name}-direct`);
    const proxied = join(base, `${name}-proxy`);
    await build(upstream, true, df, direct);
    await build(bk!.forwarderAddress, false, df, proxied);
    const a = await tree(direct);
    expect(Object.keys(a).length).toBeGreaterThan(name === "copy" ? 20 : 2);
    expect(await tree(proxied)).toEqual(a);
  }
  expect((await tree(join(base, "copy-direct")))["link"]).toBe("link small/f1.txt");
  expect((await tree(join(base, "run-proxy")))["sums"]).toMatch(/^600 /);

  // The two proxied builds are recorded (the direct ones never passed the proxy): succeeded,
  // with buildctl's session, and the copy build's bytes include its session's: the 50 MB local
  // export comes back through it (the context was synced by the direct build already).
  const rows = await expect
    .poll(async () => {
      const r = await db.build.findMany({ where: { satelliteId }, orderBy: { startedAt: "asc" } });
      return r.length === 2 && r.every((b) => b.endedAt !== null) ? r : [];
    }, { timeout: 10_000 })
    .toHaveLength(2)
    .then(() => db.build.findMany({ where: { satelliteId }, orderBy: { startedAt: "asc" } }));
  for (const b of rows) {
    expect(b.grpcCode).toBe(0);
    expect(b.sessionId).toMatch(/^\w+/);
    expect(b.client).toMatch(/^grpc-go /);
  }
  expect(Number(rows[0]!.bytesUp)).toBeGreaterThan(0);
  expect(Number(rows[0]!.bytesDown)).toBeGreaterThan(50 * 1024 * 1024);
});

it.runIf(isRoot)("BuildKit's Go client with the satellite metadata on every call (no forwarder): COPY and RUN identical direct and through the proxy; a wrong token builds nothing", { timeout: 300_000 }, async () => {
  const before = await db.build.count({ where: { satelliteId } });
  const tls = { ca: join(base, "ca.pem"), cert: join(base, "cert.pem"), key: join(base, "key.pem"), serverName: "localhost" };
  for (const [name, df] of [["copy", COPY], ["run", RUN]] as const) {
    const dockerfile = await mkdtemp(join(base, "df-"));
    await writeFile(join(dockerfile, "Dockerfile"), df);
    const direct = join(base, `go-${name}-direct`);
    const proxied = join(base, `go-${name}-proxy`);
    await goBuild({ addr: `tcp://${upstream}`, tls, context: join(base, "ctx"), dockerfile, output: direct });
    const timing = await goBuild({ addr: `tcp://127.0.0.1:${bk!.proxyPort}`, satellite, context: join(base, "ctx"), dockerfile, output: proxied });
    expect(timing.first_response_ms).toBeGreaterThan(0);
    expect(timing.first_response_ms).toBeLessThanOrEqual(timing.total_ms);
    const a = await tree(direct);
    expect(Object.keys(a).length).toBeGreaterThan(name === "copy" ? 20 : 2);
    expect(await tree(proxied)).toEqual(a);
  }
  expect((await tree(join(base, "go-copy-proxy")))["link"]).toBe("link small/f1.txt");
  expect((await tree(join(base, "go-run-proxy")))["sums.link"]).toBe("link /sums");

  // The Session stream the daemon calls back through carries the metadata too: the proxy records
  // the builds with their sessions, succeeded.
  await expect.poll(async () => db.build.count({ where: { satelliteId, endedAt: { not: null } } }), { timeout: 10_000 }).toBe(before + 2);
  for (const b of await db.build.findMany({ where: { satelliteId }, orderBy: { startedAt: "desc" }, take: 2 })) {
    expect(b.grpcCode).toBe(0);
    expect(b.sessionId).toMatch(/^\w+/);
  }

  const refused = goBuild({ addr: `tcp://127.0.0.1:${bk!.proxyPort}`, satellite: { ...satellite, token: `${satellite.token}x` }, context: join(base, "ctx"), output: join(base, "go-refused") });
  await expect(refused).rejects.toThrow(/unauthenticated/i);
  expect(await db.build.count({ where: { satelliteId } })).toBe(before + 2);
});
