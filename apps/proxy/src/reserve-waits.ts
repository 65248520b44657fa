// The Earthly CLI wakes its satellite through the cloud API's ReserveSatellite and only then dials
// BuildKit through the proxy: its build's Solve never waits, its reserve did. And the CLI (v0.8)
// names no client of its own on BuildKit calls (grpc-go's user agent): its reserve is what says
// the build is Earthly's. The Earthly API in the same process notes each reserve that answered
// OPERATIONAL, with how long it waited (0 when the satellite was awake); the first build of the
// next connection with the same actor and satellite takes it (one build per reserve, within a
// minute). A reserve answered by another replica is not seen here: that build shows no wait, and
// its client as its user agent names it.

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
    const now = Date.now();
    if (this.size >= MAX_PENDING) this.expire(now);
    if (this.size >= MAX_PENDING) return;
    const key = keyOf(w.actor, w.satelliteId);
    const list = this.pending.get(key) ?? [];
    list.push({ waitedMs: w.waitedMs, at: now });
    this.pending.set(key, list);
    this.size++;
  }

  /** The oldest unclaimed recent reserve by `actor` for the satellite, taken: its wait; undefined if none. */
  claim(actor: string, satelliteId: string): number | undefined {
    const key = keyOf(actor, satelliteId);
    const list = this.pending.get(key);
    if (!list) return undefined;
    const now = Date.now();
    let taken: number | undefined;
    while (list.length > 0 && taken === undefined) {
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

/** A build that follows an Earthly reserve, named by its user agent as bare grpc-go (or not at all): the Earthly CLI's. */
export function clientAfterReserve(client: string): string {
  return /^(grpc-go\b|unknown$|other$)/.test(client) ? "earthly" : client;
}
