// With PROXY_TLS_CERT/KEY the Earthly API speaks TLS with the proxy's certificate (the CLI
// verifies it against its roots, e.g. a private CA through SSL_CERT_FILE); without, plaintext.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { parseConfig } from "@satellites/config";
import { CertificateAuthority } from "@satellites/pki";
import { testDatabaseUrl } from "@satellites/testing";
import { describe, expect, it } from "vitest";
import { loadEarthlyServices, startEarthlyApi } from "../src/index.ts";
import { rejection, unary } from "./fixtures.ts";

describe("Earthly API transport", () => {
  it("serves TLS with the proxy's certificate when configured, and refuses plaintext then", async () => {
    const { ca } = await CertificateAuthority.create("earthly-api test CA");
    const leaf = await ca.issueServer("satellites proxy", { ips: ["127.0.0.1"] });
    const dir = mkdtempSync(path.join(tmpdir(), "earthly-api-tls-"));
    writeFileSync(path.join(dir, "cert.pem"), leaf.certPem);
    writeFileSync(path.join(dir, "key.pem"), leaf.keyPem);
    const config = parseConfig({ DATABASE_URL: testDatabaseUrl(), REDIS_URL: process.env.REDIS_URL, PROXY_TLS_CERT: path.join(dir, "cert.pem"), PROXY_TLS_KEY: path.join(dir, "key.pem") });
    // A short handshake deadline: a connection that did its TLS handshake must outlive it.
    const api = await startEarthlyApi(config, { host: "127.0.0.1", port: 0, handshakeTimeoutMs: 300 });
    const { Billing } = loadEarthlyServices();
    const secure = new Billing(`127.0.0.1:${api.port}`, grpc.credentials.createSsl(Buffer.from(ca.certPem)));
    const plain = new Billing(`127.0.0.1:${api.port}`, grpc.credentials.createInsecure());
    const untrusting = new Billing(`127.0.0.1:${api.port}`, grpc.credentials.createSsl());
    try {
      expect(await unary(secure, "GetBillingPlan", { org_name: "x" }, new grpc.Metadata())).toHaveProperty("plan");
      await new Promise((r) => setTimeout(r, 600));
      expect(secure.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
      expect(await unary(secure, "GetBillingPlan", { org_name: "x" }, new grpc.Metadata())).toHaveProperty("plan");
      expect((await rejection(unary(plain, "GetBillingPlan", { org_name: "x" }, new grpc.Metadata(), 3_000))).code).toBe(grpc.status.UNAVAILABLE);
      expect((await rejection(unary(untrusting, "GetBillingPlan", { org_name: "x" }, new grpc.Metadata(), 3_000))).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      [secure, plain, untrusting].forEach((c) => c.close());
      await api.close();
    }
  });
});
