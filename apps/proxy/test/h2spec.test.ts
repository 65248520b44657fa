// HTTP/2 conformance of the front door, by h2spec (a program nobody here wrote). Where a case
// fails, it must fail only because of nghttp2 itself: the same case fails with the same answer
// against a bare node:http2 server in the same run, and the list of such cases is exactly the
// one below (each is documented nghttp2 behaviour, see the comments).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { requirePeer } from "@satellites/testing/peers";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dropQueueKeys, startTestProxy, testConfig } from "./helpers.ts";

const run = promisify(execFile);

// nghttp2 behaviours h2spec v2.2.1 reports, the same on any node:http2 server. They depend on the
// nghttp2 the running Node carries (process.versions.nghttp2): 1.61 in Node 20.20, 1.69 in Node
// 22.23, 1.70 in Node 24.22 (both of those as listed for 1.69).
const [NGHTTP2_MAJOR, NGHTTP2_MINOR] = process.versions.nghttp2!.split(".").map(Number) as [number, number];
const NGHTTP2_1_69 = NGHTTP2_MAJOR > 1 || NGHTTP2_MINOR >= 69;
const NGHTTP2_KNOWN = [
  // Frames on a closed stream: nghttp2 ignores them for a while after the close (RFC 9113 §5.1:
  // "an endpoint MAY ignore frames on streams it has closed"), giving the connection window back;
  // h2spec waits for a STREAM_CLOSED error and sees a WINDOW_UPDATE or times out.
  "http2/5.1 closed: Sends a DATA frame after sending RST_STREAM frame",
  "http2/5.1 closed: Sends a HEADERS frame after sending RST_STREAM frame",
  "http2/5.1 closed: Sends a DATA frame",
  "http2/5.1 closed: Sends a HEADERS frame",
  // A lower stream id than one used: nghttp2 finishes answering the earlier stream before its
  // GOAWAY PROTOCOL_ERROR, and h2spec takes that answer for the reply.
  "http2/5.1.1 Sends stream identifier that is numerically smaller than previous",
  // An unsolicited PING ACK: nghttp2 ends the connection instead of ignoring it.
  "http2/6.7 Sends a PING frame with ACK",
  ...(NGHTTP2_1_69
    ? [
        // RFC 9113 deprecated RFC 7540's priority scheme, and nghttp2 1.69 ignores PRIORITY frames
        // altogether: h2spec waits for the PROTOCOL_ERROR of a malformed one and times out.
        "http2/5.3.1 Sends PRIORITY frame that depend on itself",
        "http2/6.3 Sends a PRIORITY frame with 0x0 stream identifier",
        // A stream's window pushed past 2^31-1: nghttp2 1.69 ends the whole connection, where
        // h2spec expects RST_STREAM FLOW_CONTROL_ERROR on that stream alone.
        "http2/6.9.1 Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1 on a stream",
      ]
    : [
        // The connection window pushed past 2^31-1: nghttp2 1.61 sends GOAWAY, but not the code h2spec expects.
        "http2/6.9.1 Sends multiple WINDOW_UPDATE frames increasing the flow control window to above 2^31-1",
      ]),
];

// The same nghttp2 behaviour (frames on a just-closed stream are ignored), where whether h2spec
// meets it depends on timing: the server answers h2spec's request at once, so the stream may be
// closed already (frame ignored, h2spec times out) or still half-closed (the expected error) when
// h2spec's next frame arrives. These may fail or pass on either server; nothing else may fail.
// (6.1's DATA case is 5.1's "half closed (remote): Sends a DATA frame" again: HEADERS with
// END_STREAM, then DATA; the bare reference server missed it once in CI, on d6fd53a.)
const NGHTTP2_TIMING = [
  "http2/5.1 closed: Sends a CONTINUATION frame after sending RST_STREAM frame",
  "http2/5.1 half closed (remote): Sends a DATA frame",
  "http2/5.1 half closed (remote): Sends a HEADERS frame",
  "http2/5.1 half closed (remote): Sends a CONTINUATION frame",
  'http2/6.1 Sends a DATA frame on the stream that is not in "open" or "half-closed (local)" state',
];

interface Failure {
  id: string;
  error: string;
}

function failures(junit: string): Failure[] {
  const out: Failure[] = [];
  const re = /<testcase package="([^"]*)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g;
  for (const m of junit.matchAll(re)) {
    const err = /<(?:error|failure)>([\s\S]*?)<\/(?:error|failure)>/.exec(m[3]!);
    if (err) out.push({ id: `${m[1]} ${m[2]!.replace(/&#39;/g, "'").replace(/&#34;/g, '"')}`, error: err[1]! });
  }
  return out;
}

async function h2spec(port: number): Promise<Failure[]> {
  const bin = requirePeer("h2spec");
  const report = path.join(mkdtempSync(path.join(tmpdir(), "h2spec-")), "report.xml");
  // Exits non-zero when any case fails; the report says which.
  // Each case waits up to 8 s for its answer: with 3 s, CI's parallel integration files made
  // the front door's answer to case 6.1 (STREAM_CLOSED) arrive too late twice in a row, while a
  // quiet run passed it; a missing answer still fails at 8 s.
  await run(bin, ["-h", "127.0.0.1", "-p", String(port), "-o", "8", "-j", report], { timeout: 280_000 }).catch(() => {});
  return failures(readFileSync(report, "latin1"));
}

let proxy: Awaited<ReturnType<typeof startTestProxy>>;
let bare: http2.Http2Server;

beforeAll(async () => {
  proxy = await startTestProxy();
  // What the proxy answers h2spec's plain GET/POST requests: 415 and a line of text, with the
  // proxy's default settings and connection window.
  const defaults = testConfig();
  bare = http2.createServer({
    settings: { maxConcurrentStreams: defaults.PROXY_MAX_STREAMS_PER_CONNECTION, initialWindowSize: defaults.PROXY_STREAM_WINDOW_BYTES, maxHeaderListSize: defaults.PROXY_MAX_HEADER_LIST_BYTES, enablePush: false },
  });
  bare.on("session", (s) => s.once("localSettings", () => s.setLocalWindowSize(defaults.PROXY_CONNECTION_WINDOW_BYTES)));
  bare.on("stream", (s) => {
    s.on("error", () => {});
    s.respond({ ":status": 415, "content-type": "text/plain; charset=utf-8" });
    s.end("this is a gRPC endpoint: send POST with content-type application/grpc\n");
    s.resume();
  });
  await new Promise<void>((r) => bare.listen(0, "127.0.0.1", r));
});

afterAll(async () => {
  await proxy?.close({ graceMs: 200 });
  bare?.close();
  if (proxy) await dropQueueKeys(proxy.prefix);
});

it("h2spec: every case passes on the front door but the documented nghttp2 ones, which fail identically on a bare node:http2 server", async () => {
  const [front, reference] = await Promise.all([h2spec(proxy.port), h2spec((bare.address() as AddressInfo).port)]);
  const ids = (fs: Failure[]) => fs.map((f) => f.id).filter((id) => !NGHTTP2_TIMING.includes(id)).sort();
  expect(ids(front)).toEqual([...NGHTTP2_KNOWN].sort());
  expect(ids(reference)).toEqual([...NGHTTP2_KNOWN].sort());
  // Identically: the same cases, each missing the same expected answer. h2spec's last line is the
  // frame it got instead, and which frame comes first (the 415's DATA, a WINDOW_UPDATE) depends on
  // scheduling — both runs share two vCPUs — so it is not compared.
  const expectedPart = (error: string) => error.split("\n").slice(0, -1).join("\n");
  const known = (fs: Failure[]) => fs.filter((f) => NGHTTP2_KNOWN.includes(f.id)).map((f) => ({ id: f.id, expected: expectedPart(f.error) }));
  expect(known(front)).toEqual(known(reference));
}, 300_000);
