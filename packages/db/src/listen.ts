// Postgres LISTEN on one channel, for announcements sent with NOTIFY inside the transaction of
// the change they describe. Prisma has no LISTEN API: each listener holds one plain `pg`
// connection and reconnects with backoff; `onReconnect` says announcements may have been missed.
import pg from "pg";

export interface ChannelListener {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Announcements may have been missed (reconnected after a loss): drop caches, re-read. */
  onReconnect?: () => void;
  onError?: (err: Error) => void;
  /** A health query this often proves the connection alive (default 10 s). */
  healthIntervalMs?: number;
  /** A health query unanswered this long means the connection is dead (default 5 s). */
  healthTimeoutMs?: number;
}

type Destroyable = { connection?: { stream?: { destroy(): void } } };

/** Ends a client without waiting on a socket that may never answer again. */
function drop(c: pg.Client): void {
  (c as unknown as Destroyable).connection?.stream?.destroy();
  void c.end().catch(() => {});
}

/**
 * Calls `onPayload` with every payload sent on `channel`; resolves once listening. A LISTEN
 * connection can die silently (a NAT or firewall forgets it, a host vanishes): TCP keepalive
 * and a periodic health query find that out within seconds; the listener then reconnects with
 * backoff and calls `onReconnect`.
 */
export async function listenChannel(databaseUrl: string, channel: string, onPayload: (payload: string) => void, opts: ListenOptions = {}): Promise<ChannelListener> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
  const healthIntervalMs = opts.healthIntervalMs ?? 10_000;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 5_000;
  let closed = false;
  let client: pg.Client | undefined;
  let health: NodeJS.Timeout | undefined;
  let delay = 100;

  /** Only the current connection's loss leads to a reconnect, and only once. */
  const lost = (c: pg.Client, err: Error): void => {
    if (c !== client) return;
    client = undefined;
    clearInterval(health);
    opts.onError?.(err);
    drop(c);
    if (!closed) setTimeout(() => void reconnect(), delay);
  };

  const check = async (c: pg.Client): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query("SELECT 1"),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`LISTEN ${channel}: health query unanswered after ${healthTimeoutMs} ms`)), healthTimeoutMs);
        }),
      ]);
    } catch (err) {
      lost(c, err as Error);
    } finally {
      clearTimeout(timer);
    }
  };

  const connect = async (): Promise<void> => {
    // Named, so an operator (or a test) can tell the listeners apart in pg_stat_activity.
    const c = new pg.Client({ connectionString: databaseUrl, application_name: `satellites-listen:${channel}`, keepAlive: true, keepAliveInitialDelayMillis: healthIntervalMs, connectionTimeoutMillis: healthTimeoutMs * 2 });
    c.on("notification", (msg) => {
      if (msg.channel !== channel || !msg.payload) return;
      try {
        onPayload(msg.payload);
      } catch (err) {
        opts.onError?.(err as Error);
      }
    });
    c.on("error", (err) => lost(c, err));
    c.on("end", () => lost(c, new Error(`LISTEN ${channel}: connection ended`)));
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      drop(c);
      throw err;
    }
    if (closed) return drop(c);
    client = c;
    delay = 100;
    health = setInterval(() => void check(c), healthIntervalMs);
    health.unref();
  };

  const reconnect = async (): Promise<void> => {
    if (closed) return;
    try {
      await connect();
      opts.onReconnect?.();
    } catch (err) {
      opts.onError?.(err as Error);
      delay = Math.min(delay * 2, 5000);
      setTimeout(() => void reconnect(), delay);
    }
  };

  await connect();
  return {
    async close() {
      closed = true;
      clearInterval(health);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
