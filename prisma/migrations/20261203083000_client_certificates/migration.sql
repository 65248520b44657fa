-- CreateTable
CREATE TABLE "client_certificate" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "satelliteId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "serial" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "client_certificate_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "client_certificate_serial_key" ON "client_certificate"("serial");

-- CreateIndex
CREATE UNIQUE INDEX "client_certificate_fingerprint_key" ON "client_certificate"("fingerprint");

-- CreateIndex
CREATE INDEX "client_certificate_satelliteId_createdAt_idx" ON "client_certificate"("satelliteId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "client_certificate_orgId_idx" ON "client_certificate"("orgId");

-- AddForeignKey
ALTER TABLE "client_certificate" ADD CONSTRAINT "client_certificate_orgId_fkey" FOREIGN KEY ("orgId") REFERENCES "organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "client_certificate" ADD CONSTRAINT "client_certificate_satelliteId_fkey" FOREIGN KEY ("satelliteId") REFERENCES "satellite"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "client_certificate" ADD CONSTRAINT "client_certificate_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "user"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- A client certificate revoked (or deleted, e.g. with its organization) is announced on the
-- revocation channel in the same transaction, so the proxy ends its open calls at once.
-- Payload: {"kind":"certificate","certificateId","orgId","satelliteId"}.
CREATE FUNCTION "announce_certificate_revoked"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE c "client_certificate";
BEGIN
  IF TG_OP = 'DELETE' THEN c := OLD; ELSE c := NEW; END IF;
  PERFORM pg_notify('access_revoked', json_build_object('kind', 'certificate', 'certificateId', c."id", 'orgId', c."orgId", 'satelliteId', c."satelliteId")::text);
  RETURN NULL;
END $$;
CREATE TRIGGER "client_certificate_revoked" AFTER UPDATE ON "client_certificate"
  FOR EACH ROW WHEN (OLD."revokedAt" IS NULL AND NEW."revokedAt" IS NOT NULL) EXECUTE FUNCTION "announce_certificate_revoked"();
CREATE TRIGGER "client_certificate_deleted" AFTER DELETE ON "client_certificate"
  FOR EACH ROW WHEN (OLD."revokedAt" IS NULL) EXECUTE FUNCTION "announce_certificate_revoked"();
