-- The last measurement of a satellite's cache that failed, and why: the dashboard waits for a
-- measurement it asked for to be stored or to fail, never for ever.
ALTER TABLE "satellite" ADD COLUMN "cacheMeasureFailedAt" TIMESTAMP(3);
ALTER TABLE "satellite" ADD COLUMN "cacheMeasureError" TEXT;
