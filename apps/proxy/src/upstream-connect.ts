// The one place a connection to a satellite is made: every option of the proxy→satellite hop
// (transport, flow-control windows, nghttp2 limits) is set here, from the satellite's record.
import http2 from "node:http2";
import net from "node:net";

/** Where a satellite is reached, as its record in the directory gives it. */
export interface UpstreamTarget {
  satelliteId: string;
  /** host:port, with [v6] brackets allowed. */
  address: string;
}

export interface UpstreamOptions {
  /** Per-stream receive window on satellite connections. */
  streamWindow: number;
  /** Connection-level receive window on satellite connections. */
  sessionWindow: number;
  /** Largest response header list accepted from a satellite. */
  maxHeaderListBytes: number;
}

/** host:port, with [v6] brackets allowed. */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}

/** Opens an HTTP/2 (h2c) session to the satellite. */
export function connectUpstream(target: UpstreamTarget, opts: UpstreamOptions): http2.ClientHttp2Session {
  const { host, port } = splitAddress(target.address);
  const session = http2.connect(`http://${net.isIPv6(host) ? `[${host}]` : host}:${port}`, {
    // Small gRPC frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
    createConnection: () => net.connect({ host, port, noDelay: true }),
    settings: { initialWindowSize: opts.streamWindow, enablePush: false, maxHeaderListSize: opts.maxHeaderListBytes },
    // The satellite is ours, but a stuck one must not grow this process without bound:
    // nghttp2's own accounting (header tables, queued frames) per session, in MiB.
    maxSessionMemory: 64,
    // BuildKit answers with one header per exposed session method.
    maxHeaderListPairs: 4096,
    // Calls released by a wake go out together; nghttp2 queues what exceeds the satellite's limit.
    peerMaxConcurrentStreams: 1000,
  });
  // The connection window is raised once the session is up (SETTINGS cannot carry it).
  session.once("connect", () => session.setLocalWindowSize(opts.sessionWindow));
  return session;
}
