// Who calls the cloud API: `authorization: Bearer <login token>` (what the Earthly CLI sends
// after logging in; an API token works too), resolved to the token's organization and its
// creator's role. Verifications are kept for a short while so a build's burst of calls costs
// one lookup, yet a revoked token stops working within seconds.
import type { Metadata } from "@grpc/grpc-js";
import type { Db } from "@satellites/db";
import { looksLikeToken } from "@satellites/tokens";
import { denied, unauthenticated } from "./errors.ts";
import { type Identity, identifyToken } from "./identity.ts";
import { atLeast, type Role } from "./roles.ts";

export type Caller = Identity;

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
  ) {}

  /** The caller, or UNAUTHENTICATED (which makes the Earthly CLI log in again once). */
  async identify(metadata: Metadata): Promise<Caller> {
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
  async require(metadata: Metadata, min: Role, action: string): Promise<Caller> {
    const caller = await this.identify(metadata);
    if (!atLeast(caller.role, min)) throw denied(`only ${WHAT[min]} can ${action}`);
    return caller;
  }

  private lookup(token: string): Promise<Caller | null> {
    return identifyToken(this.db, token);
  }
}
