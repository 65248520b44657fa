// Announcements that access was taken away, sent by database triggers in the transaction that
// revoked it (see the announce_revocations and client_certificates migrations): a token revoked
// or deleted, a member removed from an organization, a session ended, a client certificate revoked. Open streams listen so they can end at once
// instead of living on until their next periodic check.
import { type ChannelListener, listenChannel, type ListenOptions } from "@satellites/db/listen";

export const REVOCATION_CHANNEL = "access_revoked";

export type Revocation =
  | { kind: "token"; tokenId: string; orgId: string }
  | { kind: "member"; orgId: string; userId: string }
  | { kind: "session"; sessionId: string; userId: string }
  /** A client certificate revoked or deleted (packages/client-certs). */
  | { kind: "certificate"; certificateId: string; orgId: string; satelliteId: string };

/** Calls `onRevoked` for every committed revocation; `onReconnect` means some may have been missed. */
export function listenRevocations(databaseUrl: string, onRevoked: (r: Revocation) => void, opts: ListenOptions = {}): Promise<ChannelListener> {
  return listenChannel(databaseUrl, REVOCATION_CHANNEL, (payload) => onRevoked(JSON.parse(payload) as Revocation), opts);
}

/** One LISTEN connection fanned out to any number of subscribers (e.g. every open SSE stream). */
export class RevocationFeed {
  private readonly subscribers = new Set<(r: Revocation) => void>();
  private readonly resyncs = new Set<() => void>();
  private listener: ChannelListener | undefined;

  static async start(databaseUrl: string, onError?: (err: Error) => void): Promise<RevocationFeed> {
    const feed = new RevocationFeed();
    feed.listener = await listenRevocations(
      databaseUrl,
      (r) => {
        for (const fn of feed.subscribers) fn(r);
      },
      { onReconnect: () => feed.resyncs.forEach((fn) => fn()), onError },
    );
    return feed;
  }

  /** `onResync`: announcements may have been missed; re-check access from the database. */
  subscribe(fn: (r: Revocation) => void, onResync?: () => void): () => void {
    this.subscribers.add(fn);
    if (onResync) this.resyncs.add(onResync);
    return () => {
      this.subscribers.delete(fn);
      if (onResync) this.resyncs.delete(onResync);
    };
  }

  async close(): Promise<void> {
    this.subscribers.clear();
    this.resyncs.clear();
    await this.listener?.close();
  }
}
