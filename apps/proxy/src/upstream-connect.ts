// The one place a connection to a satellite is made: every option of the proxy→satellite hop
// (transport, flow-control windows, nghttp2 limits) is set here, from the satellite's record.
// The hop is mutual TLS: the proxy presents its client certificate from the control plane's CA
// and accepts only a server certificate that CA issued for this very satellite's name.
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { satelliteServerName, type TlsMaterial } from "@satellites/pki";

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
  /** The proxy's client certificate and the CA; absent only for in-process tests with plaintext fixtures. */
  tls?: TlsMaterial;
}

/** host:port, with [v6] brackets allowed. */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}

/** The transport: TLS with our client certificate, verifying the satellite's own name; else TCP. */
function transport(target: UpstreamTarget, host: string, port: number, material: TlsMaterial | undefined): net.Socket {
  const socket = net.connect({ host, port, noDelay: true });
  if (!material) return socket;
  return tls.connect({
    socket,
    ca: material.caPem,
    cert: material.certPem,
    key: material.keyPem,
    // The name is the satellite's, whatever its address: another satellite's certificate fails here.
    servername: satelliteServerName(target.satelliteId),
    ALPNProtocols: ["h2"],
  });
}

/** Opens an HTTP/2 session to the satellite (over mutual TLS when the proxy has its certificate). */
export function connectUpstream(target: UpstreamTarget, opts: UpstreamOptions): http2.ClientHttp2Session {
  const { host, port } = splitAddress(target.address);
  const scheme = opts.tls ? "https" : "http";
  const session = http2.connect(`${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`, {
    // Small gRPC frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
    createConnection: () => transport(target, host, port, opts.tls),
    settings: { initialWindowSize: opts.streamWindow, enablePush: false, maxHeaderListSize: opts.maxHeaderListBytes },
    // The satellite is ours, but a stuck one must not grow this process without bound:
    // nghttp2's own accounting (header tables, queued frames) per session, in MiB.
    maxSessionMemory: 64,
    // BuildKit answers with one header per exposed session method.
    maxHeaderListPairs: 4096,
    // Calls released by a wake go out together; nghttp2 queues what exceeds the satellite's limit.
    peerMaxConcurrentStreams: 1000,
  });
  // The connection window is raised once the session is up (SETTINGS cannot carry it). Not on
  // one destroyed meanwhile (an earlier listener, e.g. the pool dropping it): that throws.
  session.once("connect", () => {
    if (!session.destroyed) session.setLocalWindowSize(opts.sessionWindow);
  });
  return session;
}
