// Client certificates of a satellite (docs/clients.md): for BuildKit clients that speak mutual
// TLS and nothing else. Issuing is for an organization's admins and owners, signed in (a leaked
// API token must not mint credentials); the bundle — CA, certificate, private key — is in the
// answer to issueCertificate and nowhere else, ever. Listing shows what is kept: name, serial,
// fingerprint, expiry, creator. Revoking ends the certificate's open builds within seconds.
import { recordAudit } from "@satellites/audit";
import { DEFAULT_DAYS, issueClientCertificate, MAX_DAYS, MAX_USABLE_PER_SATELLITE, revokeClientCertificate, TooManyCertificates } from "@satellites/client-certs";
import { clientSetups } from "@satellites/client-certs/connect";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { atLeast, requireSatellite } from "../access.ts";
import { tokenName } from "../../lib/fields.ts";
import { idSchema } from "../inputs.ts";
import { certificateAuthorities, db } from "../services.ts";
import { authedProcedure, userProcedure, whoOf } from "../trpc.ts";
import { proxyAddress } from "../views.ts";

const daysSchema = z
  .number({ message: "expiresInDays must be a number" })
  .int("expiresInDays must be a whole number of days")
  .min(1, "A certificate must be valid for at least 1 day")
  .max(MAX_DAYS, `A certificate can be valid for at most ${MAX_DAYS} days`);

const certificateNotFound = () => new TRPCError({ code: "NOT_FOUND", message: "Certificate not found" });

export const certificateProcedures = {
  issueCertificate: userProcedure
    .input(z.object({ id: idSchema("id"), name: tokenName, expiresInDays: daysSchema.default(DEFAULT_DAYS) }))
    .mutation(async ({ ctx, input }) => {
      const { satellite } = await requireSatellite(ctx.principal, input.id, "admin", "issue client certificates");
      const { clientCa, serverCaPem } = await certificateAuthorities();
      const { certificate, bundle } = await issueClientCertificate(
        db(),
        clientCa,
        serverCaPem,
        { orgId: satellite.orgId, satelliteId: satellite.id, satelliteName: satellite.name, name: input.name, days: input.expiresInDays, createdById: ctx.principal.userId },
        (tx, row) =>
          recordAudit(tx, {
            orgId: satellite.orgId,
            ...whoOf(ctx),
            action: "certificate.issue",
            targetType: "certificate",
            targetId: row.id,
            detail: { name: row.name, satellite: satellite.name, satelliteId: satellite.id, serial: row.serial, fingerprint: row.fingerprint, expiresAt: row.expiresAt.toISOString() },
          }),
      ).catch((err: unknown) => {
        throw err instanceof TooManyCertificates ? new TRPCError({ code: "FORBIDDEN", message: err.message }) : err;
      });
      // The only time the private key leaves the server; it is kept nowhere.
      return { certificate, bundle, setups: clientSetups({ address: proxyAddress(), satellite: satellite.name }) };
    }),

  certificates: authedProcedure.input(z.object({ id: idSchema("id") })).query(async ({ ctx, input }) => {
    const { satellite, role } = await requireSatellite(ctx.principal, input.id, "member", "view client certificates", { allowDeleted: true });
    const now = new Date();
    // Every certificate in use (at most MAX_USABLE_PER_SATELLITE), then the latest revoked or expired ones.
    const usable = { satelliteId: satellite.id, revokedAt: null, expiresAt: { gt: now } };
    const include = { createdBy: { select: { id: true, name: true, email: true } } };
    const [inUse, past] = await Promise.all([
      db().clientCertificate.findMany({ where: usable, orderBy: { createdAt: "desc" }, take: MAX_USABLE_PER_SATELLITE, include }),
      db().clientCertificate.findMany({ where: { satelliteId: satellite.id, NOT: usable }, orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }], take: 100, include }),
    ]);
    const rows = [...inUse, ...past];
    return rows.map((c) => ({
      id: c.id,
      name: c.name,
      serial: c.serial,
      fingerprint: c.fingerprint,
      createdAt: c.createdAt,
      expiresAt: c.expiresAt,
      revokedAt: c.revokedAt,
      lastUsedAt: c.lastUsedAt,
      status: c.revokedAt ? ("revoked" as const) : c.expiresAt <= now ? ("expired" as const) : ("active" as const),
      createdBy: c.createdBy ? { id: c.createdBy.id, name: c.createdBy.name || c.createdBy.email } : null,
      canRevoke: !c.revokedAt && atLeast(role, "admin"),
    }));
  }),

  revokeCertificate: authedProcedure.input(z.object({ certificateId: idSchema("certificateId") })).mutation(async ({ ctx, input }) => {
    const c = await db().clientCertificate.findUnique({ where: { id: input.certificateId }, include: { satellite: { select: { name: true } } } });
    if (!c) throw certificateNotFound();
    // Another organization's certificate reads as missing, like one that never existed.
    await requireSatellite(ctx.principal, c.satelliteId, "admin", "revoke client certificates", { allowDeleted: true }).catch((err: unknown) => {
      throw err instanceof TRPCError && err.code === "NOT_FOUND" ? certificateNotFound() : err;
    });
    const revokedAt = await revokeClientCertificate(db(), c.id, (tx) =>
      recordAudit(tx, { orgId: c.orgId, ...whoOf(ctx), action: "certificate.revoke", targetType: "certificate", targetId: c.id, detail: { name: c.name, satellite: c.satellite.name, serial: c.serial, fingerprint: c.fingerprint } }),
    );
    return { id: c.id, revokedAt: revokedAt ?? c.revokedAt };
  }),
};
