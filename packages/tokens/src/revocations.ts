// Announcements that access was taken away, sent by database triggers in the transaction that
// revoked it (see the announce_revocations migration): a token revoked or deleted, a member
// removed from an organization, a session ended. Open streams listen so they can end at once
// instead of living on until their next periodic check.
import { type ChannelListener, listenChannel, type ListenOptions } from "@satellites/db/listen";

export const REVOCATION_CHANNEL = "access_revoked";

export type Revocation =
  | { kind: "token"; tokenId: string; orgId: string }
  | { kind: "member"; orgId: string; userId: string }
  | { kind: "session"; sessionId: string; userId: string };

/** Calls `onRevoked` for every committed revocation; `onReconnect` means some may have been missed. */
export function listenRevocations(databaseUrl: string, onRevoked: (r: Revocation) => void, opts: ListenOptions = {}): Promise<ChannelListener> {
  return listenChannel(databaseUrl, REVOCATION_CHANNEL, (payload) => onRevoked(JSON.parse(payload) as Revocation), opts);
}
