// The Earthly CLI wakes its satellite through the cloud API's ReserveSatellite and only then dials
// BuildKit through the proxy: its build's Solve never waits, its reserve did. The Earthly API in
// the same process notes each reserve that waited; the first build of the next connection with
// the same actor and satellite takes the wait (one build per reserve, within a minute). A reserve
// answered by another replica is not seen here: that build shows no wait.

/** How long after its reserve a build may still take its wait. */
const CLAIM_WITHIN_MS = 60_000;
/** Bounds what unclaimed reserves can hold (each expires within a minute anyway). */
const MAX_PENDING = 10_000;

export interface ReserveWait {
  /** "token:<id>", as the build's credential names it. */
  actor: string;
  satelliteId: string;
  waitedMs: number;
}

export class ReserveWaits {
  private readonly pending = new Map<string, { waitedMs: number; at: number }[]>();
  private size = 0;

  note(w: ReserveWait): void {
    if (w.waitedMs <= 0) return;
    const now = Date.now();
    if (this.size >= MAX_PENDING) this.expire(now);
    if (this.size >= MAX_PENDING) return;
    const key = keyOf(w.actor, w.satelliteId);
    const list = this.pending.get(key) ?? [];
    list.push({ waitedMs: w.waitedMs, at: now });
    this.pending.set(key, list);
    this.size++;
  }

  /** The oldest unclaimed wait of a recent reserve by `actor` for the satellite, taken; 0 if none. */
  claim(actor: string, satelliteId: string): number {
    const key = keyOf(actor, satelliteId);
    const list = this.pending.get(key);
    if (!list) return 0;
    const now = Date.now();
    let taken = 0;
    while (list.length > 0 && taken === 0) {
      const w = list.shift()!;
      this.size--;
      if (now - w.at <= CLAIM_WITHIN_MS) taken = w.waitedMs;
    }
    if (list.length === 0) this.pending.delete(key);
    return taken;
  }

  private expire(now: number): void {
    for (const [key, list] of this.pending) {
      const kept = list.filter((w) => now - w.at <= CLAIM_WITHIN_MS);
      this.size -= list.length - kept.length;
      if (kept.length === 0) this.pending.delete(key);
      else this.pending.set(key, kept);
    }
  }
}

function keyOf(actor: string, satelliteId: string): string {
  return `${actor}\n${satelliteId}`;
}
