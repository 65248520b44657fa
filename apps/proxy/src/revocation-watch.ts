// Ends open calls when access is taken away, driven by the database's announcements: a token
// revoked (directly, with its creator's membership, or with its creator's account) ends its
// calls with UNAUTHENTICATED; a satellite leaving for deletion ends its calls with
// FAILED_PRECONDITION. After either listener reconnects, the open calls' tokens or satellites
// are re-read, since announcements may have been missed meanwhile.
import type { Db } from "@satellites/db";
import type { ChannelListener } from "@satellites/db/listen";
import type { StateChange } from "@satellites/state";
import { listenRevocations } from "@satellites/tokens/revocations";
import type { Logger } from "pino";
import { Status } from "./grpc.ts";
import type { OpenCalls } from "./open-calls.ts";

export const TOKEN_REVOKED = "the token was revoked (or its creator no longer belongs to the organization)";
export const SATELLITE_DELETED = "the satellite was deleted";
export const CERTIFICATE_REVOKED = "the client certificate was revoked";
export const CERTIFICATE_EXPIRED = "the client certificate expired";
/** How often open calls are checked for an expired certificate (ends them within this). */
const EXPIRY_SWEEP_MS = 1_000;

export interface RevocationWatch {
  /** Feed it every satellite state change (from the proxy's StateWatcher). */
  onStateChange(change: StateChange): void;
  /** The state listener reconnected: re-read the open calls' satellites. */
  onStateResync(): void;
  close(): Promise<void>;
}

export interface Forget {
  token(tokenId: string): void;
  certificate(certificateId: string): void;
}

export async function watchRevocations(databaseUrl: string, db: Db, calls: OpenCalls, forget: Forget, log: Logger): Promise<RevocationWatch> {
  const endToken = (tokenId: string): void => {
    forget.token(tokenId);
    const n = calls.endToken(tokenId, Status.UNAUTHENTICATED, TOKEN_REVOKED);
    if (n > 0) log.info({ tokenId, calls: n }, "token revoked: its open calls ended");
  };

  const recheckTokens = async (): Promise<void> => {
    const ids = calls.tokenIds();
    if (ids.length === 0) return;
    const valid = await db.apiToken.findMany({ where: { id: { in: ids }, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] }, select: { id: true } });
    const keep = new Set(valid.map((t) => t.id));
    for (const id of ids) if (!keep.has(id)) endToken(id);
  };

  const endCertificate = (certificateId: string): void => {
    forget.certificate(certificateId);
    const n = calls.endCertificate(certificateId, Status.UNAUTHENTICATED, CERTIFICATE_REVOKED);
    if (n > 0) log.info({ certificateId, calls: n }, "client certificate revoked: its open calls ended");
  };

  const recheckCertificates = async (): Promise<void> => {
    const ids = calls.certificateIds();
    if (ids.length === 0) return;
    const valid = await db.clientCertificate.findMany({ where: { id: { in: ids }, revokedAt: null }, select: { id: true } });
    const keep = new Set(valid.map((c) => c.id));
    for (const id of ids) if (!keep.has(id)) endCertificate(id);
  };

  // Expiry is not announced (nothing changes in the database): open calls are checked each second.
  const sweep = setInterval(() => {
    const n = calls.endExpired(Date.now(), Status.UNAUTHENTICATED, CERTIFICATE_EXPIRED);
    if (n > 0) log.info({ calls: n }, "client certificate expired: its open calls ended");
  }, EXPIRY_SWEEP_MS);
  sweep.unref();

  const endSatellite = (id: string): void => {
    const n = calls.endSatellite(id, Status.FAILED_PRECONDITION, SATELLITE_DELETED);
    if (n > 0) log.info({ satelliteId: id, calls: n }, "satellite deleted: its open calls ended");
  };

  const recheckSatellites = async (): Promise<void> => {
    const ids = calls.satelliteIds();
    if (ids.length === 0) return;
    const gone = await db.satellite.findMany({ where: { id: { in: ids }, OR: [{ deletedAt: { not: null } }, { state: { in: ["deleting", "deleted"] } }] }, select: { id: true } });
    for (const s of gone) endSatellite(s.id);
  };

  const listener: ChannelListener = await listenRevocations(
    databaseUrl,
    (r) => {
      // Removing a member revokes their tokens in the same transaction, announced on their own.
      if (r.kind === "token") endToken(r.tokenId);
      else if (r.kind === "certificate") endCertificate(r.certificateId);
    },
    {
      onReconnect: () => {
        recheckTokens().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, "re-checking open calls' tokens failed"));
        recheckCertificates().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, "re-checking open calls' certificates failed"));
      },
      onError: (err) => log.warn({ err: err.message }, "revocation listener error"),
    },
  );

  return {
    onStateChange(change) {
      if (change.to === "deleting" || change.to === "deleted") endSatellite(change.id);
    },
    onStateResync() {
      recheckSatellites().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, "re-checking open calls' satellites failed"));
    },
    close: () => {
      clearInterval(sweep);
      return listener.close();
    },
  };
}
