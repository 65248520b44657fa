// The front door's codec limits and overload thresholds (Envoy's codec limits and overload
// manager, as configuration), and the nghttp2 server options that carry the codec ones.
// docs/proxy-limits.md explains each, its default, how to size it and what a client sees.
import type http2 from "node:http2";
import type { Config } from "@satellites/config";

export interface FrontDoorLimits {
  /** Client connections, all addresses together; beyond it new ones get GOAWAY ENHANCE_YOUR_CALM. */
  maxConnections: number;
  /** Client connections from one source address. */
  maxConnectionsPerAddress: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS; streams beyond it are refused by nghttp2 (REFUSED_STREAM). */
  maxStreamsPerConnection: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE; a larger request header list is refused. */
  maxHeaderListBytes: number;
  /** Per-stream flow-control window, both hops: what one stream can make the proxy hold. */
  streamWindow: number;
  /** Connection-level window, both hops. */
  sessionWindow: number;
  /** Bytes a client connection's calls may hold in the proxy before its new streams are refused. */
  maxBufferedPerConnection: number;
  /** Resident memory above which new connections and calls are refused (existing ones go on). */
  maxRssBytes: number;
  /** Stream resets a source address may cause per window before it is sent GOAWAY and refused. */
  resetBudget: number;
  resetWindowSeconds: number;
  /** A connection without a finished HTTP/2 handshake by then is closed. */
  handshakeMs: number;
}

export type LimitsConfig = Pick<
  Config,
  | "PROXY_MAX_CONNECTIONS"
  | "PROXY_MAX_CONNECTIONS_PER_ADDRESS"
  | "PROXY_MAX_STREAMS_PER_CONNECTION"
  | "PROXY_MAX_HEADER_LIST_BYTES"
  | "PROXY_STREAM_WINDOW_BYTES"
  | "PROXY_CONNECTION_WINDOW_BYTES"
  | "PROXY_MAX_BUFFERED_BYTES_PER_CONNECTION"
  | "PROXY_MAX_RSS_MIB"
  | "PROXY_RESET_BUDGET"
  | "PROXY_RESET_BUDGET_SECONDS"
>;

export function limitsFromConfig(c: LimitsConfig, handshakeMs: number): FrontDoorLimits {
  return {
    maxConnections: c.PROXY_MAX_CONNECTIONS,
    maxConnectionsPerAddress: c.PROXY_MAX_CONNECTIONS_PER_ADDRESS,
    maxStreamsPerConnection: c.PROXY_MAX_STREAMS_PER_CONNECTION,
    maxHeaderListBytes: c.PROXY_MAX_HEADER_LIST_BYTES,
    streamWindow: c.PROXY_STREAM_WINDOW_BYTES,
    sessionWindow: c.PROXY_CONNECTION_WINDOW_BYTES,
    maxBufferedPerConnection: c.PROXY_MAX_BUFFERED_BYTES_PER_CONNECTION,
    maxRssBytes: c.PROXY_MAX_RSS_MIB * 1024 * 1024,
    resetBudget: c.PROXY_RESET_BUDGET,
    resetWindowSeconds: c.PROXY_RESET_BUDGET_SECONDS,
    handshakeMs,
  };
}

/** nghttp2's own protections, set deliberately rather than left to Node's defaults. */
export function serverOptions(l: FrontDoorLimits): http2.ServerOptions {
  return {
    settings: {
      initialWindowSize: l.streamWindow,
      maxConcurrentStreams: l.maxStreamsPerConnection,
      maxHeaderListSize: l.maxHeaderListBytes,
      enablePush: false,
    },
    // nghttp2's memory per session (HPACK tables, queued frames and acks, unsent header blocks),
    // in MiB: a client that never reads its PING/SETTINGS acks hits it and is sent
    // GOAWAY ENHANCE_YOUR_CALM. Streams' DATA is bounded by the windows instead.
    maxSessionMemory: 16,
    // BuildKit sends one header per exposed session method; Node's default (128) is too few.
    maxHeaderListPairs: 1024,
    // A peer sending SETTINGS frames carrying many entries, or many unacknowledged.
    maxSettings: 32,
    // Unanswered PINGs we send (keepalive) before the session is treated as dead.
    maxOutstandingPings: 4,
    // Streams nghttp2 refused (over the stream limit, bad headers) and invalid frames a session
    // may send before it is ended: floods of either are abuse, not mistakes.
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
    // We never push; a client cannot make us open streams towards it.
    peerMaxConcurrentStreams: 100,
    // TLS connections that do not choose h2 by ALPN are closed after this.
    unknownProtocolTimeout: l.handshakeMs,
  };
}
