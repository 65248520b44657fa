// Client certificates checked against their records in Postgres (issued here, not revoked, not
// expired), with a short cache like tokens' so steady traffic does not query per call; a
// revocation drops the cached answer at once (revocation-watch.ts).
import { checkClientCertificate, touchClientCertificate, type VerifiedCertificate } from "@satellites/client-certs";
import type { Db } from "@satellites/db";
import { AuthFailure } from "./auth.ts";
import type { AuthFailureLimiter } from "./auth-limiter.ts";
import { GrpcError, Status } from "./grpc.ts";
import type { PeerCertificate } from "./peer-certificate.ts";
import type { RefusalLog } from "./refusal-log.ts";

interface Entry {
  answer: VerifiedCertificate | string;
  until: number;
  pending?: Promise<VerifiedCertificate | string>;
}

export class CertificateAuthenticator {
  private readonly cache = new Map<string, Entry>();
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly limiter: AuthFailureLimiter,
    private readonly refusals: RefusalLog,
    private readonly cacheMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The cached identity of a recently verified certificate, without waiting. */
  cached(peer: PeerCertificate): VerifiedCertificate | undefined {
    if (peer.kind !== "valid") return undefined;
    const now = Date.now();
    const hit = this.cache.get(peer.fingerprint);
    if (!hit || hit.pending || hit.until <= now || typeof hit.answer === "string" || hit.answer.expiresAt.getTime() <= now) return undefined;
    this.touch(hit.answer.certificateId, now);
    return hit.answer;
  }

  /** The certificate's identity, or an AuthFailure (UNAUTHENTICATED / RESOURCE_EXHAUSTED). */
  async authenticate(peer: PeerCertificate, source: string): Promise<VerifiedCertificate> {
    const now = Date.now();
    let answer: VerifiedCertificate | string;
    if (peer.kind === "invalid") answer = peer.reason;
    else if (peer.kind === "none") answer = "no client certificate";
    else {
      const hit = this.cache.get(peer.fingerprint);
      answer = hit && !hit.pending && hit.until > now ? hit.answer : await this.verify(peer);
      if (typeof answer !== "string" && answer.expiresAt.getTime() <= now) answer = "client certificate expired";
    }
    if (typeof answer !== "string") {
      this.touch(answer.certificateId, now);
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
    for (const [k, v] of this.cache) if (typeof v.answer !== "string" && v.answer.certificateId === certificateId) this.cache.delete(k);
  }

  private verify(peer: Extract<PeerCertificate, { kind: "valid" }>): Promise<VerifiedCertificate | string> {
    const existing = this.cache.get(peer.fingerprint);
    if (existing?.pending) return existing.pending;
    const pending = checkClientCertificate(this.db, peer.fingerprint, peer.subject).then(
      (r) => {
        const answer = r.ok ? r.certificate : r.reason;
        this.cache.set(peer.fingerprint, { answer, until: Date.now() + this.cacheMs });
        if (this.cache.size > 10_000) this.sweep();
        return answer;
      },
      (err: unknown) => {
        this.cache.delete(peer.fingerprint);
        throw new GrpcError(Status.UNAVAILABLE, "cannot check the client certificate right now; retry", { cause: err });
      },
    );
    this.cache.set(peer.fingerprint, { answer: "pending", until: 0, pending });
    return pending;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.cache) if (!v.pending && v.until <= now) this.cache.delete(k);
  }

  private touch(id: string, now: number): void {
    if (now - (this.touched.get(id) ?? 0) < 60_000) return;
    this.touched.set(id, now);
    touchClientCertificate(this.db, id).catch(this.onError);
  }
}
