-- AlterTable
ALTER TABLE "User" ADD COLUMN "osUser" TEXT;
