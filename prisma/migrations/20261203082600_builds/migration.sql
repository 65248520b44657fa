-- Builds and calls as the proxy saw them (batched), and the satellite cache size last measured.
-- AlterTable
ALTER TABLE "satellite" ADD COLUMN "cacheBytes" BIGINT,
ADD COLUMN "cacheEntries" INTEGER,
ADD COLUMN "cacheMeasuredAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "build" (
    "id" TEXT NOT NULL,
    "orgId" TEXT NOT NULL,
    "satelliteId" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "actorLabel" TEXT,
    "client" TEXT NOT NULL,
    "sessionId" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "endedAt" TIMESTAMP(3),
    "durationMs" INTEGER,
    "bytesUp" BIGINT NOT NULL DEFAULT 0,
    "bytesDown" BIGINT NOT NULL DEFAULT 0,
    "grpcCode" INTEGER,
    "replica" TEXT NOT NULL,
    "seenAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "build_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "call_stat" (
    "orgId" TEXT NOT NULL,
    "satelliteId" TEXT NOT NULL,
    "minute" TIMESTAMP(3) NOT NULL,
    "method" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "client" TEXT NOT NULL,
    "calls" INTEGER NOT NULL,
    "failed" INTEGER NOT NULL,
    "bytesUp" BIGINT NOT NULL,
    "bytesDown" BIGINT NOT NULL,
    "totalMs" BIGINT NOT NULL,

    CONSTRAINT "call_stat_pkey" PRIMARY KEY ("satelliteId","minute","method","actor","client")
);


-- CreateIndex
CREATE INDEX "build_orgId_startedAt_idx" ON "build"("orgId", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "build_satelliteId_startedAt_idx" ON "build"("satelliteId", "startedAt" DESC);

-- CreateIndex
CREATE INDEX "build_satelliteId_endedAt_idx" ON "build"("satelliteId", "endedAt");

-- CreateIndex
CREATE INDEX "build_startedAt_idx" ON "build"("startedAt");

-- CreateIndex
CREATE INDEX "call_stat_orgId_minute_idx" ON "call_stat"("orgId", "minute");

-- CreateIndex
CREATE INDEX "call_stat_minute_idx" ON "call_stat"("minute");

