-- AlterTable
ALTER TABLE "build" ADD COLUMN     "stepOutOfSpace" BOOLEAN NOT NULL DEFAULT false;
