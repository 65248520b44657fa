// The proxy's listening side: node:http2 servers (h2c, and TLS with ALPN h2 asking for an
// optional client certificate) with the codec limits of limits.ts, the connection caps (global,
// per source address), the reset budget and the memory guard deciding whether a new connection
// is taken at all. With both on one port, a connection's first byte says which it speaks (a TLS
// record starts 0x16; an HTTP/2 preface "PRI"). Streams that pass go to `onStream`; the front
// door knows nothing of gRPC.
import http2 from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { addressKey } from "@satellites/config";
import type { Logger } from "pino";
import { ClientConnection } from "./client-connection.ts";
import { type FrontDoorLimits, serverOptions } from "./limits.ts";
import { sweepConnections } from "./lifetimes.ts";
import { lingerOnClose } from "./lingering-close.ts";
import type { MemoryGuard } from "./overload.ts";
import { ResetBudget } from "./reset-budget.ts";

const noop = (): void => {};

const H2 = http2.constants;

export type StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[], conn: ClientConnection) => void;

export interface FrontDoorOptions {
  limits: FrontDoorLimits;
  tls?: FrontDoorTls;
  idleMs: number;
  keepaliveMs: number;
  guard: MemoryGuard;
  log: Logger;
  onStream: StreamHandler;
}

export interface FrontDoorTls {
  /** PEM server certificate (chain) and key. */
  cert: string;
  key: string;
  /** PEM CA whose client certificates are read (docs/clients.md); none asked for without it. */
  clientCa?: string;
  /** Take h2c on the same port too (the embedded default); false: TLS only. */
  plaintext: boolean;
}

/** The first byte of a TLS handshake record. */
const TLS_HANDSHAKE = 0x16;

const CONN = Symbol("satellites.connection");
type Tagged = http2.ServerHttp2Session & { [CONN]?: ClientConnection };

/**
 * What one connection ended for a client's flow-control violation counts against its address's
 * reset budget. A conforming client never causes one; a broken one behind a shared address loses
 * its address's budget after a tenth as many connections as it would stream resets.
 */
export const CONNECTION_ERROR_RESETS = 10;

export class FrontDoor {
  readonly connections = new Set<ClientConnection>();
  /** Accepted sockets per source address, and in all (counted before any HTTP/2 or TLS work). */
  private readonly perAddress = new Map<string, number>();
  private sockets = 0;
  readonly resets: ResetBudget;
  /** Takes TCP connections and decides, before any TLS or HTTP/2 state exists, whether to keep them. */
  private readonly listener: net.Server;
  /** h2c and TLS, as configured: at least one. */
  private readonly plain: http2.Http2Server | undefined;
  private readonly secure: http2.Http2SecureServer | undefined;
  private stopSweeping: () => void = () => {};
  private closing = false;

  constructor(private readonly opts: FrontDoorOptions) {
    const { limits, log } = opts;
    this.resets = new ResetBudget(limits.resetBudget, limits.resetWindowSeconds, (address) => {
      log.warn({ source: address, budget: limits.resetBudget, seconds: limits.resetWindowSeconds }, "source address over its stream-reset budget: its connections are sent GOAWAY ENHANCE_YOUR_CALM");
      for (const c of this.connections) if (c.source === address) this.calm(c.session);
    });
    const options = serverOptions(limits);
    const { tls } = opts;
    this.secure = tls
      ? http2.createSecureServer({
          ...options,
          cert: tls.cert,
          key: tls.key,
          allowHTTP1: false,
          handshakeTimeout: limits.handshakeMs,
          // Asked for, never required: metadata clients share the port. A certificate that does
          // not verify is remembered per connection (peer-certificate.ts) and its calls refused.
          ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
        })
      : undefined;
    this.plain = !tls || tls.plaintext ? http2.createServer(options) : undefined;
    // gRPC-go over a TLS connection it dialed itself (buildx's remote driver) offers no ALPN; it is
    // HTTP/2 inside TLS all the same. node's servers refuse a TLS socket without "h2": it is marked
    // so and served, its client certificate read like any other.
    this.secure?.on("unknownProtocol", (socket: TLSSocket) => {
      if (socket.alpnProtocol !== false) return void socket.destroy();
      (socket as { alpnProtocol: string | false | null }).alpnProtocol = "h2";
      this.secure!.emit("secureConnection", socket);
    });
    this.listener = net.createServer((socket) => this.admit(socket));
    for (const server of [this.plain, this.secure]) {
      if (!server) continue;
      server.on("session", (session: Tagged) => this.accept(session));
      server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => this.stream(stream, headers, raw));
      server.on("sessionError", (err: Error) => log.debug({ err: err.message }, "client session error"));
    }
    // A connection the proxy ends keeps reading for a moment (lingering-close.ts): on the socket
    // the HTTP/2 session reads, the TLS one for TLS.
    this.secure?.on("secureConnection", (socket: TLSSocket) => lingerOnClose(socket));
    this.secure?.on("tlsClientError", (err: Error) => log.debug({ err: err.message }, "TLS handshake failed"));
  }

  /** Hands the socket to the server its first byte names (h2c or TLS), or the only one there is. */
  private dispatch(socket: Socket): void {
    if (!this.plain || !this.secure) return this.hand(this.plain ?? this.secure!, socket);
    // A client that sends nothing is closed like one that never finishes its handshake.
    const timer = setTimeout(() => socket.destroy(), this.opts.limits.handshakeMs);
    const onData = (chunk: Buffer): void => {
      clearTimeout(timer);
      socket.off("close", onClose);
      socket.off("error", onError);
      // Back into the socket, not flowing: both servers take bytes already read from it (node's
      // tls and http2 do) and read the rest from its handle themselves.
      socket.pause();
      socket.unshift(chunk);
      this.hand(chunk[0] === TLS_HANDSHAKE ? this.secure! : this.plain!, socket);
    };
    const onClose = (): void => clearTimeout(timer);
    // Until a server owns the socket, its errors (a reset before the first byte) only close it.
    const onError = (): void => void socket.destroy();
    socket.once("data", onData);
    socket.once("close", onClose);
    socket.on("error", onError);
  }

  /** Gives `socket` to `server`; an h2c socket lingers when closed (TLS ones from `secureConnection`). */
  private hand(server: http2.Http2Server | http2.Http2SecureServer, socket: Socket): void {
    if (server === this.plain) lingerOnClose(socket);
    server.emit("connection", socket);
  }

  /** GOAWAY ENHANCE_YOUR_CALM, then the connection is closed (open calls on it end). */
  private calm(session: http2.ServerHttp2Session): void {
    if (!session.destroyed) session.destroy(new Error("refused: over a front-door limit"), H2.NGHTTP2_ENHANCE_YOUR_CALM);
  }

  /** Why a new connection from `source` is not taken, if it is not. */
  private refusal(source: string): string | undefined {
    const { limits, guard } = this.opts;
    if (this.sockets >= limits.maxConnections) return "connection limit";
    if ((this.perAddress.get(source) ?? 0) >= limits.maxConnectionsPerAddress) return "per-address connection limit";
    if (this.resets.isBlocked(source)) return "reset budget";
    if (guard.overloaded) return "memory";
    return undefined;
  }

  /**
   * A new TCP connection: over a cap (connections in all or per address, an address over its
   * reset budget, memory), it is closed at once, costing no TLS or HTTP/2 state; otherwise it is
   * handed to the HTTP/2 (or TLS) server.
   */
  private admit(socket: Socket): void {
    // An IPv6 client counts by its /64 (addressKey): per-address limits key on this everywhere.
    const source = addressKey(socket.remoteAddress);
    const why = this.closing ? "shutting down" : this.refusal(source);
    if (why) {
      this.opts.log.debug({ source, why }, "client connection refused");
      socket.on("error", () => {});
      socket.destroy();
      return;
    }
    this.sockets++;
    this.perAddress.set(source, (this.perAddress.get(source) ?? 0) + 1);
    socket.once("close", () => {
      this.sockets--;
      const n = (this.perAddress.get(source) ?? 1) - 1;
      if (n > 0) this.perAddress.set(source, n);
      else this.perAddress.delete(source);
    });
    // Small gRPC frames must not wait for Nagle's algorithm (and the peer's delayed ACK).
    socket.setNoDelay(true);
    this.dispatch(socket);
  }

  private accept(session: Tagged): void {
    const { limits, log } = this.opts;
    const source = addressKey(session.socket?.remoteAddress);
    // node:http2 ends a connection on a client's flow-control or protocol error after resetting
    // the stream: those resets the client provoked count against its address too. A connection
    // nghttp2 itself ended for the client's error (ERR_HTTP2_ERROR) weighs as much as one the
    // proxy ends with GOAWAY FLOW_CONTROL_ERROR (clientReset): from nghttp2 1.69 (Node 22), DATA
    // beyond a stream's window is such an error and never reaches clientReset.
    session.on("error", (err: NodeJS.ErrnoException) => {
      log.debug({ err: err.message, source }, "client connection error");
      this.resets.count(source, err.code === "ERR_HTTP2_ERROR" ? CONNECTION_ERROR_RESETS : 1);
    });
    const conn = new ClientConnection(session, source, (code) => this.clientReset(session, source, code));
    session[CONN] = conn;
    this.connections.add(conn);
    session.once("remoteSettings", () => (conn.settled = true));
    session.once("localSettings", () => session.setLocalWindowSize(limits.sessionWindow));
    session.once("close", () => this.connections.delete(conn));
    if (this.closing) session.close();
  }

  /**
   * A reset the client caused counts against its address. One that answered a flow-control
   * violation (DATA beyond a stream's window) also ends the connection, GOAWAY
   * FLOW_CONTROL_ERROR (RFC 9113 §6.9.1 allows a connection error): a conforming client never
   * does it, and whatever else it pipelined — megabytes of DATA on streams opened to be reset —
   * is not read.
   */
  private clientReset(session: http2.ServerHttp2Session, source: string, code: number | undefined): void {
    if (code !== H2.NGHTTP2_FLOW_CONTROL_ERROR || session.destroyed || session.closed) return void this.resets.count(source);
    // A connection ended for breaking flow control weighs as CONNECTION_ERROR_RESETS resets: each
    // one cost an accept, an HTTP/2 session and the megabytes pipelined behind it, so an address
    // doing it across reconnections is refused after budget / 10 connections rather than budget.
    this.resets.count(source, CONNECTION_ERROR_RESETS);
    // GOAWAY now, the session destroyed on the next turn, once it is written; the socket then
    // lingers (lingering-close.ts), so the client's unread DATA does not turn the close into a
    // TCP reset that would take the GOAWAY with it.
    // (The destroy's own final GOAWAY carries the same code; its error counts once more.)
    session.goaway(H2.NGHTTP2_FLOW_CONTROL_ERROR);
    setImmediate(() => {
      if (!session.destroyed) session.destroy(new Error("flow-control violation by the client"), H2.NGHTTP2_FLOW_CONTROL_ERROR);
    });
  }

  private stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, raw: string[]): void {
    // Every stream, before anything else: a client's flow-control or protocol error is emitted
    // on its open streams, and one unheard 'error' ends the process — for every tenant. (It
    // surfaces again as 'close' with an rstCode, where calls handle it.)
    stream.on("error", noop);
    const conn = (stream.session as Tagged | undefined)?.[CONN];
    if (!conn) return void stream.close(H2.NGHTTP2_REFUSED_STREAM);
    // An address over its reset budget gets no more work while its connections are being ended
    // (what it pipelined before that is refused here, not routed). A connection whose calls
    // already hold too much in the proxy takes no new ones until they drain; refusing is the
    // client's doing and counts against its reset budget.
    if (this.resets.isBlocked(conn.source) || (conn.calls.size > 0 && conn.buffered() > this.opts.limits.maxBufferedPerConnection)) {
      stream.close(H2.NGHTTP2_REFUSED_STREAM);
      conn.countReset();
      return;
    }
    this.opts.onStream(stream, headers, raw, conn);
  }

  async listen(port: number, host: string | undefined): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen(port, host, () => {
        this.listener.off("error", reject);
        resolve();
      });
    });
    const { limits, idleMs, keepaliveMs, log } = this.opts;
    this.stopSweeping = sweepConnections(this.connections, { handshakeMs: limits.handshakeMs, idleMs, keepaliveMs }, log);
    return (this.listener.address() as AddressInfo).port;
  }

  get listening(): boolean {
    return this.listener.listening;
  }

  /**
   * Graceful drain: stop accepting, GOAWAY (NO_ERROR, with the last stream id) on every
   * connection so clients take new calls elsewhere, let open calls finish until `graceMs`, then
   * cut whatever remains — clients that ignore GOAWAY included.
   */
  async drain(graceMs: number): Promise<void> {
    this.closing = true;
    this.stopSweeping();
    this.listener.close();
    for (const c of this.connections) if (!c.session.closed) c.session.close();
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const c of [...this.connections]) c.session.destroy();
  }
}
