// Failed authentications per source address: a token bucket each, so a client guessing tokens
// is slowed to a trickle while a legitimate one that mistyped once is not noticed.
export interface RateLimitOptions {
  /** Failures allowed in a burst. */
  burst: number;
  /** Failures forgiven per second. */
  perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweeps = 0;

  constructor(private readonly opts: RateLimitOptions) {}

  private current(source: string, now: number): Bucket {
    let b = this.buckets.get(source);
    if (!b) {
      b = { tokens: this.opts.burst, at: now };
      this.buckets.set(source, b);
    } else {
      b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.perSecond);
      b.at = now;
    }
    return b;
  }

  /** Whether this source may try to authenticate now. */
  allowed(source: string, now = Date.now()): boolean {
    if (!this.buckets.has(source)) return true;
    return this.current(source, now).tokens >= 1;
  }

  /** Seconds until the next attempt is allowed (for the refusal message). */
  retryAfterSeconds(source: string, now = Date.now()): number {
    const b = this.current(source, now);
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.perSecond));
  }

  recordFailure(source: string, now = Date.now()): void {
    const b = this.current(source, now);
    b.tokens = Math.max(0, b.tokens - 1);
    // Full buckets carry no information; drop them now and then so the map stays small.
    if (++this.sweeps % 1024 === 0) {
      for (const [k, v] of this.buckets) {
        if (v.tokens + ((now - v.at) / 1000) * this.opts.perSecond >= this.opts.burst) this.buckets.delete(k);
      }
    }
  }
}
