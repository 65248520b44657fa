// State announcements, fanned out to any number of waiters and subscribers, from the process's
// one LISTEN connection (Announcements) or, where nothing else is heard, one of its own.
// Waiting is "subscribe, then check, then re-check on every announcement for that satellite",
// so a change that lands between the first read and the subscription is never missed.
import { Announcements } from "@satellites/db/announcements";
import { type ListenOptions, STATE_CHANNEL, type StateChange, stateChangeOf } from "./announce.ts";

export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
}

export class StateWatcher {
  private readonly subscribers = new Set<(c: StateChange) => void>();
  private readonly resyncs = new Set<() => void>();
  private readonly unsubscribe: () => void;

  /** Hears `hub`'s state channel; `owned`: the hub is the watcher's own, closed with it. */
  constructor(
    private readonly hub: Announcements,
    private readonly owned = false,
  ) {
    this.unsubscribe = hub.on(
      STATE_CHANNEL,
      (payload) => {
        const c = stateChangeOf(payload);
        for (const fn of this.subscribers) fn(c);
      },
      // After a reconnect announcements may have been missed: every waiter re-checks.
      () => this.resyncs.forEach((fn) => fn()),
    );
  }

  /** A watcher on a LISTEN connection of its own. */
  static async start(databaseUrl: string, onError?: (err: Error) => void, health?: Pick<ListenOptions, "healthIntervalMs" | "healthTimeoutMs">): Promise<StateWatcher> {
    const hub = await Announcements.start(databaseUrl, [STATE_CHANNEL], { ...(onError ? { onError } : {}), ...health });
    return new StateWatcher(hub, true);
  }

  subscribe(fn: (c: StateChange) => void, onResync?: () => void): () => void {
    this.subscribers.add(fn);
    if (onResync) this.resyncs.add(onResync);
    return () => {
      this.subscribers.delete(fn);
      if (onResync) this.resyncs.delete(onResync);
    };
  }

  /**
   * Resolves with the first defined value `check` returns: once right away, then after every
   * announcement about `satelliteId`, which it is given (undefined for the first check and after
   * a reconnect: read the state yourself). Rejects with WaitTimeoutError after `timeoutMs`, or
   * with the signal's reason when aborted.
   */
  async waitUntil<T>(satelliteId: string, check: (change?: StateChange) => Promise<T | undefined>, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let running = false;
      let again = false;
      /** The latest announcement heard while a check ran; undefined after a resync. */
      let next: StateChange | undefined;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        opts.signal?.removeEventListener("abort", onAbort);
        fn();
      };
      // Checks never overlap; a change during a check triggers one more, with the latest change.
      const run = async (change?: StateChange): Promise<void> => {
        if (done) return;
        if (running) {
          again = true;
          next = change;
          return;
        }
        running = true;
        try {
          let current = change;
          do {
            again = false;
            const v = await check(current);
            if (v !== undefined) return finish(() => resolve(v));
            current = next;
            next = undefined;
          } while (again && !done);
        } catch (err) {
          finish(() => reject(err));
        } finally {
          running = false;
        }
      };
      const onAbort = () => finish(() => reject(opts.signal?.reason ?? new Error("aborted")));
      const timer = setTimeout(() => finish(() => reject(new WaitTimeoutError(`timed out after ${opts.timeoutMs} ms`))), opts.timeoutMs);
      const unsubscribe = this.subscribe(
        (c) => {
          if (c.id === satelliteId) void run(c);
        },
        () => void run(),
      );
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      void run();
    });
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.subscribers.clear();
    this.resyncs.clear();
    if (this.owned) await this.hub.close();
  }
}
