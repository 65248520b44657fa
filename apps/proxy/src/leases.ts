// This replica's side of the active-stream lease contract (@satellites/queue leases.ts): a
// lease per satellite while calls to it are open, refreshed on a timer rather than per call,
// kept for a short linger after the last call so steady traffic writes Redis only on the
// timer, then released. Last activity is written at call start, throttled; the close of the
// last open call (idle time is measured from there) is written when the linger ends, just
// before the lease is released: while the lease lives the idle scan leaves the satellite
// alone, so the close need not cost a Postgres write per call (calls one after another at one
// in flight did: issue 12's profile). The lease also says whether a call is open or it only
// lingers: written when a call opens on a lingering lease, and STREAM_SETTLE_MS after the last
// close unless a call opens meanwhile (so calls one after another write nothing); a manual
// sleep waits out a linger, and counts a call as open only if the lease says so for
// STREAM_OPEN_CONFIRM_MS.
import type { Db } from "@satellites/db";
import { ACTIVITY_WRITE_INTERVAL_MS, holdLease, LEASE_REFRESH_MS, LEASE_TTL_MS, releaseLease, STREAM_SETTLE_MS, touchActivity } from "@satellites/queue";
import type { Redis } from "ioredis";

export interface LeaseOptions {
  ttlMs: number;
  refreshMs: number;
  /** How long the lease outlives the last open call. */
  lingerMs: number;
  /** How long after the last open call closed the lease is written as lingering (unless a call opens meanwhile). */
  settleMs: number;
}

const WRITE_TIMEOUT_MS = 1000;

export const DEFAULT_LEASES: LeaseOptions = { ttlMs: LEASE_TTL_MS, refreshMs: LEASE_REFRESH_MS, lingerMs: LEASE_REFRESH_MS, settleMs: STREAM_SETTLE_MS };

interface Held {
  open: number;
  /** Local time until which the lease is certainly live (measured from before the write). */
  liveUntil: number;
  lingerUntil: number;
  lastTouch: number;
  /** When the last open call closed, until that is written (at the end of the linger). */
  closedAt: number | undefined;
  /** The close is being written, the lease to be released after it unless a call opens meanwhile. */
  releasing: boolean;
  writing: Promise<void> | undefined;
  /** performance.now() when the latest write settled: state read after it sees the lease. */
  settledAt: number;
  timer: NodeJS.Timeout | undefined;
  /** Pending: the lease to be written as lingering (no call open), unless a call opens first. */
  settle: NodeJS.Timeout | undefined;
}

/** Drops a pending settle; whether one was pending. */
function cancelSettle(h: Held): boolean {
  if (!h.settle) return false;
  clearTimeout(h.settle);
  h.settle = undefined;
  return true;
}

export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly db: Db,
    readonly replicaId: string,
    private readonly opts: LeaseOptions,
    private readonly onError: (err: unknown, satelliteId: string) => void,
  ) {}

  /**
   * Counts a call as open on the satellite and makes sure the lease is written. Resolves to
   * undefined when the lease was already live before this call — the caller may trust cached
   * state; otherwise it was (re)written just now, and it resolves to the moment the write
   * settled (performance.now()): the state must be read fresh, by a query begun after that.
   */
  async open(satelliteId: string): Promise<number | undefined> {
    let h = this.held.get(satelliteId);
    if (!h) {
      h = { open: 0, liveUntil: 0, lingerUntil: 0, lastTouch: 0, closedAt: undefined, releasing: false, writing: undefined, settledAt: 0, timer: undefined, settle: undefined };
      this.held.set(satelliteId, h);
    }
    h.open++;
    this.touch(satelliteId, h);
    // A margin of one refresh period: the timer renews well before this point.
    if (h.liveUntil - Date.now() > this.opts.refreshMs) {
      if (h.open === 1) this.reopen(satelliteId, h);
      return undefined;
    }
    await this.write(satelliteId, h);
    if (!h.timer && !this.closed) {
      h.timer = setInterval(() => this.refresh(satelliteId), this.opts.refreshMs);
      h.timer.unref();
    }
    return h.settledAt;
  }

  /** Counts a call as open only if the lease is certainly live already (the no-wait path). */
  tryOpen(satelliteId: string): boolean {
    const h = this.held.get(satelliteId);
    if (!h || h.liveUntil - Date.now() <= this.opts.refreshMs) return false;
    h.open++;
    this.touch(satelliteId, h);
    if (h.open === 1) this.reopen(satelliteId, h);
    return true;
  }

  close(satelliteId: string): void {
    const h = this.held.get(satelliteId);
    if (!h) return;
    h.open = Math.max(0, h.open - 1);
    if (h.open > 0) return this.touch(satelliteId, h);
    const now = Date.now();
    h.lingerUntil = now + this.opts.lingerMs;
    // The lease only lingers now, written so in a moment unless a call opens first; and idle
    // time starts now, whatever the throttles say (written when the linger ends, see the top).
    cancelSettle(h);
    h.settle = setTimeout(() => {
      h.settle = undefined;
      if (h.open === 0 && this.held.get(satelliteId) === h) this.rewrite(satelliteId, h);
    }, this.opts.settleMs);
    h.settle.unref();
    h.lastTouch = now;
    h.closedAt = now;
  }

  /** Calls open per satellite, for metrics. */
  openCalls(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [id, h] of this.held) if (h.open > 0) out.set(id, h.open);
    return out;
  }

  /** The first call open again: a lingering lease becomes an open call's; one whose lingering was not written yet still says so. */
  private reopen(satelliteId: string, h: Held): void {
    if (!cancelSettle(h)) this.rewrite(satelliteId, h);
  }

  /** A write after any in flight, so it carries whether a call is open as of now. */
  private rewrite(satelliteId: string, h: Held): void {
    void (h.writing ?? Promise.resolve()).then(() => this.write(satelliteId, h));
  }

  private write(satelliteId: string, h: Held): Promise<void> {
    // Concurrent first calls share one write.
    h.writing ??= (async () => {
      // This write says whether a call is open as of now: a lingering one still to be written is too.
      cancelSettle(h);
      const start = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        // Redis unreachable must not stall calls: the client would otherwise queue the write forever.
        await Promise.race([
          holdLease(this.redis, satelliteId, this.replicaId, this.opts.ttlMs, h.open > 0),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error("lease write timed out")), WRITE_TIMEOUT_MS);
          }),
        ]);
        h.liveUntil = start + this.opts.ttlMs;
      } catch (err) {
        // Without Redis there is no lease to write; serve anyway and say so in the log.
        this.onError(err, satelliteId);
      } finally {
        clearTimeout(timer);
        h.settledAt = performance.now();
        h.writing = undefined;
      }
    })();
    return h.writing;
  }

  private refresh(satelliteId: string): void {
    const h = this.held.get(satelliteId);
    if (!h) return;
    if (h.open > 0 || Date.now() < h.lingerUntil) {
      // A long build shows as active on the dashboard, not just at its start.
      if (h.open > 0) this.touch(satelliteId, h);
      void this.write(satelliteId, h);
      return;
    }
    if (h.releasing) return;
    h.releasing = true;
    void this.recordClose(satelliteId, h).then(() => {
      h.releasing = false;
      // A call that opened meanwhile has the lease again (its write said so): the timer keeps it.
      if (h.open > 0 || Date.now() < h.lingerUntil || this.held.get(satelliteId) !== h) return;
      clearInterval(h.timer);
      cancelSettle(h);
      this.held.delete(satelliteId);
      // In the same turn as the delete, so a call opening after it writes its lease after this
      // release (one Redis connection keeps the order). Idle scans can act right away instead of
      // waiting out the TTL, and they see the close already written.
      releaseLease(this.redis, satelliteId, this.replicaId).catch((err: unknown) => this.onError(err, satelliteId));
    });
  }

  /** Writes the last close as last activity, if not yet written. */
  private async recordClose(satelliteId: string, h: Held): Promise<void> {
    const at = h.closedAt;
    if (at === undefined) return;
    h.closedAt = undefined;
    await touchActivity(this.db, satelliteId, 0, new Date(at)).catch((err: unknown) => this.onError(err, satelliteId));
  }

  private touch(satelliteId: string, h: Held): void {
    const now = Date.now();
    if (now - h.lastTouch < ACTIVITY_WRITE_INTERVAL_MS) return;
    h.lastTouch = now;
    touchActivity(this.db, satelliteId).catch((err: unknown) => this.onError(err, satelliteId));
  }

  /** Shutdown: stop refreshing and release every lease this replica holds. */
  async shutdown(): Promise<void> {
    this.closed = true;
    const held = [...this.held];
    for (const [, h] of held) {
      clearInterval(h.timer);
      cancelSettle(h);
    }
    this.held.clear();
    const ids = held.map(([id]) => id);
    // Closes not yet written are on record before the leases go.
    await Promise.all(held.map(([id, h]) => this.recordClose(id, h)));
    await Promise.all(ids.map((id) => releaseLease(this.redis, id, this.replicaId).catch(() => {})));
  }
}
