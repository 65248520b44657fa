// Ends open calls when access is taken away, driven by the database's announcements: a token
// revoked (directly, with its creator's membership, or with its creator's account) ends its
// calls with UNAUTHENTICATED; a satellite leaving for deletion ends its calls with
// FAILED_PRECONDITION; a token or certificate that expires (nothing announces it) ends its calls
// with UNAUTHENTICATED within a second. After the listener reconnects, the open calls' tokens,
// certificates and satellites are re-read, since announcements may have been missed meanwhile.
import type { Db } from "@satellites/db";
import type { Announcements } from "@satellites/db/announcements";
import type { StateChange } from "@satellites/state";
import { followRevocations } from "@satellites/tokens/revocations";
import type { Logger } from "pino";
import { Status } from "./grpc.ts";
import type { OpenCalls } from "./open-calls.ts";

export const TOKEN_REVOKED = "the token was revoked (or its creator no longer belongs to the organization)";
export const SATELLITE_DELETED = "the satellite was deleted";
export const CERTIFICATE_REVOKED = "the client certificate was revoked";
export const CERTIFICATE_EXPIRED = "the client certificate expired";
export const TOKEN_EXPIRED = "the token expired (an Earthly login lasts 12 hours: the CLI logs in again)";
/** How often open calls are checked for an expired certificate or token (ends them within this). */
const EXPIRY_SWEEP_MS = 1_000;

export interface RevocationWatch {
  /** Feed it every satellite state change (from the proxy's StateWatcher). */
  onStateChange(change: StateChange): void;
  /** The state listener reconnected: re-read the open calls' satellites. */
  onStateResync(): void;
  close(): void;
}

export interface Forget {
  token(tokenId: string): void;
  certificate(certificateId: string): void;
}

export function watchRevocations(hub: Announcements, db: Db, calls: OpenCalls, forget: Forget, log: Logger): RevocationWatch {
  const ender = new CallEnder(db, calls, forget, log);
  // Expiry is not announced (nothing changes in the database): open calls are checked each second.
  const sweep = setInterval(() => ender.endExpired(), EXPIRY_SWEEP_MS);
  sweep.unref();
  const unsubscribe = followRevocations(
    hub,
    (r) => {
      // Removing a member revokes their tokens in the same transaction, announced on their own.
      if (r.kind === "token") ender.endToken(r.tokenId);
      else if (r.kind === "certificate") ender.endCertificate(r.certificateId);
    },
    () => {
      ender.recheck("tokens", () => ender.recheckTokens());
      ender.recheck("certificates", () => ender.recheckCertificates());
    },
  );
  return {
    onStateChange(change) {
      if (change.to === "deleting" || change.to === "deleted") ender.endSatellite(change.id);
    },
    onStateResync() {
      ender.recheck("satellites", () => ender.recheckSatellites());
    },
    close: () => {
      clearInterval(sweep);
      unsubscribe();
    },
  };
}

/** Ends the open calls that lost their access, one announcement or one re-read at a time. */
class CallEnder {
  constructor(
    private readonly db: Db,
    private readonly calls: OpenCalls,
    private readonly forget: Forget,
    private readonly log: Logger,
  ) {}

  endToken(tokenId: string): void {
    this.forget.token(tokenId);
    const n = this.calls.endToken(tokenId, Status.UNAUTHENTICATED, TOKEN_REVOKED);
    if (n > 0) this.log.info({ tokenId, calls: n }, "token revoked: its open calls ended");
  }

  endCertificate(certificateId: string): void {
    this.forget.certificate(certificateId);
    const n = this.calls.endCertificate(certificateId, Status.UNAUTHENTICATED, CERTIFICATE_REVOKED);
    if (n > 0) this.log.info({ certificateId, calls: n }, "client certificate revoked: its open calls ended");
  }

  endSatellite(id: string): void {
    const n = this.calls.endSatellite(id, Status.FAILED_PRECONDITION, SATELLITE_DELETED);
    if (n > 0) this.log.info({ satelliteId: id, calls: n }, "satellite deleted: its open calls ended");
  }

  endExpired(): void {
    const now = Date.now();
    const certificates = this.calls.endExpired(now, "certificate", Status.UNAUTHENTICATED, CERTIFICATE_EXPIRED);
    if (certificates > 0) this.log.info({ calls: certificates }, "client certificate expired: its open calls ended");
    const tokens = this.calls.endExpired(now, "token", Status.UNAUTHENTICATED, TOKEN_EXPIRED);
    if (tokens > 0) this.log.info({ calls: tokens }, "token expired: its open calls ended");
  }

  async recheckTokens(): Promise<void> {
    const ids = this.calls.tokenIds();
    if (ids.length === 0) return;
    const valid = await this.db.apiToken.findMany({ where: { id: { in: ids }, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] }, select: { id: true } });
    const keep = new Set(valid.map((t) => t.id));
    for (const id of ids) if (!keep.has(id)) this.endToken(id);
  }

  async recheckCertificates(): Promise<void> {
    const ids = this.calls.certificateIds();
    if (ids.length === 0) return;
    const valid = await this.db.clientCertificate.findMany({ where: { id: { in: ids }, revokedAt: null }, select: { id: true } });
    const keep = new Set(valid.map((c) => c.id));
    for (const id of ids) if (!keep.has(id)) this.endCertificate(id);
  }

  async recheckSatellites(): Promise<void> {
    const ids = this.calls.satelliteIds();
    if (ids.length === 0) return;
    const gone = await this.db.satellite.findMany({ where: { id: { in: ids }, OR: [{ deletedAt: { not: null } }, { state: { in: ["deleting", "deleted"] } }] }, select: { id: true } });
    for (const s of gone) this.endSatellite(s.id);
  }

  /** Runs one re-read after a reconnect; a failure is logged (the next reconnect tries again). */
  recheck(what: string, run: () => Promise<void>): void {
    run().catch((err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, `re-checking open calls' ${what} failed`));
  }
}
