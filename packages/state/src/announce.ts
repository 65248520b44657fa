// State changes are announced with Postgres NOTIFY inside the transition's transaction, so
// a listener hears of a change exactly when it is committed, and never of a lost race.
// Prisma has no LISTEN API: listeners hold one plain `pg` connection each.
import pg from "pg";
import type { Cause, State } from "./table.ts";

export const STATE_CHANNEL = "satellite_state";

export interface StateChange {
  id: string;
  orgId: string;
  from: State | null;
  to: State;
  version: number;
  cause: Cause;
  at: string;
  /**
   * The satellite's address after the change, as committed (announcements from `transition`):
   * a waiter for `awake` can route from the announcement without reading the row again.
   */
  upstream?: string | null;
}

export interface StateListener {
  close(): Promise<void>;
}

/**
 * Calls `onChange` for every committed state change. Reconnects with backoff; `onReconnect`
 * tells the caller that announcements may have been missed (drop caches, re-read).
 */
export async function listenStateChanges(
  databaseUrl: string,
  onChange: (change: StateChange) => void,
  opts: { onReconnect?: () => void; onError?: (err: Error) => void } = {},
): Promise<StateListener> {
  let closed = false;
  let client: pg.Client | undefined;
  let delay = 100;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: databaseUrl });
    c.on("notification", (msg) => {
      if (msg.channel !== STATE_CHANNEL || !msg.payload) return;
      try {
        onChange(JSON.parse(msg.payload) as StateChange);
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
    await c.query(`LISTEN ${STATE_CHANNEL}`);
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
