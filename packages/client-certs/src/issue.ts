// Issuing, revoking and checking a tenant's client certificate. The key pair is made here, on
// the server, and leaves only in the returned bundle; the database keeps the serial, the
// fingerprint, the expiry, the name and the creator. Issue and revoke run in one transaction
// with the caller's audit record.
import type { Db, Tx } from "@satellites/db";
import type { CertificateAuthority } from "@satellites/pki";
import { subjectUri } from "./identity.ts";

export const DEFAULT_DAYS = 90;
export const MAX_DAYS = 365;
/** Certificates one satellite may have in use (not revoked, not expired). */
export const MAX_USABLE_PER_SATELLITE = 100;

/** The satellite already has MAX_USABLE_PER_SATELLITE certificates in use. */
export class TooManyCertificates extends Error {
  constructor(readonly usable: number) {
    super(`This satellite has ${usable} client certificates in use, the most one satellite may have; revoke unused ones first`);
  }
}
const DAY_MS = 86_400_000;

export interface IssueRequest {
  orgId: string;
  satelliteId: string;
  satelliteName: string;
  name: string;
  days: number;
  createdById: string | null;
  /** Tests only: an exact validity window (e.g. one that has already ended). */
  notBefore?: Date;
  notAfter?: Date;
}

export interface ClientBundle {
  /** Verifies the proxy's server certificate. */
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface IssuedCertificate {
  id: string;
  name: string;
  serial: string;
  fingerprint: string;
  expiresAt: Date;
  createdAt: Date;
}

type Row = IssuedCertificate & { orgId: string; satelliteId: string };

export async function issueClientCertificate(
  db: Db,
  clientCa: CertificateAuthority,
  serverCaPem: string,
  req: IssueRequest,
  audit?: (tx: Tx, row: Row) => Promise<void>,
): Promise<{ certificate: IssuedCertificate; bundle: ClientBundle }> {
  if (!Number.isInteger(req.days) || req.days < 1 || req.days > MAX_DAYS) throw new RangeError(`a client certificate is valid for 1 to ${MAX_DAYS} days`);
  const notAfter = req.notAfter ?? new Date(Date.now() + req.days * DAY_MS);
  const issued = await clientCa.issueClientFor({
    commonName: `${req.satelliteName}: ${req.name}`.slice(0, 64),
    uris: [subjectUri({ orgId: req.orgId, satelliteId: req.satelliteId })],
    notAfter,
    ...(req.notBefore ? { notBefore: req.notBefore } : {}),
  });
  const row = await db.$transaction(async (tx) => {
    // Counted and inserted under one lock per satellite: issues at once cannot pass the cap together.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`client-certificates:${req.satelliteId}`}))`;
    const usable = await tx.clientCertificate.count({ where: { satelliteId: req.satelliteId, revokedAt: null, expiresAt: { gt: new Date() } } });
    if (usable >= MAX_USABLE_PER_SATELLITE) throw new TooManyCertificates(usable);
    const r = await tx.clientCertificate.create({
      data: { orgId: req.orgId, satelliteId: req.satelliteId, name: req.name, serial: issued.serial, fingerprint: issued.fingerprint, expiresAt: issued.notAfter, createdById: req.createdById },
    });
    await audit?.(tx, r);
    return r;
  });
  return {
    certificate: { id: row.id, name: row.name, serial: row.serial, fingerprint: row.fingerprint, expiresAt: row.expiresAt, createdAt: row.createdAt },
    bundle: { caPem: serverCaPem, certPem: issued.certPem, keyPem: issued.keyPem },
  };
}

/** Revokes it (once); the database announces it to the proxy in the same transaction. */
export async function revokeClientCertificate(db: Db, id: string, audit?: (tx: Tx) => Promise<void>, now = new Date()): Promise<Date | null> {
  return db.$transaction(async (tx) => {
    const { count } = await tx.clientCertificate.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: now } });
    if (count === 0) return null;
    await audit?.(tx);
    return now;
  });
}

export interface VerifiedCertificate {
  certificateId: string;
  orgId: string;
  satelliteId: string;
  /** The satellite's name (what the proxy's directory is keyed by; the id is what is checked). */
  satelliteName: string;
  /** The certificate's own name (for people: history, logs). */
  name: string;
  expiresAt: Date;
}

export type CertificateCheck = { ok: true; certificate: VerifiedCertificate } | { ok: false; reason: string };

/**
 * The certificate's record if this control plane issued it for that subject and it is neither
 * revoked nor expired. The TLS layer has already checked the signature and the dates.
 */
export async function checkClientCertificate(db: Db, fingerprint: string, subject: { orgId: string; satelliteId: string }, now = new Date()): Promise<CertificateCheck> {
  const row = await db.clientCertificate.findUnique({ where: { fingerprint }, include: { satellite: { select: { name: true } } } });
  if (!row || row.orgId !== subject.orgId || row.satelliteId !== subject.satelliteId) return { ok: false, reason: "client certificate not issued by this control plane" };
  if (row.revokedAt) return { ok: false, reason: "client certificate revoked" };
  if (row.expiresAt <= now) return { ok: false, reason: "client certificate expired" };
  return { ok: true, certificate: { certificateId: row.id, orgId: row.orgId, satelliteId: row.satelliteId, satelliteName: row.satellite.name, name: row.name, expiresAt: row.expiresAt } };
}

/** lastUsedAt for the dashboard, at most once a minute. */
export async function touchClientCertificate(db: Db, id: string, now = new Date()): Promise<void> {
  await db.clientCertificate.updateMany({ where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now.getTime() - 60_000) } }] }, data: { lastUsedAt: now } });
}
