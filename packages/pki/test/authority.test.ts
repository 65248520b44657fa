// The CA against real TLS (node:tls, OpenSSL): a satellite's server certificate is accepted by a
// client trusting the CA, and a server requiring client certificates takes only the CA's.
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type Server } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { CertificateAuthority, loadOrCreateCa, serverNames } from "../src/index.ts";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

/** Resolves "ok" when the handshake completes and the server's greeting arrives, else the error. */
function handshake(port: number, opts: { ca: string; cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername: undefined, ...opts });
    socket.once("data", (d) => {
      resolve(d.toString());
      socket.destroy();
    });
    socket.once("error", (err) => resolve(`error: ${err.message}`));
    socket.once("close", () => resolve("closed"));
  });
}

describe("CertificateAuthority", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("issues a server certificate a client verifies, and a client certificate the server requires", async () => {
    const { ca } = await CertificateAuthority.create();
    const server = await ca.issueServer("satellite-test", serverNames(["127.0.0.1", "localhost"]));
    const client = await ca.issueClient("proxy");
    const { ca: stranger } = await CertificateAuthority.create("someone else");
    const foreign = await stranger.issueClient("intruder");
    const tls = createServer({ cert: server.certPem, key: server.keyPem, ca: server.caPem, requestCert: true, rejectUnauthorized: true }, (s) => s.end("hello"));
    const port = await listen(tls);
    try {
      expect(await handshake(port, { ca: ca.certPem, cert: client.certPem, key: client.keyPem })).toBe("hello");
      // No client certificate, or one from another CA: the handshake is refused.
      expect(await handshake(port, { ca: ca.certPem })).not.toBe("hello");
      expect(await handshake(port, { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem })).not.toBe("hello");
      // A client that does not trust our CA refuses the satellite.
      expect(await handshake(port, { ca: stranger.certPem, cert: client.certPem, key: client.keyPem })).toMatch(/error/);
    } finally {
      tls.close();
    }
  });

  it("generates the embedded CA once, race-free, with a private key only its owner reads", async () => {
    const base = await mkdtemp(join(tmpdir(), "pki-"));
    dirs.push(base);
    const dir = join(base, "ca");
    const cas = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateCa(dir)));
    expect(new Set(cas.map((c) => c.certPem)).size).toBe(1);
    expect(cas[0]!.certPem).toBe(await readFile(join(dir, "ca.pem"), "utf8"));
    expect((await stat(join(dir, "ca-key.pem"))).mode & 0o077).toBe(0);
    expect((await loadOrCreateCa(dir)).certPem).toBe(cas[0]!.certPem);
  });

  it("refuses a key that is not the certificate's, and a certificate that is no CA", async () => {
    const a = await CertificateAuthority.create("a");
    const b = await CertificateAuthority.create("b");
    await expect(CertificateAuthority.fromPem(a.ca.certPem, b.keyPem)).rejects.toThrow(/does not belong/);
    const leaf = await a.ca.issueClient("leaf");
    await expect(CertificateAuthority.fromPem(leaf.certPem, leaf.keyPem)).rejects.toThrow(/not a CA/);
    await expect(CertificateAuthority.fromPem("nonsense", a.keyPem)).rejects.toThrow(/not a PEM/);
  });
});
