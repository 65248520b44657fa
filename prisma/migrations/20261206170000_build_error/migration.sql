-- Why a failed build failed, as its client was told (the Solve call's status message).
ALTER TABLE "build" ADD COLUMN "error" TEXT;
