-- Limits the provider refused to apply (a permanent error, or every attempt used): why, and for
-- which saved version. Shown while those limits are still the pending ones; a newer save or a
-- later apply makes it moot without clearing it.
ALTER TABLE "satellite" ADD COLUMN "limitsFailure" TEXT;
ALTER TABLE "satellite" ADD COLUMN "limitsFailedVersion" INTEGER;
