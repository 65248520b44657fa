// The front door with client certificates, in process against a fixture satellite: TLS and h2c
// on one port; a certificate's calls go to its satellite whatever they name; revocation and
// expiry end its open streams within 5 s (the announcements and the expiry sweep).
import * as grpc from "@grpc/grpc-js";
import { startBackend, type Backend } from "@satellites/backend";
import { issueClientCertificate, revokeClientCertificate, type ClientBundle } from "@satellites/client-certs";
import type { Satellite } from "@satellites/db";
import { CertificateAuthority, serverNames } from "@satellites/pki";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Proxy } from "../src/proxy.ts";
import { authMetadata, awakeSatellite, CLIENT_OPTIONS, dropQueueKeys, makeToken, startTestProxy, testClient, unary, unaryStatus, type TestClient } from "./helpers.ts";
import { loadTestService } from "@satellites/backend";

const db = testDb();
let backend: Backend;
let proxy: Proxy & { prefix: string };
let controlCa: CertificateAuthority;
let clientCa: CertificateAuthority;
let sat: Satellite;
const clients: TestClient[] = [];
const Client = grpc.makeGenericClientConstructor(loadTestService()!, "TestService");

beforeAll(async () => {
  backend = await startBackend({ log: () => {} });
  controlCa = (await CertificateAuthority.create("test control-plane CA")).ca;
  clientCa = (await CertificateAuthority.create("test client CA")).ca;
  const server = await controlCa.issueServer("proxy", serverNames(["127.0.0.1", "localhost"]));
  proxy = await startTestProxy({ frontDoorTls: { cert: server.certPem, key: server.keyPem, clientCa: clientCa.certPem, plaintext: true } });
  const org = await makeOrg(db, "cert-calls");
  sat = await awakeSatellite(db, org.id, `127.0.0.1:${backend.port}`);
}, 60_000);

afterAll(async () => {
  clients.forEach((c) => c.close());
  await proxy?.close({ graceMs: 100 });
  await backend?.close({ graceMs: 100 });
  await dropQueueKeys(proxy?.prefix ?? "none");
});

async function bundle(over: { notAfter?: Date } = {}): Promise<{ id: string; bundle: ClientBundle }> {
  const r = await issueClientCertificate(db, clientCa, controlCa.certPem, { orgId: sat.orgId, satelliteId: sat.id, satelliteName: sat.name, name: "t", days: 1, createdById: null, ...over });
  return { id: r.certificate.id, bundle: r.bundle };
}

function tlsClient(b: ClientBundle): TestClient {
  const c = new Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createSsl(Buffer.from(b.caPem), Buffer.from(b.keyPem), Buffer.from(b.certPem)), CLIENT_OPTIONS) as unknown as TestClient;
  clients.push(c);
  return c;
}

/** A bidi stream through the proxy: its answers counted, its final status kept. */
function openStream(c: TestClient): { received: () => number; status: Promise<grpc.StatusObject> } {
  const call = (c.FullDuplexCall as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(new grpc.Metadata());
  let n = 0;
  call.on("error", () => {});
  call.on("data", () => n++);
  const status = new Promise<grpc.StatusObject>((r) => call.on("status", r));
  call.write({ response_parameters: [{ size: 10 }] });
  return { received: () => n, status };
}

async function answered(s: ReturnType<typeof openStream>): Promise<void> {
  const end = Date.now() + 10_000;
  while (s.received() === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  expect(s.received()).toBeGreaterThan(0);
}

const within = (p: Promise<grpc.StatusObject>, ms: number) => Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), ms))]);

describe("client certificates at the front door", () => {
  it("TLS with a certificate and h2c with a token on the same port", async () => {
    const token = (await makeToken(db, sat.orgId)).token;
    const plain = testClient(`127.0.0.1:${proxy.port}`);
    clients.push(plain);
    expect(await unary(plain, "UnaryCall", { response_size: 3 }, authMetadata(sat.name, sat.orgId, token))).toBeTruthy();
    const { bundle: b } = await bundle();
    // No metadata at all: the certificate names the satellite.
    expect(await unary(tlsClient(b), "UnaryCall", { response_size: 3 }, new grpc.Metadata())).toBeTruthy();
  });

  it("revoking the certificate ends its open stream within 5 s, UNAUTHENTICATED; another certificate's stream lives on", async () => {
    const doomed = await bundle();
    const other = await bundle();
    const stream = openStream(tlsClient(doomed.bundle));
    const survivor = openStream(tlsClient(other.bundle));
    await answered(stream);
    await answered(survivor);
    expect(proxy.openCalls.certificateIds()).toEqual(expect.arrayContaining([doomed.id, other.id]));
    const t0 = Date.now();
    await revokeClientCertificate(db, doomed.id);
    const s = await within(stream.status, 5_000);
    expect(s?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(s?.details).toMatch(/revoked/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await within(survivor.status, 1_000)).toBeNull();
    // And no new call on that certificate.
    const again = await unaryStatus(tlsClient(doomed.bundle), "UnaryCall", { response_size: 3 }, new grpc.Metadata());
    expect(again.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(again.details).toMatch(/revoked/);
  });

  it("the certificate's expiry ends its open stream within 5 s of it", async () => {
    const notAfter = new Date(Date.now() + 4_000);
    const short = await bundle({ notAfter });
    const stream = openStream(tlsClient(short.bundle));
    await answered(stream);
    const s = await within(stream.status, 15_000);
    expect(s?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(s?.details).toMatch(/expired/);
    expect(Date.now() - notAfter.getTime()).toBeLessThan(5_000);
  });
});
