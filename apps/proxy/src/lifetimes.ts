// How long a client connection may live doing nothing useful. Connections cost a socket and
// nghttp2 state each: one that never completes its handshake (slowloris), or carries no call for
// the idle time, is let go — idle ones with GOAWAY NO_ERROR, which gRPC clients answer by
// reconnecting when they next need to. One with calls open is PINGed every keepalive time; a
// peer that does not answer is gone (a crashed or cut-off machine sends no FIN), and its calls
// end — otherwise their leases would keep the satellite awake, and billed, for good.
import type { Logger } from "pino";
import type { ClientConnection } from "./client-connection.ts";

export interface Lifetimes {
  handshakeMs: number;
  idleMs: number;
  keepaliveMs: number;
}

function keepalive(c: ClientConnection, now: number, limits: Lifetimes, log: Logger): void {
  const pingTimeoutMs = Math.min(limits.keepaliveMs, 20_000);
  if (c.pingSentAt) {
    if (now - c.pingSentAt < pingTimeoutMs) return;
    log.info({ source: c.source, calls: c.calls.size }, "client connection closed: no answer to keepalive PING");
    c.session.destroy(new Error("keepalive PING unanswered"));
    return;
  }
  if (now - c.lastPongAt < limits.keepaliveMs) return;
  c.pingSentAt = now;
  try {
    c.session.ping((err) => {
      if (err) return;
      c.pingSentAt = 0;
      c.lastPongAt = Date.now();
    });
  } catch {
    // Too many PINGs outstanding or the session is closing: the next sweep decides.
  }
}

/** Checks `connections` a few times per shortest limit; returns the function that stops it. */
export function sweepConnections(connections: ReadonlySet<ClientConnection>, limits: Lifetimes, log: Logger): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const c of connections) {
      if (c.gone) continue;
      if (!c.settled) {
        if (now - c.openedAt < limits.handshakeMs) continue;
        log.debug({ source: c.source }, "client connection closed: no HTTP/2 handshake");
        c.session.destroy();
      } else if (c.calls.size === 0) {
        if (now - c.idleSince >= limits.idleMs) c.session.close();
      } else keepalive(c, now, limits, log);
    }
  }, Math.max(100, Math.min(limits.handshakeMs, limits.idleMs, limits.keepaliveMs) / 4));
  timer.unref();
  return () => clearInterval(timer);
}
