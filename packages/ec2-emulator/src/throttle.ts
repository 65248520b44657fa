// Token buckets per action class, with AWS's published EC2 numbers (per account and Region).
// A request takes one token; an empty bucket answers RequestLimitExceeded.
export type ThrottleClass = "RunInstances" | "StartInstances" | "mutating" | "describe";

export interface TokenRate {
  /** Bucket capacity. */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
}

export const AWS_RATES: Readonly<Record<ThrottleClass, TokenRate>> = {
  RunInstances: { burst: 5, perSecond: 2 },
  StartInstances: { burst: 5, perSecond: 2 },
  mutating: { burst: 50, perSecond: 5 },
  describe: { burst: 100, perSecond: 20 },
};

export function throttleClassOf(action: string): ThrottleClass {
  if (action === "RunInstances" || action === "StartInstances") return action;
  // AWS counts Describe*, Get*, List* and Search* as non-mutating (GetConsoleOutput among them).
  return /^(Describe|Get|List|Search)/.test(action) ? "describe" : "mutating";
}

class Bucket {
  private tokens: number;
  private at = performance.now();
  constructor(readonly rate: TokenRate) {
    this.tokens = rate.burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) / 1000) * this.rate.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  drain(): void {
    this.tokens = 0;
    this.at = performance.now();
  }
}

export class Throttle {
  private readonly buckets = new Map<ThrottleClass, Bucket>();

  constructor(rates: Partial<Record<ThrottleClass, TokenRate | null>> | false = {}) {
    for (const cls of Object.keys(AWS_RATES) as ThrottleClass[]) {
      const rate = rates === false ? null : rates[cls] === undefined ? AWS_RATES[cls] : rates[cls];
      this.set(cls, rate);
    }
  }

  /** Replace one class's bucket (full); null disables throttling for that class. */
  set(cls: ThrottleClass, rate: TokenRate | null): void {
    if (rate) this.buckets.set(cls, new Bucket(rate));
    else this.buckets.delete(cls);
  }

  drain(cls: ThrottleClass): void {
    this.buckets.get(cls)?.drain();
  }

  take(action: string): boolean {
    return this.buckets.get(throttleClassOf(action))?.take() ?? true;
  }
}
