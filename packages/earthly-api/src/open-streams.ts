// The status streams (Wake/Reserve/Sleep) open right now, by the token that opened them: taking
// access away ends them within moments, as it ends the proxy's calls — from the revocation
// announcements, and after the listener reconnects by re-reading the tokens still in use.
import type { Db } from "@satellites/db";
import type { Announcements } from "@satellites/db/announcements";
import { followRevocations } from "@satellites/tokens/revocations";
import type { Caller } from "./caller.ts";
import { type EarthlyApiError, unauthenticated } from "./errors.ts";

export const STREAM_REVOKED = "the token was revoked (or its creator no longer belongs to the organization); log in again";

interface Open {
  caller: Caller;
  end: (err: EarthlyApiError) => void;
}

/** Revoked tokens remembered, oldest dropped first beyond this many (ids are small). */
const MAX_REMEMBERED = 100_000;

export class OpenStreams {
  private readonly open = new Set<Open>();
  /**
   * Tokens whose streams were ended: revocations never come back, and a stream whose caller was
   * identified just before the announcement may register just after it (as the proxy's calls do).
   */
  private readonly revoked = new Set<string>();

  /** Registers a stream; `end` is called at most once, when its caller loses access. Returns its removal. */
  add(caller: Caller, end: (err: EarthlyApiError) => void): () => void {
    if (this.revoked.has(caller.tokenId)) {
      queueMicrotask(() => end(unauthenticated(STREAM_REVOKED)));
      return () => {};
    }
    const entry: Open = { caller, end };
    this.open.add(entry);
    return () => this.open.delete(entry);
  }

  /** Ends every stream matching `which`; how many. */
  endWhere(which: (c: Caller) => boolean): number {
    let n = 0;
    for (const o of [...this.open]) {
      if (!which(o.caller)) continue;
      this.open.delete(o);
      o.end(unauthenticated(STREAM_REVOKED));
      n++;
    }
    return n;
  }

  /** Ends the token's streams and any it registers from now on; how many were open. */
  endToken(tokenId: string): number {
    if (this.revoked.size >= MAX_REMEMBERED) this.revoked.delete(this.revoked.values().next().value!);
    this.revoked.add(tokenId);
    return this.endWhere((c) => c.tokenId === tokenId);
  }

  tokenIds(): string[] {
    return [...new Set([...this.open].map((o) => o.caller.tokenId))];
  }
}

/**
 * Follows the revocation announcements for `streams` (and tells `forget` which token to stop
 * trusting from the verification cache) until the returned function is called.
 */
export function watchStreamRevocations(hub: Announcements, db: Db, streams: OpenStreams, forget: (tokenId: string) => void, onError: (err: unknown) => void): () => void {
  const endToken = (tokenId: string): void => {
    forget(tokenId);
    streams.endToken(tokenId);
  };
  const recheck = async (): Promise<void> => {
    const ids = streams.tokenIds();
    if (ids.length === 0) return;
    const valid = await db.apiToken.findMany({ where: { id: { in: ids }, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] }, select: { id: true } });
    const keep = new Set(valid.map((t) => t.id));
    for (const id of ids) if (!keep.has(id)) endToken(id);
  };
  return followRevocations(
    hub,
    (r) => {
      if (r.kind === "token") endToken(r.tokenId);
      // Removing a member revokes their tokens (announced on their own too); their role is gone now.
      else if (r.kind === "member") streams.endWhere((c) => c.orgId === r.orgId && c.userId === r.userId);
    },
    () => void recheck().catch(onError),
  );
}
