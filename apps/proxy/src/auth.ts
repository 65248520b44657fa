// Who is calling: API tokens checked against their hashes in Postgres, with a short cache so
// steady traffic does not query per call, yet a revoked token stops working within seconds.
// Failures are counted (auth-limiter.ts) and logged in aggregate (refusal-log.ts); a valid token
// is never refused by them.
import type { Db } from "@satellites/db";
import { looksLikeToken, touchToken, verifyToken, type VerifiedToken } from "@satellites/tokens";
import { GrpcError, Status } from "./grpc.ts";
import type { AuthFailureLimiter } from "./auth-limiter.ts";
import type { RefusalLog } from "./refusal-log.ts";

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

interface Entry {
  identity: VerifiedToken | null;
  until: number;
  pending?: Promise<VerifiedToken | null>;
}

export class Authenticator {
  // Keyed by the token itself: it lives only in this process's memory, like the connection's own buffers.
  private readonly cache = new Map<string, Entry>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly limiter: AuthFailureLimiter,
    private readonly refusals: RefusalLog,
    private readonly opts: AuthOptions,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The cached identity of a recently verified token, without waiting; undefined otherwise. */
  cached(token: string): VerifiedToken | undefined {
    const now = Date.now();
    const hit = this.cache.get(token);
    if (!hit || hit.until <= now || !hit.identity) return undefined;
    this.touch(hit.identity.tokenId, now);
    return hit.identity;
  }

  /** The token's organization, or a GrpcError (UNAUTHENTICATED / RESOURCE_EXHAUSTED). */
  async authenticate(token: string, source: string, claim: Claim): Promise<VerifiedToken> {
    const now = Date.now();
    const hit = this.cache.get(token);
    let identity: VerifiedToken | null;
    // The token is checked before any budget: a valid one always passes.
    if (hit && hit.until > now && !hit.pending) identity = hit.identity;
    else if (!looksLikeToken(token)) identity = null;
    else identity = await this.verify(token);
    if (identity) {
      this.touch(identity.tokenId, now);
      return identity;
    }
    const verdict = await this.limiter.failed(source, claim.org, claim.name);
    this.refusals.count(source, verdict.refused);
    if (verdict.refused) {
      const whose = verdict.by === "address" ? "from this address" : "for this satellite";
      throw new AuthFailure(Status.RESOURCE_EXHAUSTED, `too many failed authentications ${whose}; retry in ${verdict.retryAfterSeconds} s`);
    }
    throw new AuthFailure(Status.UNAUTHENTICATED, "invalid, expired or revoked token");
  }

  /** Drops what is cached for a token that was just revoked, so its next call is checked again. */
  forget(tokenId: string): void {
    for (const [k, v] of this.cache) if (v.identity?.tokenId === tokenId) this.cache.delete(k);
  }

  private verify(token: string): Promise<VerifiedToken | null> {
    const existing = this.cache.get(token);
    if (existing?.pending) return existing.pending;
    // Concurrent calls with one token share one query.
    const pending = verifyToken(this.db, token).then(
      (identity) => {
        this.cache.set(token, { identity, until: Date.now() + this.opts.cacheMs });
        if (this.cache.size > 10_000) this.sweep();
        return identity;
      },
      (err: unknown) => {
        this.cache.delete(token);
        throw new GrpcError(Status.UNAVAILABLE, "cannot check the token right now; retry", { cause: err });
      },
    );
    this.cache.set(token, { identity: null, until: 0, pending });
    return pending;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.cache) if (!v.pending && v.until <= now) this.cache.delete(k);
  }

  /** lastUsedAt for the dashboard: at most once a minute per token from this replica. */
  private touch(tokenId: string, now: number): void {
    const last = this.touched.get(tokenId) ?? 0;
    if (now - last < 60_000) return;
    this.touched.set(tokenId, now);
    touchToken(this.db, tokenId).catch(this.onError);
  }
}
