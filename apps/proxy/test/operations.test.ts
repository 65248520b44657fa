// What an operator relies on: TLS when configured, /healthz and /metrics on the admin port,
// logs that name the satellite and org but never the token, upstream sessions that survive a
// satellite's GOAWAY, and a clean exit on SIGTERM.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { makeOrg, testDb } from "@satellites/testing";
import { fixtureSatelliteTls } from "@satellites/testing/satellite-tls";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { authMetadata, awakeSatellite, CLIENT_OPTIONS, dropQueueKeys, echo, grpcFrame, makeToken, rawCall, rawUpstream, startTestProxy, testClient, unaryStatus } from "./helpers.ts";
import { startProxyProcess } from "./processes.ts";

const db = testDb();
let backend: Backend;
let org: { id: string };
let token: string;
let sat: { name: string; id: string };
const prefixes: string[] = [];

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  org = await makeOrg(db);
  token = (await makeToken(db, org.id)).token;
  sat = await awakeSatellite(db, org.id, backend.address);
});

afterAll(async () => {
  await backend?.close({ graceMs: 100 });
  for (const p of prefixes) await dropQueueKeys(p);
});

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// The certificate is made with the openssl CLI (Node cannot issue X.509 certificates itself).
it.skipIf(!hasOpenssl())("serves TLS when a certificate and key are configured", async () => {
  const dir = mkdtempSync(join(tmpdir(), "satellites-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
    const proxy = await startTestProxy({}, { PROXY_TLS_CERT: join(dir, "cert.pem"), PROXY_TLS_KEY: join(dir, "key.pem") });
    prefixes.push(proxy.prefix);
    const tls = new (grpc.makeGenericClientConstructor({}, "none"))(`localhost:${proxy.port}`, grpc.credentials.createSsl(readFileSync(join(dir, "cert.pem"))), CLIENT_OPTIONS);
    try {
      const code = await new Promise<number>((resolve) =>
        tls.makeUnaryRequest("/grpc.testing.TestService/EmptyCall", () => Buffer.alloc(0), (b: Buffer) => b, {}, authMetadata(sat.name, org.id, token), (err) => resolve(err?.code ?? 0)),
      );
      expect(code).toBe(grpc.status.OK);
    } finally {
      tls.close();
      await proxy.close({ graceMs: 200 });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("exposes /healthz and /metrics; logs carry satellite and org, never the token", async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const proxy = await startTestProxy({ logger: pino({ level: "debug" }, sink) });
  prefixes.push(proxy.prefix);
  const client = testClient(`127.0.0.1:${proxy.port}`);
  try {
    expect((await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token))).code).toBe(grpc.status.OK);
    const wrong = "sat_" + "Z".repeat(32);
    expect((await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, wrong))).code).toBe(grpc.status.UNAUTHENTICATED);

    const health = await fetch(`http://127.0.0.1:${proxy.adminPort}/healthz`);
    expect(health.status).toBe(200);
    const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
    for (const name of ["satellites_proxy_active_streams", "satellites_proxy_calls_total", "satellites_proxy_wake_wait_seconds", "satellites_proxy_bytes_total"]) expect(text).toContain(name);
    expect(text).toMatch(/satellites_proxy_calls_total\{code="OK"[^}]*\} [1-9]/);
    expect(text).toMatch(/satellites_proxy_calls_total\{code="UNAUTHENTICATED"[^}]*\} [1-9]/);

    const all = lines.join("");
    expect(all).not.toContain(token);
    expect(all).not.toContain(wrong);
    const finished = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "call finished" || l.msg === "call refused");
    expect(finished.length).toBeGreaterThanOrEqual(2);
    for (const l of finished) {
      expect(l.satellite).toBe(sat.name);
      expect(l.org).toBe(org.id);
    }
  } finally {
    client.close();
    await proxy.close({ graceMs: 200 });
  }
});

it("a satellite's GOAWAY drops that session; the next call opens a new one", async () => {
  const raw = await rawUpstream((s) => echo(s.stream));
  const rawSat = await awakeSatellite(db, org.id, raw.address);
  const proxy = await startTestProxy();
  prefixes.push(proxy.prefix);
  const auth = { satellite_name: rawSat.name, satellite_org: org.id, satellite_token: token };
  try {
    const first = await rawCall(`127.0.0.1:${proxy.port}`, auth, grpcFrame(Buffer.from("a")));
    expect(first.trailers?.["grpc-status"]).toBe("0");
    const session = raw.streams[0]!.session;
    const gone = new Promise((r) => session.once("close", r));
    session.close();
    await gone;
    const second = await rawCall(`127.0.0.1:${proxy.port}`, auth, grpcFrame(Buffer.from("b")));
    expect(second.trailers?.["grpc-status"]).toBe("0");
    expect(raw.streams[1]!.session === session).toBe(false);
  } finally {
    await proxy.close({ graceMs: 200 });
    await raw.close();
  }
});

it("the process listens on PROXY_PORT, answers /healthz, hears the database on one connection, and exits 0 on SIGTERM", async () => {
  const p = await startProxyProcess({ DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: "satellites-test-unused" });
  const client = testClient(`127.0.0.1:${p.port}`);
  // The process always speaks mutual TLS to satellites: a fixture with a certificate from its CA.
  const tlsBackend = await startBackend({ log: () => {}, tls: await fixtureSatelliteTls() });
  const tlsSat = await awakeSatellite(db, org.id, tlsBackend.address);
  try {
    expect((await unaryStatus(client, "EmptyCall", {}, authMetadata(tlsSat.name, org.id, token))).code).toBe(grpc.status.OK);
    // A plaintext satellite is not one the proxy talks to.
    expect((await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token))).code).toBe(grpc.status.UNAVAILABLE);
    // The proxy and the Earthly API in it hear the database on one LISTEN connection (not five).
    const listening = await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE ${`satellites-listen:${p.proc.pid}:%`}`;
    expect(listening[0]!.n).toBe(1);
  } finally {
    client.close();
    await tlsBackend.close({ graceMs: 100 });
  }
  expect(await p.stop()).toBe(0);
}, 60_000);

it("keeps serving awake satellites while Redis is unreachable (lease writes give up after a second)", async () => {
  const proxy = await startTestProxy({}, { REDIS_URL: "redis://127.0.0.1:9" });
  prefixes.push(proxy.prefix);
  const client = testClient(`127.0.0.1:${proxy.port}`);
  try {
    const s = await unaryStatus(client, "EmptyCall", {}, authMetadata(sat.name, org.id, token), { deadline: Date.now() + 10_000 });
    expect(s.code).toBe(grpc.status.OK);
  } finally {
    client.close();
    await proxy.close({ graceMs: 200 });
  }
});
