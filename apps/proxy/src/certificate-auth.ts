// Client certificates checked against their records in Postgres (issued here, not revoked, not
// expired), with the same short cache as tokens (verified-cache.ts); a revocation drops the
// cached answer at once (revocation-watch.ts).
import { checkClientCertificate, touchClientCertificate, type VerifiedCertificate } from "@satellites/client-certs";
import type { Db } from "@satellites/db";
import { AuthFailure } from "./auth.ts";
import type { AuthFailureLimiter } from "./auth-limiter.ts";
import { Status } from "./grpc.ts";
import type { PeerCertificate } from "./peer-certificate.ts";
import type { RefusalLog } from "./refusal-log.ts";
import { UsageTouches, VerifiedCache } from "./verified-cache.ts";

export class CertificateAuthenticator {
  /** A verified certificate, or why it was refused. */
  private readonly cache: VerifiedCache<VerifiedCertificate | string>;
  private readonly touches: UsageTouches;

  constructor(
    private readonly db: Db,
    private readonly limiter: AuthFailureLimiter,
    private readonly refusals: RefusalLog,
    cacheMs: number,
    onError: (err: unknown) => void,
  ) {
    this.cache = new VerifiedCache(cacheMs, "cannot check the client certificate right now; retry");
    this.touches = new UsageTouches((id) => touchClientCertificate(db, id), onError);
  }

  /** The cached identity of a recently verified certificate, without waiting. */
  cached(peer: PeerCertificate): VerifiedCertificate | undefined {
    if (peer.kind !== "valid") return undefined;
    const now = Date.now();
    const answer = this.cache.fresh(peer.fingerprint, now)?.answer;
    if (answer === undefined || typeof answer === "string" || answer.expiresAt.getTime() <= now) return undefined;
    this.touches.touch(answer.certificateId, now);
    return answer;
  }

  /** The certificate's identity, or an AuthFailure (UNAUTHENTICATED / RESOURCE_EXHAUSTED). */
  async authenticate(peer: PeerCertificate, source: string): Promise<VerifiedCertificate> {
    const now = Date.now();
    let answer: VerifiedCertificate | string;
    if (peer.kind === "invalid") answer = peer.reason;
    else if (peer.kind === "none") answer = "no client certificate";
    else {
      const hit = this.cache.fresh(peer.fingerprint, now);
      answer = hit ? hit.answer : await this.cache.check(peer.fingerprint, () => this.check(peer), "pending");
      if (typeof answer !== "string" && answer.expiresAt.getTime() <= now) answer = "client certificate expired";
    }
    if (typeof answer !== "string") {
      this.touches.touch(answer.certificateId, now);
      return answer;
    }
    const claim = peer.kind === "valid" ? peer.subject : { orgId: "", satelliteId: "" };
    const verdict = await this.limiter.failed(source, claim.orgId, claim.satelliteId);
    this.refusals.count(source, verdict.refused);
    if (verdict.refused) throw new AuthFailure(Status.RESOURCE_EXHAUSTED, `too many failed authentications; retry in ${verdict.retryAfterSeconds} s`);
    throw new AuthFailure(Status.UNAUTHENTICATED, answer);
  }

  /** Drops what is cached for a certificate just revoked, so its next call is checked again. */
  forget(certificateId: string): void {
    this.cache.forget((answer) => typeof answer !== "string" && answer.certificateId === certificateId);
  }

  private async check(peer: Extract<PeerCertificate, { kind: "valid" }>): Promise<VerifiedCertificate | string> {
    const r = await checkClientCertificate(this.db, peer.fingerprint, peer.subject);
    return r.ok ? r.certificate : r.reason;
  }
}
