-- A limits version of its own (updatedAt moves with every activity write), the version the
-- machine was given, the reconciler's bookmark, and indexes for retention.
ALTER TABLE "satellite" ADD COLUMN "limitsVersion" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "satellite" ADD COLUMN "limitsAppliedVersion" INTEGER;
ALTER TABLE "satellite" ADD COLUMN "reconciledAt" TIMESTAMP(3);
-- Rows whose limits are not pending were given the current version.
UPDATE "satellite" SET "limitsAppliedVersion" = 0 WHERE NOT "limitsPending";
CREATE INDEX "satellite_state_reconciledAt_idx" ON "satellite"("state", "reconciledAt");
CREATE INDEX "satellite_deletedAt_idx" ON "satellite"("deletedAt");
CREATE INDEX "satellite_event_finishedAt_idx" ON "satellite_event"("finishedAt");
