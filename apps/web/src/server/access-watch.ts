// For long-lived streams (satellite.watch over SSE): notices, from the database's revocation
// announcements, the moment the caller's access is taken away — its token revoked, its session
// ended (sign-out, revoked elsewhere, account deleted), or the person (or the token's creator)
// removed from the organization — so the stream ends within moments instead of at its next
// periodic check. Revocations and state changes come on the process's one LISTEN connection, in
// commit order: a change committed after a revocation is heard after it, so a change needs no
// re-read of access before it goes out. Access is re-read after the listener reconnects
// (announcements may have been missed) and now and then as a backstop.
import type { Announcements } from "@satellites/db/announcements";
import { followRevocations, type Revocation } from "@satellites/tokens/revocations";
import { TRPCError } from "@trpc/server";
import { roleIn, stillAllowed } from "./access.ts";
import { db } from "./services.ts";
import type { Principal } from "./trpc.ts";

const TOKEN_REVOKED = "This API token was revoked (or its creator left the organization); the stream has ended";
const SESSION_ENDED = "Your session has ended; sign in again";
const NO_LONGER_MEMBER = "You are no longer a member of this organization";

/** What `r` takes away from `p` watching `orgId` (undefined while not yet known), as the error to end with. */
export function revocationError(p: Principal, orgId: string | undefined, r: Revocation): TRPCError | null {
  if (p.kind === "token") {
    if (r.kind === "token" && r.tokenId === p.tokenId) return new TRPCError({ code: "UNAUTHORIZED", message: TOKEN_REVOKED });
    if (r.kind === "member" && r.orgId === p.orgId && r.userId === p.createdById) return new TRPCError({ code: "UNAUTHORIZED", message: TOKEN_REVOKED });
    return null;
  }
  if (r.kind === "session" && r.sessionId === p.sessionId) return new TRPCError({ code: "UNAUTHORIZED", message: SESSION_ENDED });
  if (r.kind === "member" && r.userId === p.userId && r.orgId === orgId) return new TRPCError({ code: "FORBIDDEN", message: NO_LONGER_MEMBER });
  return null;
}

/** What has taken `p`'s access to `orgId` away, read from the database (session included); null while it holds. */
export async function accessLost(p: Principal, orgId: string): Promise<TRPCError | null> {
  if (p.kind === "token") return (await stillAllowed(p, orgId)) ? null : new TRPCError({ code: "UNAUTHORIZED", message: TOKEN_REVOKED });
  const s = await db().session.findUnique({ where: { id: p.sessionId }, select: { expiresAt: true } });
  if (!s || s.expiresAt <= new Date()) return new TRPCError({ code: "UNAUTHORIZED", message: SESSION_ENDED });
  return (await roleIn(p, orgId)) !== null ? null : new TRPCError({ code: "FORBIDDEN", message: NO_LONGER_MEMBER });
}

export class AccessWatch {
  /** Set once access is gone: the error the stream ends with. */
  revoked: TRPCError | null = null;
  /** Called when `revoked` is set or a re-check is due (wake the stream's loop). */
  onChange: (() => void) | undefined;
  private orgId: string | undefined;
  /** Removals heard before the organization was known. */
  private early: Revocation[] = [];
  private recheckDue = false;
  private readonly unsubscribe: () => void;

  /** Subscribe before checking access the first time, so nothing falls between the two. */
  constructor(
    private readonly principal: Principal,
    hub: Announcements,
  ) {
    this.unsubscribe = followRevocations(
      hub,
      (r) => {
        if (this.revoked) return;
        if (this.orgId === undefined && r.kind === "member") this.early.push(r);
        this.revoked = revocationError(principal, this.orgId, r);
        if (this.revoked) this.onChange?.();
      },
      () => {
        this.recheckDue = true;
        this.onChange?.();
      },
    );
  }

  /** The organization the stream is about, once known; removals heard before then count too. */
  bind(orgId: string): void {
    this.orgId = orgId;
    for (const r of this.early) this.revoked ??= revocationError(this.principal, orgId, r);
    this.early = [];
  }

  /** Throws the revocation's error if access is gone; re-reads access when announcements may have been missed. */
  async check(): Promise<void> {
    if (!this.revoked && this.recheckDue && this.orgId) {
      this.recheckDue = false;
      this.revoked ??= await accessLost(this.principal, this.orgId);
    }
    if (this.revoked) throw this.revoked;
  }

  /** Forces a re-read at the next check (the periodic backstop). */
  recheckSoon(): void {
    this.recheckDue = true;
  }

  close(): void {
    this.unsubscribe();
  }
}
