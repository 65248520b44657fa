// Announcements that access was taken away, sent by database triggers in the transaction that
// revoked it (see the announce_revocations and client_certificates migrations): a token revoked
// or deleted, a member removed from an organization, a session ended, a client certificate
// revoked. Open streams listen so they can end at once instead of living on until their next
// periodic check.
import type { Announcements } from "@satellites/db/announcements";

export const REVOCATION_CHANNEL = "access_revoked";

export type Revocation =
  | { kind: "token"; tokenId: string; orgId: string }
  | { kind: "member"; orgId: string; userId: string }
  | { kind: "session"; sessionId: string; userId: string }
  /** A client certificate revoked or deleted (packages/client-certs). */
  | { kind: "certificate"; certificateId: string; orgId: string; satelliteId: string };

/**
 * Calls `onRevoked` for every revocation announced on `hub` until the returned function is
 * called; `onResync`: some may have been missed (re-check access from the database).
 */
export function followRevocations(hub: Announcements, onRevoked: (r: Revocation) => void, onResync?: () => void): () => void {
  return hub.on(REVOCATION_CHANNEL, (payload) => onRevoked(revocationOf(payload)), onResync);
}

function revocationOf(payload: string): Revocation {
  return JSON.parse(payload) as Revocation;
}
