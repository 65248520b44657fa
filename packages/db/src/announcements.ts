// Every announcement a process hears, on one LISTEN connection, fanned out by channel. One
// connection because Postgres delivers its notifications in commit order across channels: a
// revocation committed before a state change is heard before that change, so a stream that
// delivers changes needs no re-read of access per change to stay behind a revocation.
import { type ChannelListener, listenChannels, type ListenOptions } from "./listen.ts";

type Handler = (payload: string) => void;

export class Announcements {
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly resyncs = new Set<() => void>();
  private listener: ChannelListener | undefined;

  private constructor(channels: readonly string[]) {
    for (const channel of channels) this.handlers.set(channel, new Set());
  }

  /**
   * Listens on `channels`, resolving once listening. After a reconnect every `onResync` given to
   * `on` is called: announcements may have been missed meanwhile.
   */
  static async start(databaseUrl: string, channels: readonly string[], opts: Omit<ListenOptions, "onReconnect"> = {}): Promise<Announcements> {
    const hub = new Announcements(channels);
    hub.listener = await listenChannels(
      databaseUrl,
      channels,
      (channel, payload) => {
        // One subscriber's failure (a malformed payload, a bug) must not keep the others deaf.
        for (const fn of hub.handlers.get(channel) ?? []) {
          try {
            fn(payload);
          } catch (err) {
            opts.onError?.(err as Error);
          }
        }
      },
      { ...opts, onReconnect: () => hub.resyncs.forEach((fn) => fn()) },
    );
    return hub;
  }

  /** Hears `channel`'s payloads until the returned function is called. */
  on(channel: string, onPayload: Handler, onResync?: () => void): () => void {
    const set = this.handlers.get(channel);
    // A channel not listened on would hear nothing, silently: a mistake in wiring, said at once.
    if (!set) throw new Error(`not listening on ${channel} (only ${[...this.handlers.keys()].join(", ")})`);
    set.add(onPayload);
    if (onResync) this.resyncs.add(onResync);
    return () => {
      set.delete(onPayload);
      if (onResync) this.resyncs.delete(onResync);
    };
  }

  async close(): Promise<void> {
    for (const set of this.handlers.values()) set.clear();
    this.resyncs.clear();
    await this.listener?.close();
  }
}
