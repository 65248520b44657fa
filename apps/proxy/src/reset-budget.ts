// Stream resets per source address, whoever sent them: the client's own RST_STREAMs and the
// ones the proxy sends because of what the client did (flow-control violations, refused
// streams). Keyed by address, so reconnecting does not start a fresh budget (rapid reset,
// CVE-2023-44487, done across connections). rate-limiter-flexible's in-memory limiter; nghttp2's
// own per-session reset limit stays underneath.
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

export class ResetBudget {
  private readonly limiter: RateLimiterMemory;
  /** Addresses over budget, until when (ms): checked synchronously for every new connection. */
  private readonly blocked = new Map<string, number>();

  constructor(
    budget: number,
    windowSeconds: number,
    /** Told once each time an address goes over budget. */
    private readonly onExceeded: (address: string) => void,
  ) {
    this.limiter = new RateLimiterMemory({ points: budget, duration: windowSeconds, blockDuration: windowSeconds });
  }

  /** Counts `resets` (one unless said) caused by `address`. */
  count(address: string, resets = 1): void {
    this.limiter.consume(address, resets).catch((res: unknown) => {
      if (!(res instanceof RateLimiterRes)) return;
      const wasBlocked = this.isBlocked(address);
      this.blocked.set(address, Date.now() + res.msBeforeNext);
      if (!wasBlocked) this.onExceeded(address);
    });
  }

  isBlocked(address: string): boolean {
    const until = this.blocked.get(address);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.blocked.delete(address);
    return false;
  }
}
