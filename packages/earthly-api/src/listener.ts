// The Earthly API's port, as guarded as the proxy's front door (it is as exposed, in the same
// process): grpc-js has no connection limits of its own, so a plain TCP listener takes each
// connection, counts it per source address and in all, and hands it to grpc-js (its connection
// injector, which does the TLS and HTTP/2). The HTTP/2 limits are grpc-js's server options.
import net from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { addressKey } from "@satellites/config";

export interface PortLimits {
  /** Connections from all addresses together; beyond it a new one is closed at accept. */
  maxConnections: number;
  /** Connections from one source address. */
  maxConnectionsPerAddress: number;
  /** A connection that has sent nothing by then (no TLS or HTTP/2 handshake) is closed. */
  handshakeTimeoutMs: number;
}

/** grpc-js's own limits per connection: streams, nghttp2's memory, idle connections. */
export function serverOptions(idleTimeoutMs: number): grpc.ServerOptions {
  return {
    "grpc.max_concurrent_streams": 100,
    // A message is buffered whole before any handler or the caller check sees it: Earthly's are
    // a few KiB (a log chunk at most tens), so 1 MiB, refused as soon as its length is announced.
    "grpc.max_receive_message_length": 1 << 20,
    // MiB of nghttp2's accounting per session (HPACK state, queued frames): floods get GOAWAY.
    "grpc-node.max_session_memory": 16,
    // A connection with no call for this long gets GOAWAY; the CLI reconnects when it needs to.
    "grpc.max_connection_idle_ms": idleTimeoutMs,
    // Dead peers are noticed instead of holding a connection slot for good.
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
  };
}

export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port and hands every connection within the limits to `server`. */
export async function listen(server: grpc.Server, credentials: grpc.ServerCredentials, host: string, port: number, limits: PortLimits): Promise<Listening> {
  const injector = server.createConnectionInjector(credentials);
  const perAddress = new Map<string, number>();
  let total = 0;
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    const source = addressKey(socket.remoteAddress);
    const mine = perAddress.get(source) ?? 0;
    if (total >= limits.maxConnections || mine >= limits.maxConnectionsPerAddress) {
      socket.destroy();
      return;
    }
    total++;
    perAddress.set(source, mine + 1);
    sockets.add(socket);
    socket.once("close", () => {
      total--;
      sockets.delete(socket);
      const left = (perAddress.get(source) ?? 1) - 1;
      if (left > 0) perAddress.set(source, left);
      else perAddress.delete(source);
    });
    // Counted, not listened for: a 'data' listener would take bytes meant for TLS or HTTP/2.
    const silent = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, limits.handshakeTimeoutMs);
    silent.unref();
    socket.once("close", () => clearTimeout(silent));
    injector.injectConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  return {
    port: (tcp.address() as net.AddressInfo).port,
    async close() {
      injector.destroy();
      await new Promise<void>((resolve) => {
        tcp.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
