-- CreateTable
CREATE TABLE "login_token" (
    "id" TEXT NOT NULL,
    "apiTokenId" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "login_token_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "login_token_hash_key" ON "login_token"("hash");

-- CreateIndex
CREATE INDEX "login_token_apiTokenId_idx" ON "login_token"("apiTokenId");

-- AddForeignKey
ALTER TABLE "login_token" ADD CONSTRAINT "login_token_apiTokenId_fkey" FOREIGN KEY ("apiTokenId") REFERENCES "api_token"("id") ON DELETE CASCADE ON UPDATE CASCADE;
