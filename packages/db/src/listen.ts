// Postgres LISTEN on one channel, for announcements sent with NOTIFY inside the transaction of
// the change they describe. Prisma has no LISTEN API: each listener holds one plain `pg`
// connection and reconnects with backoff; `onReconnect` says announcements may have been missed.
import pg from "pg";

export interface ChannelListener {
  close(): Promise<void>;
}

export interface ListenOptions {
  onReconnect?: () => void;
  onError?: (err: Error) => void;
}

/** Calls `onPayload` with every payload sent on `channel`; resolves once listening. */
export async function listenChannel(databaseUrl: string, channel: string, onPayload: (payload: string) => void, opts: ListenOptions = {}): Promise<ChannelListener> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
  let closed = false;
  let client: pg.Client | undefined;
  let delay = 100;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    c.on("notification", (msg) => {
      if (msg.channel !== channel || !msg.payload) return;
      try {
        onPayload(msg.payload);
      } catch (err) {
        opts.onError?.(err as Error);
      }
    });
    c.on("error", (err) => {
      opts.onError?.(err);
      void c.end().catch(() => {});
      if (!closed) setTimeout(() => void reconnect(), delay);
    });
    await c.connect();
    await c.query(`LISTEN ${channel}`);
    client = c;
    delay = 100;
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
      await client?.end().catch(() => {});
    },
  };
}
