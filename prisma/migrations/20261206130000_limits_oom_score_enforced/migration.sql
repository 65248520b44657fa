-- Whether the daemon really got its OOM score adjustment (the Limits card says when not).
ALTER TABLE "satellite" ADD COLUMN "limitsOomScoreEnforced" BOOLEAN NOT NULL DEFAULT true;
