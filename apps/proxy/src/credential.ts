// Who a call acts as, whichever way it authenticated: an API token (metadata, as the Earthly CLI
// sends) or a client certificate on the TLS connection (buildctl, buildx, EarthBuild). The
// director routes on it, history and build records name its actor, revocation ends its calls.
import type { VerifiedCertificate } from "@satellites/client-certs";
import type { VerifiedToken } from "@satellites/tokens";

export interface Credential {
  orgId: string;
  /** "token:<id>" or "certificate:<id>": the actor in history and build records. */
  actor: string;
  tokenId?: string;
  certificateId?: string;
  /** A certificate reaches this satellite and no other. */
  satelliteId?: string;
  /** When it stops working (ms since the epoch); its open calls end then. */
  expiresAt?: number;
}

export function tokenCredential(t: VerifiedToken): Credential {
  return { orgId: t.orgId, actor: `token:${t.tokenId}`, tokenId: t.tokenId, ...(t.stopsAt ? { expiresAt: t.stopsAt.getTime() } : {}) };
}

export function certificateCredential(c: VerifiedCertificate): Credential {
  return { orgId: c.orgId, actor: `certificate:${c.certificateId}`, certificateId: c.certificateId, satelliteId: c.satelliteId, expiresAt: c.expiresAt.getTime() };
}
