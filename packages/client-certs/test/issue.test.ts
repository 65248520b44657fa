// Issuing a tenant's client certificate against the real database and real TLS (node:tls,
// OpenSSL): what it names, what is kept (never the key), and who accepts it — the proxy's client
// CA, never a satellite trusting the control-plane CA.
import { X509Certificate } from "node:crypto";
import { connect, createServer, type Server } from "node:tls";
import { CertificateAuthority } from "@satellites/pki";
import { makeOrg, makeSatellite, testDb } from "@satellites/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkClientCertificate, issueClientCertificate, MAX_DAYS, revokeClientCertificate } from "../src/index.ts";
import { parseSubjectUri, subjectFromAltNames, subjectUri } from "../src/identity.ts";

const db = testDb();
let clientCa: CertificateAuthority;
let controlCa: CertificateAuthority;
let orgId: string;
let satId: string;
const servers: Server[] = [];

beforeAll(async () => {
  clientCa = (await CertificateAuthority.create("test client CA")).ca;
  controlCa = (await CertificateAuthority.create("test control-plane CA")).ca;
  orgId = (await makeOrg(db, "certs")).id;
  satId = (await makeSatellite(db, orgId)).id;
});
afterAll(() => servers.forEach((s) => s.close()));

const issue = (over: Partial<Parameters<typeof issueClientCertificate>[3]> = {}) =>
  issueClientCertificate(db, clientCa, controlCa.certPem, { orgId, satelliteId: satId, satelliteName: "s", name: "ci", days: 90, createdById: null, ...over });

/** A TLS server requiring client certificates from `ca`; resolves what the client sees. */
async function mtls(ca: string, client: { cert: string; key: string }): Promise<string> {
  const server = await controlCa.issueServer("server", { ips: ["127.0.0.1"] });
  const s = createServer({ cert: server.certPem, key: server.keyPem, ca, requestCert: true, rejectUnauthorized: true }, (sock) => sock.end("hello"));
  servers.push(s);
  const port = await new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as { port: number }).port)));
  return new Promise((resolve) => {
    const c = connect({ host: "127.0.0.1", port, ca: controlCa.certPem, cert: client.cert, key: client.key });
    c.once("data", (d) => resolve(d.toString()));
    c.once("error", (e) => resolve(`error: ${e.message}`));
    c.once("close", () => resolve("closed"));
  });
}

describe("client certificates", () => {
  it("names its organization and satellite in one URI SAN, for client auth, valid the days asked", async () => {
    const { certificate, bundle } = await issue({ days: 30 });
    const x = new X509Certificate(bundle.certPem);
    expect(subjectFromAltNames(x.subjectAltName)).toEqual({ orgId, satelliteId: satId });
    expect(x.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(x.checkIssued(new X509Certificate(clientCa.certPem))).toBe(true);
    const days = (new Date(x.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
    expect(x.fingerprint256.replaceAll(":", "").toLowerCase()).toBe(certificate.fingerprint);
    expect(x.serialNumber.toLowerCase()).toBe(certificate.serial);
    expect(bundle.caPem).toBe(controlCa.certPem);
    expect(bundle.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("keeps serial, fingerprint, expiry, name and creator — never the key", async () => {
    const { certificate, bundle } = await issue({ name: "kept" });
    const row = await db.clientCertificate.findUniqueOrThrow({ where: { id: certificate.id } });
    expect(row).toMatchObject({ name: "kept", serial: certificate.serial, fingerprint: certificate.fingerprint, orgId, satelliteId: satId, revokedAt: null });
    const keyBody = bundle.keyPem.split("\n").slice(1, -2).join("");
    expect(JSON.stringify(row)).not.toContain(keyBody.slice(0, 40));
    // No column could hold it.
    const cols = await db.$queryRaw<{ column_name: string }[]>`SELECT column_name FROM information_schema.columns WHERE table_name = 'client_certificate'`;
    expect(cols.map((c) => c.column_name).sort()).toEqual(["createdAt", "createdById", "expiresAt", "fingerprint", "id", "lastUsedAt", "name", "orgId", "revokedAt", "satelliteId", "serial"]);
  });

  it("refuses more than a year, less than a day, or a fraction", async () => {
    await expect(issue({ days: MAX_DAYS + 1 })).rejects.toThrow(/1 to 365 days/);
    await expect(issue({ days: 0 })).rejects.toThrow(/1 to 365 days/);
    await expect(issue({ days: 1.5 })).rejects.toThrow(/1 to 365 days/);
  });

  it("is accepted while issued, unrevoked and unexpired, for its own subject only", async () => {
    const { certificate } = await issue();
    const subject = { orgId, satelliteId: satId };
    expect(await checkClientCertificate(db, certificate.fingerprint, subject)).toMatchObject({ ok: true, certificate: { certificateId: certificate.id, satelliteId: satId } });
    expect(await checkClientCertificate(db, certificate.fingerprint, { orgId, satelliteId: "other" })).toEqual({ ok: false, reason: "client certificate not issued by this control plane" });
    expect(await checkClientCertificate(db, "00".repeat(32), subject)).toMatchObject({ ok: false });
    expect(await checkClientCertificate(db, certificate.fingerprint, subject, new Date(Date.now() + 91 * 86_400_000))).toEqual({ ok: false, reason: "client certificate expired" });
    expect(await revokeClientCertificate(db, certificate.id)).toBeInstanceOf(Date);
    expect(await revokeClientCertificate(db, certificate.id)).toBeNull();
    expect(await checkClientCertificate(db, certificate.fingerprint, subject)).toEqual({ ok: false, reason: "client certificate revoked" });
  });

  it("passes a TLS server trusting the client CA, and never one trusting the control-plane CA (a satellite)", async () => {
    const { bundle } = await issue();
    expect(await mtls(clientCa.certPem, { cert: bundle.certPem, key: bundle.keyPem })).toBe("hello");
    expect(await mtls(controlCa.certPem, { cert: bundle.certPem, key: bundle.keyPem })).not.toBe("hello");
  });

  it("reads exactly one subject URI; anything else is no identity", () => {
    const uri = subjectUri({ orgId: "o1", satelliteId: "s1" });
    expect(parseSubjectUri(uri)).toEqual({ orgId: "o1", satelliteId: "s1" });
    expect(subjectFromAltNames(`URI:${uri}, URI:${subjectUri({ orgId: "o2", satelliteId: "s2" })}`)).toBeNull();
    expect(subjectFromAltNames(`DNS:x, URI:${uri}`)).toEqual({ orgId: "o1", satelliteId: "s1" });
    expect(subjectFromAltNames(`URI:${uri}/../x`)).toBeNull();
    expect(subjectFromAltNames(undefined)).toBeNull();
    expect(() => subjectUri({ orgId: "a/b", satelliteId: "s" })).toThrow(RangeError);
  });
});
