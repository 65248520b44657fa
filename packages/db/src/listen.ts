// Postgres LISTEN, for announcements sent with NOTIFY inside the transaction of the change they
// describe. Prisma has no LISTEN API: a listener holds one plain `pg` connection for all its
// channels and reconnects with backoff; `onReconnect` says announcements may have been missed.
// One connection, because Postgres delivers a connection's notifications in the order their
// transactions committed, whatever the channel; two connections promise nothing between them.
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

/**
 * Named after the process and its channels, so an operator (or a test) can tell listeners apart
 * in pg_stat_activity. Postgres keeps 63 bytes of it.
 */
export function applicationName(channels: readonly string[]): string {
  return `satellites-listen:${process.pid}:${channels.join(",")}`.slice(0, 63);
}

/** Ends a client without waiting on a socket that may never answer again. */
function drop(c: pg.Client): void {
  (c as unknown as Destroyable).connection?.stream?.destroy();
  void c.end().catch(() => {});
}

/**
 * Calls `onPayload` with every payload sent on `channels`, all on one connection and in commit
 * order; resolves once listening. A LISTEN connection can die silently (a NAT or firewall
 * forgets it, a host vanishes): TCP keepalive and a periodic health query find that out within
 * seconds; the listener then reconnects with backoff and calls `onReconnect`.
 */
export async function listenChannels(databaseUrl: string, channels: readonly string[], onPayload: (channel: string, payload: string) => void, opts: ListenOptions = {}): Promise<ChannelListener> {
  if (channels.length === 0) throw new Error("no channel to listen on");
  for (const channel of channels) if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
  const listener = new Listener(databaseUrl, [...new Set(channels)], onPayload, opts);
  await listener.connect();
  return listener;
}

/** One listening connection for a set of channels, replaced with backoff whenever it is lost. */
class Listener implements ChannelListener {
  private closed = false;
  private client: pg.Client | undefined;
  private health: NodeJS.Timeout | undefined;
  private delay = 100;
  private readonly healthIntervalMs: number;
  private readonly healthTimeoutMs: number;

  constructor(
    private readonly databaseUrl: string,
    private readonly channels: readonly string[],
    private readonly onPayload: (channel: string, payload: string) => void,
    private readonly opts: ListenOptions,
  ) {
    this.healthIntervalMs = opts.healthIntervalMs ?? 10_000;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? 5_000;
  }

  async connect(): Promise<void> {
    const { channels, healthIntervalMs, healthTimeoutMs } = this;
    const c = new pg.Client({ connectionString: this.databaseUrl, application_name: applicationName(channels), keepAlive: true, keepAliveInitialDelayMillis: healthIntervalMs, connectionTimeoutMillis: healthTimeoutMs * 2 });
    c.on("notification", (msg) => {
      if (!channels.includes(msg.channel) || !msg.payload) return;
      try {
        this.onPayload(msg.channel, msg.payload);
      } catch (err) {
        this.opts.onError?.(err as Error);
      }
    });
    c.on("error", (err) => this.lost(c, err));
    c.on("end", () => this.lost(c, new Error(`LISTEN ${this.label}: connection ended`)));
    try {
      await c.connect();
      for (const channel of channels) await c.query(`LISTEN ${channel}`);
    } catch (err) {
      drop(c);
      throw err;
    }
    if (this.closed) return drop(c);
    this.client = c;
    this.delay = 100;
    this.health = setInterval(() => void this.check(c), healthIntervalMs);
    this.health.unref();
  }

  private get label(): string {
    return this.channels.join(", ");
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.health);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }

  /** Only the current connection's loss leads to a reconnect, and only once. */
  private lost(c: pg.Client, err: Error): void {
    if (c !== this.client) return;
    this.client = undefined;
    clearInterval(this.health);
    this.opts.onError?.(err);
    drop(c);
    if (!this.closed) setTimeout(() => void this.reconnect(), this.pause());
  }

  private async check(c: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        c.query("SELECT 1"),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`LISTEN ${this.label}: health query unanswered after ${this.healthTimeoutMs} ms`)), this.healthTimeoutMs);
        }),
      ]);
    } catch (err) {
      this.lost(c, err as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The next wait before reconnecting: the backoff, jittered to between half and all of it, so
   * that every process listening to a restarted Postgres does not knock at the same moment.
   */
  private pause(): number {
    return this.delay / 2 + Math.random() * (this.delay / 2);
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    try {
      await this.connect();
      this.opts.onReconnect?.();
    } catch (err) {
      this.opts.onError?.(err as Error);
      this.delay = Math.min(this.delay * 2, 5000);
      setTimeout(() => void this.reconnect(), this.pause());
    }
  }
}
