-- Keep-warm schedules: weekly windows in a time zone per satellite (docs/lifecycle.md).
CREATE TABLE "satellite_schedule" (
    "satelliteId" TEXT NOT NULL,
    "timeZone" TEXT NOT NULL,
    "windows" JSONB NOT NULL,
    "wakeAt" TIMESTAMP(3) NOT NULL,
    "awakeUntil" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "satellite_schedule_pkey" PRIMARY KEY ("satelliteId")
);

CREATE INDEX "satellite_schedule_wakeAt_idx" ON "satellite_schedule"("wakeAt");

ALTER TABLE "satellite_schedule" ADD CONSTRAINT "satellite_schedule_satelliteId_fkey" FOREIGN KEY ("satelliteId") REFERENCES "satellite"("id") ON DELETE CASCADE ON UPDATE CASCADE;
