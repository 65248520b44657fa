// Who calls the cloud API: `authorization: Bearer <login token>` (what the Earthly CLI sends
// after logging in; an API token works too), resolved to the token's organization and its
// creator's role. Verifications are kept for a short while so a build's burst of calls costs
// one lookup, yet a revoked token stops working within seconds. A call that fails to
// authenticate is counted against its address's failure budget (the proxy's, shared by every
// replica and with the proxy's own port): over it, RESOURCE_EXHAUSTED instead of UNAUTHENTICATED.
// A valid token is checked first and never refused.
import { type Metadata, status } from "@grpc/grpc-js";
import { addressKey } from "@satellites/config";
import type { Db } from "@satellites/db";
import { looksLikeToken } from "@satellites/tokens";
import { denied, EarthlyApiError, exhausted, unauthenticated } from "./errors.ts";
import { peerAddress } from "./peer.ts";
import { type Identity, identifyToken } from "./identity.ts";
import { atLeast, type Role } from "./roles.ts";

export type Caller = Identity;

/** A call as far as identifying its caller goes. */
export interface CallerCall {
  metadata: Metadata;
  getPeer(): string;
}

/** Failed authentications counted per source address (an addressKey). */
export interface AuthFailures {
  failed(source: string): Promise<{ refused: false } | { refused: true; retryAfterSeconds: number }>;
}

interface Entry {
  caller: Caller | null;
  until: number;
}

const WHAT: Record<Role, string> = { member: "members", admin: "admins and owners", owner: "owners" };

export class Callers {
  private readonly cache = new Map<string, Entry>();
  /** Moves on every forget(): a lookup that began before a revocation is not cached after it. */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly cacheMs = 2_000,
    private readonly failures?: AuthFailures,
  ) {}

  /** The caller; UNAUTHENTICATED (which makes the Earthly CLI log in again once), or RESOURCE_EXHAUSTED past the address's failure budget. */
  async identify(call: CallerCall): Promise<Caller> {
    try {
      return await this.verify(call.metadata);
    } catch (err) {
      if (!this.failures || !(err instanceof EarthlyApiError) || err.code !== status.UNAUTHENTICATED) throw err;
      const verdict = await this.failures.failed(addressKey(peerAddress(call) ?? undefined));
      if (verdict.refused) throw exhausted(`too many failed authentications from this address; retry in ${verdict.retryAfterSeconds} s`);
      throw err;
    }
  }

  private async verify(metadata: Metadata): Promise<Caller> {
    const header = metadata.get("authorization")[0];
    const token = typeof header === "string" ? header.match(/^Bearer\s+(\S+)\s*$/i)?.[1] : undefined;
    if (!token) throw unauthenticated("missing `authorization: Bearer <token>`; run `earthly account login`");
    // Not a token's shape: refused without a lookup, and never cached (a cache of whatever
    // strings callers send, up to the header limit each, would be theirs to fill).
    if (!looksLikeToken(token)) throw unauthenticated("token is invalid, expired or revoked; log in again");
    const now = Date.now();
    let hit = this.cache.get(token);
    if (!hit || hit.until <= now) {
      const generation = this.generation;
      hit = { caller: await this.lookup(token), until: now + this.cacheMs };
      if (generation === this.generation) {
        if (this.cache.size > 10_000) this.cache.clear();
        this.cache.set(token, hit);
      }
    }
    if (!hit.caller) throw unauthenticated("token is invalid, expired or revoked; log in again");
    return hit.caller;
  }

  /** Verifications cached now. */
  get size(): number {
    return this.cache.size;
  }

  /** Stops trusting every cached verification of the token `tokenId` (it was revoked). */
  forget(tokenId: string): void {
    this.generation++;
    for (const [token, hit] of this.cache) if (hit.caller?.tokenId === tokenId) this.cache.delete(token);
  }

  /** The caller, who must have at least `min` to `action`. */
  async require(call: CallerCall, min: Role, action: string): Promise<Caller> {
    const caller = await this.identify(call);
    if (!atLeast(caller.role, min)) throw denied(`only ${WHAT[min]} can ${action}`);
    return caller;
  }

  private lookup(token: string): Promise<Caller | null> {
    return identifyToken(this.db, token);
  }
}
