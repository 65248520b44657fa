-- How long a build waited for its satellite to wake before it started.
ALTER TABLE "build" ADD COLUMN "wakeWaitMs" INTEGER;
