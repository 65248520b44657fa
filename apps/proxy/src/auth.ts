// Who is calling: API tokens checked against their hashes in Postgres, with a short cache
// (verified-cache.ts) so steady traffic does not query per call, yet a revoked token stops
// working within seconds.
// Failures are counted (auth-limiter.ts) and logged in aggregate (refusal-log.ts); a valid token
// is never refused by them.
import type { Db } from "@satellites/db";
import { looksLikeToken, touchToken, verifyToken, type VerifiedToken } from "@satellites/tokens";
import { GrpcError, Status } from "./grpc.ts";
import type { AuthFailureLimiter, FailureVerdict } from "./auth-limiter.ts";
import type { RefusalLog } from "./refusal-log.ts";
import { UsageTouches, VerifiedCache } from "./verified-cache.ts";

/** A refusal for a failed authentication: counted and logged in aggregate, not one line per call. */
export class AuthFailure extends GrpcError {}

/** What a call claims to reach: failures are also counted per claimed satellite. */
export interface Claim {
  org: string;
  name: string;
}

export interface AuthOptions {
  /** How long a verification (either way) is trusted; revocation takes effect within this. */
  cacheMs: number;
}

export class Authenticator {
  private readonly cache: VerifiedCache<VerifiedToken | null>;
  private readonly touches: UsageTouches;

  constructor(
    private readonly db: Db,
    private readonly limiter: AuthFailureLimiter,
    private readonly refusals: RefusalLog,
    opts: AuthOptions,
    onError: (err: unknown) => void,
  ) {
    this.cache = new VerifiedCache(opts.cacheMs, "cannot check the token right now; retry");
    this.touches = new UsageTouches((id) => touchToken(db, id), onError);
  }

  /** The cached identity of a recently verified token, without waiting; undefined otherwise. */
  cached(token: string): VerifiedToken | undefined {
    const now = Date.now();
    const identity = this.cache.fresh(token, now)?.answer;
    if (!identity || stopped(identity, now)) return undefined;
    this.touches.touch(identity.tokenId, now);
    return identity;
  }

  /** The token's organization, or a GrpcError (UNAUTHENTICATED / RESOURCE_EXHAUSTED). */
  async authenticate(token: string, source: string, claim: Claim): Promise<VerifiedToken> {
    const now = Date.now();
    const hit = this.cache.fresh(token, now);
    // The token is checked before any budget: a valid one always passes.
    const identity = hit ? hit.answer : looksLikeToken(token) ? await this.cache.check(token, () => verifyToken(this.db, token), null) : null;
    // A cached answer outlives the token's expiry by up to the cache's time: not one call more.
    if (identity && !stopped(identity, now)) {
      this.touches.touch(identity.tokenId, now);
      return identity;
    }
    throw this.failure(source, await this.limiter.failed(source, claim.org, claim.name), "invalid, expired or revoked token");
  }

  /**
   * A call refused before any token could be checked (no credentials; a token not shaped like
   * one): it spends the address's budget like a wrong token, and is counted, not logged alone.
   */
  async unreadable(source: string, reason: string): Promise<AuthFailure> {
    return this.failure(source, await this.limiter.failedFrom(source), reason);
  }

  private failure(source: string, verdict: FailureVerdict, reason: string): AuthFailure {
    this.refusals.count(source, verdict.refused);
    if (!verdict.refused) return new AuthFailure(Status.UNAUTHENTICATED, reason);
    const whose = verdict.by === "address" ? "from this address" : "for this satellite";
    return new AuthFailure(Status.RESOURCE_EXHAUSTED, `too many failed authentications ${whose}; retry in ${verdict.retryAfterSeconds} s`);
  }

  /** Drops what is cached for a token that was just revoked, so its next call is checked again. */
  forget(tokenId: string): void {
    this.cache.forget((identity) => identity?.tokenId === tokenId);
  }
}

function stopped(identity: VerifiedToken, now: number): boolean {
  return identity.stopsAt !== null && identity.stopsAt.getTime() <= now;
}
