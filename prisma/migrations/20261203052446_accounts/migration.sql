-- Accounts hardening (issue 13): instance admin, per-org quotas, invitation link secrets,
-- one pending invitation per organization and email, the mail outbox, the audit log.

ALTER TABLE "user" ADD COLUMN "instanceAdmin" BOOLEAN NOT NULL DEFAULT false;

ALTER TABLE "organization" ADD COLUMN "quotaSatellites" INTEGER,
ADD COLUMN "quotaVcpu" INTEGER,
ADD COLUMN "quotaLargestSize" "Size";

ALTER TABLE "invitation" ADD COLUMN "tokenHash" TEXT;
CREATE UNIQUE INDEX "invitation_tokenHash_key" ON "invitation"("tokenHash");

-- Duplicates left by concurrent invites before this index: keep the newest pending one.
UPDATE "invitation" i SET "status" = 'canceled'
WHERE i."status" = 'pending' AND EXISTS (
  SELECT 1 FROM "invitation" j
  WHERE j."status" = 'pending' AND j."organizationId" = i."organizationId" AND lower(j."email") = lower(i."email")
    AND (j."createdAt", j."id") > (i."createdAt", i."id")
);
-- Also in prisma/extra-indexes.sql (Prisma's schema language has no partial indexes).
CREATE UNIQUE INDEX "invitation_pending_org_email_key" ON "invitation"("organizationId", lower("email")) WHERE "status" = 'pending';

CREATE TABLE "mail_outbox" (
    "id" TEXT NOT NULL,
    "to" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mail_outbox_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "mail_outbox_createdAt_idx" ON "mail_outbox"("createdAt" DESC);

CREATE TABLE "audit_event" (
    "id" BIGSERIAL NOT NULL,
    "orgId" TEXT,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT NOT NULL,
    "detail" JSONB,
    "ip" TEXT,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_event_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "audit_event_orgId_at_id_idx" ON "audit_event"("orgId", "at" DESC, "id" DESC);
CREATE INDEX "audit_event_at_idx" ON "audit_event"("at");
