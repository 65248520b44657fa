// A connection the proxy ends keeps reading for a moment (src/lingering-close.ts), on h2c and on
// TLS: a client still uploading reads the GOAWAY that says why instead of failing on a TCP
// reset; a client that goes on sending is cut once the linger's time or bytes run out.
import net from "node:net";
import http2 from "node:http2";
import tls from "node:tls";
import { CertificateAuthority, serverNames } from "@satellites/pki";
import { makeOrg, testDb } from "@satellites/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LINGERING } from "../src/lingering-close.ts";
import type { Proxy } from "../src/proxy.ts";
import { F, frame, grpcRequestBlock, observe, PREFACE, settings, T, type Attacker, uploadReadingLate } from "./attacker.ts";
import { asleepSatellite, dropQueueKeys, makeToken, startTestProxy } from "./helpers.ts";

const H2 = http2.constants;
const db = testDb();
let proxy: Proxy & { prefix: string };
/** Metadata of a call to an asleep satellite: with no jobs worker here, it waits unread. */
let held: Record<string, string>;

beforeAll(async () => {
  const ca = (await CertificateAuthority.create("test control-plane CA")).ca;
  const server = await ca.issueServer("proxy", serverNames(["127.0.0.1"]));
  proxy = await startTestProxy({ frontDoorTls: { cert: server.certPem, key: server.keyPem, plaintext: true } });
  const org = await makeOrg(db, "lingering");
  const { token } = await makeToken(db, org.id);
  const sat = await asleepSatellite(db, org.id, "127.0.0.1:1");
  held = { satellite_name: sat.name, satellite_org: org.id, satellite_token: token };
}, 60_000);

afterAll(async () => {
  await proxy?.close({ graceMs: 100 });
  await dropQueueKeys(proxy?.prefix ?? "none");
});

const transports: Record<string, () => Promise<Attacker>> = {
  h2c: () => observe(net.connect({ host: "127.0.0.1", port: proxy.port }), "connect"),
  TLS: () => observe(tls.connect({ host: "127.0.0.1", port: proxy.port, ALPNProtocols: ["h2"], rejectUnauthorized: false }), "secureConnect"),
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chunk = frame(T.DATA, 0, 1, Buffer.alloc(16_384));

/**
 * Opens a held upload and sends DATA beyond its stream's window (the client never acknowledges
 * the proxy's SETTINGS, so the window is the protocol's 65,535 bytes): the proxy answers GOAWAY
 * FLOW_CONTROL_ERROR and ends the connection.
 */
async function violate(open: () => Promise<Attacker>): Promise<Attacker> {
  const a = await open();
  a.write(Buffer.concat([PREFACE, settings(), frame(T.HEADERS, F.END_HEADERS, 1, grpcRequestBlock("/grpc.testing.TestService/StreamingInputCall", held))]));
  for (let i = 0; i < 5; i++) a.write(chunk);
  return a;
}

for (const [name, open] of Object.entries(transports)) {
  it(`${name}: a client still uploading when the proxy ends its connection reads the GOAWAY`, async () => {
    // It reads late, as a client busy writing does: after 4 MiB more, and 1 MiB 200 ms later.
    const a = await violate(open);
    await uploadReadingLate(a, chunk);
    expect(await a.closed(5_000)).toBe(true);
    expect(a.answer.goaway).toBe(H2.NGHTTP2_FLOW_CONTROL_ERROR);
  }, 30_000);

  it(`${name}: a client that goes on sending is cut once the linger's time is up`, async () => {
    // It never reads (so never sees the proxy's end of the stream), and sends 64 KiB every 50 ms:
    // the linger's time, not its bytes, runs out first.
    const a = await violate(open);
    a.socket.pause();
    const start = Date.now();
    while (!a.socket.destroyed && !a.answer.closed && Date.now() - start < 10_000) {
      a.write(Buffer.concat([chunk, chunk, chunk, chunk]));
      await sleep(50);
    }
    // Its writes fail once the linger is over (plus what it takes the reset to reach the writer),
    // long before the 10 s this client would go on for.
    expect(a.socket.destroyed).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(LINGERING.ms - 100);
    expect(Date.now() - start).toBeLessThan(LINGERING.ms + 1_500);
  }, 30_000);
}
