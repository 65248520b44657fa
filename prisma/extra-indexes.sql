-- Indexes the migrations create that Prisma's schema language cannot express. The drift
-- check applies this after schema.prisma's own SQL, so both sides must agree.

-- At most one pending invitation per organization and email: concurrent invites of one
-- address cannot both insert (see apps/web/src/server/invitations.ts).
CREATE UNIQUE INDEX "invitation_pending_org_email_key" ON "invitation"("organizationId", lower("email")) WHERE "status" = 'pending';
