// How long a client connection may live doing nothing useful. Connections cost a socket and
// buffers each: one that never completes its handshake (slowloris), or carries no call for the
// idle time, is let go — idle ones with GOAWAY NO_ERROR, which gRPC clients answer by
// reconnecting when they next need to. One with calls open but silent for the keepalive time is
// sent a PING; a peer that does not answer is gone (a crashed or cut-off machine sends no FIN),
// and its calls end — otherwise their leases would keep the satellite awake, and billed, for good.
import type { Logger } from "pino";
import type { Connection } from "./h2/connection.ts";

export interface Lifetimes {
  handshakeMs: number;
  idleMs: number;
  keepaliveMs: number;
}

/** Checks `connections` a few times per shortest limit; returns the function that stops it. */
export function sweepConnections(connections: ReadonlySet<Connection>, limits: Lifetimes, log: Logger): () => void {
  const pingTimeoutMs = Math.min(limits.keepaliveMs, 20_000);
  const timer = setInterval(() => {
    const now = Date.now();
    for (const c of connections) {
      if (!c.ready) {
        if (now - c.openedAt < limits.handshakeMs) continue;
        log.debug({ source: c.socket.remoteAddress }, "client connection closed: no HTTP/2 handshake");
        c.destroy();
      } else if (c.openStreams === 0) {
        if (!c.draining && now - c.idleSince >= limits.idleMs) c.shutdown();
      } else if (c.pingSentAt && now - c.pingSentAt >= pingTimeoutMs) {
        log.info({ source: c.socket.remoteAddress, calls: c.openStreams }, "client connection closed: no answer to keepalive PING");
        c.destroy(new Error("keepalive PING unanswered"));
      } else if (now - c.lastReadAt >= limits.keepaliveMs) c.ping();
    }
  }, Math.max(100, Math.min(limits.handshakeMs, limits.idleMs, limits.keepaliveMs) / 4));
  timer.unref();
  return () => clearInterval(timer);
}
