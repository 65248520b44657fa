// The proxy's transport alone, as its own process: the same node:http2 sessions, settings and
// relay (`Call` from apps/proxy/src/forward.ts) between the client and the backend, with nothing
// else — no authentication, director, leases, build records, overload guard or connection
// limits, and the stream forwarded in the turn it arrives. bench:proxy runs it (target "h2") as
// the floor any forwarder built on node:http2 reaches on this machine: what "plain" adds over it
// is the proxy's own work; what it adds over nginx is node:http2's.
//   node --import tsx bench/src/h2-forwarder.ts <backend host:port>   → prints "listening <host:port>"
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { loadConfigOrExit } from "@satellites/config";
import { Call, type ForwardHooks, headersFromRaw, sensitiveOf } from "../../apps/proxy/src/forward.ts";
import { limitsFromConfig, serverOptions } from "../../apps/proxy/src/limits.ts";
import { connectUpstream } from "../../apps/proxy/src/upstream-connect.ts";

const backend = process.argv[2] ?? "";
const limits = limitsFromConfig(loadConfigOrExit(), 10_000);
const upstream = connectUpstream(
  { satelliteId: "bench", address: backend },
  { streamWindow: limits.streamWindow, sessionWindow: limits.sessionWindow, maxHeaderListBytes: limits.maxHeaderListBytes },
);
upstream.on("error", (err) => {
  process.stderr.write(`h2 forwarder: upstream: ${err.message}\n`);
  process.exit(1);
});

function noop(): void {}
const hooks: ForwardHooks = { sent: noop, received: noop, done: noop, resetUpstream: noop };

const server = http2.createServer(serverOptions(limits));
server.on("connection", (socket: Socket) => socket.setNoDelay(true));
server.on("session", (session) => session.once("localSettings", () => session.setLocalWindowSize(limits.sessionWindow)));
server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
  // The client's fields as they came (its :scheme is already http: h2c both ways).
  new Call(stream, noop).forward(upstream, headersFromRaw(raw, sensitiveOf(headers)), hooks);
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address() as AddressInfo;
  process.stdout.write(`listening 127.0.0.1:${a.port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
