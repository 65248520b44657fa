-- The sleep job's point of no return (issue 16, bug 6): set right before the provider stop,
-- it forbids stopping -> awake, so a stalled copy of the job cannot undo a stop already issued.
ALTER TABLE "satellite" ADD COLUMN "stopIssuedAt" TIMESTAMP(3);
