// Failed authentications, counted across every proxy replica (rate-limiter-flexible on Redis,
// with an in-memory limiter of the same budget standing in while Redis does not answer).
//
// It never stands between a valid token and its satellite: a token is always checked first, and
// only a call whose token failed is counted, and answered RESOURCE_EXHAUSTED instead of
// UNAUTHENTICATED once a budget is spent. So an abuser behind an address others share (an L4
// balancer, a NAT, a CI egress) spends that address's failure budget, never its colleagues'
// ability to build. Failures are counted under two keys, and either one over budget refuses:
//  - the source address: one client guessing across many organizations and satellites;
//  - the claimed organization and satellite: many addresses guessing at one tenant's satellite.
// The Earthly API's port (a login token, no satellite claimed) spends the address's budget only.
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

export interface AuthLimitOptions {
  /** Failed authentications one source address may make per window. */
  perAddress: number;
  /** Failed authentications against one claimed organization + satellite, from anywhere, per window. */
  perSatellite: number;
  windowSeconds: number;
  /** Redis key prefix: replicas with the same prefix share their budgets. */
  keyPrefix: string;
}

/**
 * The limiter's own Redis connection: it must answer at once or fall back to memory — never
 * queue while Redis is away (no offline queue), nor wait on one that is connected but stalled.
 */
export function limiterConnection(url: string, commandTimeoutMs = 500): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: commandTimeoutMs });
  redis.on("error", () => {}); // reported by the process's main connection; the limiter falls back meanwhile
  return redis;
}

export type FailureVerdict = { refused: false } | { refused: true; by: "address" | "satellite"; retryAfterSeconds: number };

function limiter(redis: Redis, keyPrefix: string, points: number, windowSeconds: number): RateLimiterRedis {
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points,
    duration: windowSeconds,
    // Once over, refused for a whole window: a steady trickle of guesses stays refused.
    blockDuration: windowSeconds,
    // A Redis that is away must not hold calls up or let guesses through: count here meanwhile.
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points, duration: windowSeconds, blockDuration: windowSeconds }),
  });
}

export class AuthFailureLimiter {
  private readonly byAddress: RateLimiterRedis;
  private readonly bySatellite: RateLimiterRedis;

  constructor(redis: Redis, opts: AuthLimitOptions) {
    this.byAddress = limiter(redis, `${opts.keyPrefix}:auth-fail:addr`, opts.perAddress, opts.windowSeconds);
    this.bySatellite = limiter(redis, `${opts.keyPrefix}:auth-fail:sat`, opts.perSatellite, opts.windowSeconds);
  }

  /** Counts one failed authentication from `source` claiming `org`/`satellite`; whether it is over budget. */
  async failed(source: string, org: string, satellite: string): Promise<FailureVerdict> {
    const [address, claim] = await Promise.all([spend(this.byAddress, source), spend(this.bySatellite, `${org}\u0000${satellite}`)]);
    if (address !== undefined) return { refused: true, by: "address", retryAfterSeconds: address };
    if (claim !== undefined) return { refused: true, by: "satellite", retryAfterSeconds: claim };
    return { refused: false };
  }

  /** Counts one failed authentication from `source` that claimed no satellite (the Earthly API). */
  async failedFrom(source: string): Promise<FailureVerdict> {
    const address = await spend(this.byAddress, source);
    return address === undefined ? { refused: false } : { refused: true, by: "address", retryAfterSeconds: address };
  }
}

/** Consumes a point; undefined while within budget, else the seconds until the next one is allowed. */
async function spend(l: RateLimiterRedis, key: string): Promise<number | undefined> {
  try {
    await l.consume(key);
    return undefined;
  } catch (res) {
    if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    // Both Redis and the insurance failed (should not happen): counting is lost, the call is not.
    return undefined;
  }
}
