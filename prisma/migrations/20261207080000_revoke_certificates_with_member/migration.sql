-- A member leaves or is removed (or their account or organization is deleted): the client
-- certificates they issued there are revoked with their tokens, in the same transaction. A
-- bundle holds its private key, so whoever downloaded it kept build access after leaving; each
-- revocation is announced by "client_certificate_revoked", which ends the certificate's calls.
CREATE OR REPLACE FUNCTION "announce_member_removed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "api_token" SET "revokedAt" = CURRENT_TIMESTAMP
    WHERE "orgId" = OLD."organizationId" AND "createdById" = OLD."userId" AND "revokedAt" IS NULL;
  UPDATE "client_certificate" SET "revokedAt" = CURRENT_TIMESTAMP
    WHERE "orgId" = OLD."organizationId" AND "createdById" = OLD."userId" AND "revokedAt" IS NULL;
  PERFORM pg_notify('access_revoked', json_build_object('kind', 'member', 'orgId', OLD."organizationId", 'userId', OLD."userId")::text);
  RETURN NULL;
END $$;
