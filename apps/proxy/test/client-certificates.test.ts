// Clients that speak mutual TLS and nothing else (issue 18): unmodified buildctl and docker buildx
// (remote driver) reach real buildkitd satellites through the proxy process with a client
// certificate bundle, running the Connect card's snippets verbatim. The certificate alone decides
// tenant and satellite: another satellite is never reached, whatever metadata is added; expired,
// revoked and foreign certificates are refused with nothing forwarded; revocation and expiry end
// an open build within 5 s.
import { X509Certificate } from "node:crypto";
import { mkdir } from "node:fs/promises";
import http2 from "node:http2";
import path from "node:path";
import { execFile as execFileCb } from "node:child_process";
import { promisify } from "node:util";
import { revokeClientCertificate, subjectUri } from "@satellites/client-certs";
import type { ClientBundle } from "@satellites/client-certs";
import type { Satellite } from "@satellites/db";
import { CertificateAuthority, satelliteServerName } from "@satellites/pki";
import { makeOrg } from "@satellites/testing";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildContext, certificateWorld, clientMachine, treeDigest, type CertificateWorld } from "./certificate-world.ts";
import { makeToken } from "./helpers.ts";
import { until } from "./processes.ts";

const execFile = promisify(execFileCb);
const isRoot = process.getuid?.() === 0;
const BIG = Buffer.alloc(50 * 1024 * 1024);
for (let i = 0; i < BIG.length; i += 4096) BIG.writeUInt32LE(i * 2654435761 >>> 0, i);

let w: CertificateWorld;
let x: Satellite;
let y: Satellite;
let z: Satellite;
let ctx: string;
let direct: Record<string, string>;
let xBundle: ClientBundle;
let zToken: string;

/** One gRPC call with node:http2 over TLS: status, message and response bytes. */
async function grpcCall(address: string, tls: { ca: string; cert?: string; key?: string; servername?: string }, method: string, metadata: Record<string, string> = {}) {
  const session = http2.connect(`https://${address}`, { ...tls, ...(tls.servername ? { servername: tls.servername } : {}) });
  try {
    return await new Promise<{ status: string; message: string; body: Buffer }>((resolve, reject) => {
      session.once("error", reject);
      const req = session.request({ ":method": "POST", ":path": method, "content-type": "application/grpc", te: "trailers", ...metadata });
      const chunks: Buffer[] = [];
      let status = "";
      let message = "";
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) [status, message] = [String(h["grpc-status"]), decodeURIComponent(String(h["grpc-message"] ?? ""))];
      };
      req.on("response", take);
      req.on("trailers", take);
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ status, message, body: Buffer.concat(chunks) }));
      req.on("error", reject);
      req.end(Buffer.alloc(5));
    });
  } finally {
    session.close();
  }
}

const LIST_WORKERS = "/moby.buildkit.v1.Control/ListWorkers";

/** The first worker's id in a ListWorkers answer (BuildKit's ids: 25 lowercase letters and digits). */
function workerId(body: Buffer): string {
  const id = /[a-z0-9]{25}/.exec(body.toString("latin1"))?.[0];
  if (!id) throw new Error("no worker id in the answer");
  return id;
}

/** ListWorkers straight at a satellite's address, as the proxy's hop does: its answer identifies the daemon. */
async function directWorkers(s: Satellite): Promise<Buffer> {
  const hop = await w.controlCa.issueClient("test hop");
  const r = await grpcCall(s.upstream!, { ca: hop.caPem, cert: hop.certPem, key: hop.keyPem, servername: satelliteServerName(s.id) }, LIST_WORKERS);
  expect(r.status).toBe("0");
  return r.body;
}

beforeAll(async () => {
  if (!isRoot) return;
  w = await certificateWorld({ satelliteEnv: { LOCAL_BUILDKITD: requirePeer("buildkit", "buildkitd") } });
  const orgA = await makeOrg(w.db, "certs-a");
  const orgB = await makeOrg(w.db, "certs-b");
  [x, y, z] = await Promise.all([w.launch(orgA.id, "sat-x"), w.launch(orgA.id, "sat-y"), w.launch(orgB.id, "sat-z")]);
  zToken = (await makeToken(w.db, orgB.id)).token;
  xBundle = (await w.issue(x, { name: "x" })).bundle;
  ctx = await buildContext(path.join(w.dir, "ctx"), BIG);
  // The reference: the same build straight at the satellite's buildkitd, over the hop's mutual TLS.
  const hop = await w.controlCa.issueClient("direct build");
  const hopDir = path.join(w.dir, "hop");
  await mkdir(hopDir);
  const { writeFile } = await import("node:fs/promises");
  await Promise.all([writeFile(path.join(hopDir, "ca.pem"), hop.caPem), writeFile(path.join(hopDir, "cert.pem"), hop.certPem), writeFile(path.join(hopDir, "key.pem"), hop.keyPem)]);
  const out = path.join(w.dir, "out-direct");
  await execFile(
    requirePeer("buildkit", "buildctl"),
    ["--addr", `tcp://${x.upstream}`, "--tlsservername", satelliteServerName(x.id), "--tlscacert", `${hopDir}/ca.pem`, "--tlscert", `${hopDir}/cert.pem`, "--tlskey", `${hopDir}/key.pem`, "build", "--frontend", "dockerfile.v0", "--local", `context=${ctx}`, "--local", `dockerfile=${ctx}`, "--output", `type=local,dest=${out}`],
    { maxBuffer: 64 << 20 },
  );
  direct = await treeDigest(out);
}, 300_000);

afterAll(async () => {
  await w?.close();
}, 180_000);

describe.runIf(isRoot)("a client certificate bundle and nothing else", () => {
  it("buildctl (the Connect card's lines, verbatim): output byte-identical to a direct build; the first build wakes the asleep satellite exactly once", { timeout: 300_000 }, async () => {
    expect(Object.keys(direct).sort()).toEqual(["bin/busybox", "data/big.bin", "data/sums.txt"]);
    await w.sleep(x.id);
    const wakesBefore = await w.db.satelliteEvent.count({ where: { satelliteId: x.id, from: "asleep", to: "starting" } });
    const m = await clientMachine(w.dir, w.address, x.name, xBundle, { buildctl: requirePeer("buildkit", "buildctl") });
    const r = await m.run(m.setups.buildctl, ctx);
    expect(r.code, r.out).toBe(0);
    expect(await treeDigest(path.join(ctx, "out"))).toEqual(direct);
    expect(await w.db.satelliteEvent.count({ where: { satelliteId: x.id, from: "asleep", to: "starting" } })).toBe(wakesBefore + 1);
    // The wake's actor is the certificate.
    const wake = await w.db.satelliteEvent.findFirstOrThrow({ where: { satelliteId: x.id, from: "asleep", to: "starting" }, orderBy: { id: "desc" } });
    const certId = (await w.db.clientCertificate.findFirstOrThrow({ where: { satelliteId: x.id, name: "x" } })).id;
    expect(wake.actor).toBe(`certificate:${certId}`);
    expect(wake.cause).toBe("request");
  });

  // buildx's remote driver dials TLS itself and offers no ALPN (driver/remote/driver.go).
  it("docker buildx, remote driver (the Connect card's lines, verbatim): output byte-identical to a direct build", { timeout: 300_000 }, async () => {
    const m = await clientMachine(w.dir, w.address, x.name, xBundle, {}, {});
    // The docker CLI finds buildx as its plugin in a private config dir.
    const dockerConfig = path.join(m.home, ".docker");
    await mkdir(path.join(dockerConfig, "cli-plugins"), { recursive: true });
    const { symlink } = await import("node:fs/promises");
    await symlink(requirePeer("buildx", "buildx"), path.join(dockerConfig, "cli-plugins", "docker-buildx"));
    m.env.DOCKER_CONFIG = dockerConfig;
    m.env.BUILDX_CONFIG = path.join(m.home, ".buildx");
    const buildxCtx = await buildContext(path.join(w.dir, "ctx-buildx"), BIG);
    const r = await m.run(m.setups.buildx, buildxCtx);
    expect(r.code, r.out).toBe(0);
    expect(await treeDigest(path.join(buildxCtx, "out"))).toEqual(direct);
  });
});

describe.runIf(isRoot)("the certificate alone decides tenant and satellite", () => {
  it("X's certificate reaches X, and only X: metadata naming Y (same org) or Z (another org, even with that org's token) is refused, nothing forwarded", async () => {
    const tls = { ca: xBundle.caPem, cert: xBundle.certPem, key: xBundle.keyPem };
    const mine = await grpcCall(w.address, tls, LIST_WORKERS);
    expect(mine.status).toBe("0");
    // A daemon's worker id tells them apart (the rest of the answer carries live disk figures).
    expect(workerId(mine.body)).toBe(workerId(await directWorkers(x)));
    expect(workerId(mine.body)).not.toBe(workerId(await directWorkers(y)));
    // Naming X itself is fine.
    expect((await grpcCall(w.address, tls, LIST_WORKERS, { satellite_name: x.name, satellite_org: x.orgId })).status).toBe("0");
    const before = await w.forwardedBytes();
    for (const metadata of <Array<Record<string, string>>>[
      { satellite_name: y.name, satellite_org: y.orgId },
      { satellite_name: y.name },
      { satellite_name: z.name, satellite_org: z.orgId },
      { satellite_name: z.name, satellite_org: z.orgId, satellite_token: zToken },
      { satellite_name: z.name, satellite_org: z.orgId, authorization: `Bearer ${zToken}` },
      { satellite_org: z.orgId },
    ]) {
      const r = await grpcCall(w.address, tls, LIST_WORKERS, metadata);
      expect(r.status, JSON.stringify(metadata)).toBe("7");
      expect(r.message).toMatch(/client certificate is for satellite "sat-x" only/);
    }
    expect(await w.forwardedBytes()).toBe(before);
  });

  it("expired, revoked and other-CA certificates are refused UNAUTHENTICATED — buildctl fails — and nothing is forwarded", { timeout: 120_000 }, async () => {
    const expired = (await w.issue(x, { name: "expired", notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })).bundle;
    const revokedCert = await w.issue(x, { name: "revoked" });
    await revokeClientCertificate(w.db, revokedCert.id);
    // Same subject, same shape, another CA.
    const stranger = (await CertificateAuthority.create("stranger")).ca;
    const forged = await stranger.issueClientFor({ commonName: "x", uris: [subjectUri({ orgId: x.orgId, satelliteId: x.id })], notAfter: new Date(Date.now() + 86_400_000) });
    const cases: Array<[string, ClientBundle, RegExp]> = [
      ["expired", expired, /expired/],
      ["revoked", revokedCert.bundle, /revoked/],
      ["other CA", { caPem: xBundle.caPem, certPem: forged.certPem, keyPem: forged.keyPem }, /not issued by this control plane/],
    ];
    const before = await w.forwardedBytes();
    for (const [what, bundle, reason] of cases) {
      const r = await grpcCall(w.address, { ca: bundle.caPem, cert: bundle.certPem, key: bundle.keyPem }, LIST_WORKERS);
      expect(r.status, what).toBe("16");
      expect(r.message, what).toMatch(reason);
      const m = await clientMachine(w.dir, w.address, x.name, bundle, { buildctl: requirePeer("buildkit", "buildctl") });
      const b = await m.run(m.setups.buildctl, ctx, 60_000);
      expect(b.code, what).not.toBe(0);
      expect(b.out, what).toMatch(/Unauthenticated|UNAUTHENTICATED/i);
    }
    expect(await w.forwardedBytes()).toBe(before);
  });

  it("a tenant's certificate does not open a satellite's own address (satellites trust the control-plane CA only)", async () => {
    const r = await grpcCall(x.upstream!, { ca: w.controlCa.certPem, cert: xBundle.certPem, key: xBundle.keyPem, servername: satelliteServerName(x.id) }, LIST_WORKERS).catch((err: Error) => ({ status: "refused", message: err.message, body: Buffer.alloc(0) }));
    expect(r.status).not.toBe("0");
    expect(r.body.length).toBe(0);
  });

  it("metadata clients share the port: a token over TLS without a certificate still works", async () => {
    const token = (await makeToken(w.db, x.orgId)).token;
    const r = await grpcCall(w.address, { ca: xBundle.caPem }, LIST_WORKERS, { satellite_name: x.name, satellite_org: x.orgId, satellite_token: token });
    expect(r.status).toBe("0");
    // The embedded server certificate is the control-plane CA's, naming the public address.
    expect(new X509Certificate(xBundle.caPem).subject).toMatch(/control plane CA/);
  });
});

describe.runIf(isRoot)("revocation and expiry end open builds", () => {
  async function longBuild(bundle: ClientBundle, name: string) {
    const long = await buildContext(path.join(w.dir, `ctx-${name}`), Buffer.from(name), { sleepSeconds: 120 });
    const m = await clientMachine(w.dir, w.address, x.name, bundle, { buildctl: requirePeer("buildkit", "buildctl") });
    const build = m.run(m.setups.buildctl, long, 180_000);
    // Running: the RUN step's sleep is in progress (its output is not there yet, the call is open).
    await until("the build is running", async () => (await openCalls()) > 0, 60_000);
    await new Promise((r) => setTimeout(r, 4_000));
    // Wrapped: an async function returning the promise itself would wait for the build.
    return { build };
  }
  const openCalls = async () => {
    const res = await fetch(`http://127.0.0.1:${w.proxy.adminPort}/healthz`);
    return ((await res.json()) as { openCalls?: number }).openCalls ?? 0;
  };

  it("revoking the certificate ends its open build within 5 s", { timeout: 240_000 }, async () => {
    const c = await w.issue(x, { name: "revoke-me" });
    const { build } = await longBuild(c.bundle, "revoke");
    const t0 = Date.now();
    await revokeClientCertificate(w.db, c.id);
    const r = await build;
    const ms = Date.now() - t0;
    expect(r.code, r.out).not.toBe(0);
    expect(ms).toBeLessThan(5_000);
  });

  it("the certificate's expiry ends its open build within 5 s of it", { timeout: 240_000 }, async () => {
    const expiresAt = new Date(Date.now() + 25_000);
    const c = await w.issue(x, { name: "expire-me", notAfter: expiresAt });
    const { build } = await longBuild(c.bundle, "expire");
    const r = await build;
    expect(r.code, r.out).not.toBe(0);
    const late = Date.now() - expiresAt.getTime();
    expect(late).toBeGreaterThan(-1_000);
    expect(late).toBeLessThan(5_000);
  });
});
