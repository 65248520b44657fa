-- Revocations are announced on the channel "access_revoked" by triggers, so the announcement is
-- part of the very transaction that revokes (whoever runs it: tRPC, better-auth, a cascade) and
-- open streams (proxy calls, dashboard SSE) can end within moments of the commit.
-- Payloads: {"kind":"token","tokenId","orgId"} · {"kind":"member","orgId","userId"} ·
-- {"kind":"session","sessionId","userId"}.

-- A token is revoked (or deleted, e.g. with its organization).
CREATE FUNCTION "announce_token_revoked"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE t "api_token";
BEGIN
  IF TG_OP = 'DELETE' THEN t := OLD; ELSE t := NEW; END IF;
  PERFORM pg_notify('access_revoked', json_build_object('kind', 'token', 'tokenId', t."id", 'orgId', t."orgId")::text);
  RETURN NULL;
END $$;
CREATE TRIGGER "api_token_revoked" AFTER UPDATE ON "api_token"
  FOR EACH ROW WHEN (OLD."revokedAt" IS NULL AND NEW."revokedAt" IS NOT NULL) EXECUTE FUNCTION "announce_token_revoked"();
CREATE TRIGGER "api_token_deleted" AFTER DELETE ON "api_token"
  FOR EACH ROW WHEN (OLD."revokedAt" IS NULL) EXECUTE FUNCTION "announce_token_revoked"();

-- A token acts with its creator's role: when the creator's account is deleted (the foreign key
-- sets createdById to NULL) it acts for no one, so it is revoked in the same statement.
CREATE FUNCTION "revoke_orphaned_token"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."revokedAt" IS NULL THEN NEW."revokedAt" := CURRENT_TIMESTAMP; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER "api_token_orphaned" BEFORE UPDATE OF "createdById" ON "api_token"
  FOR EACH ROW WHEN (OLD."createdById" IS NOT NULL AND NEW."createdById" IS NULL) EXECUTE FUNCTION "revoke_orphaned_token"();

-- A member leaves or is removed (or their account or organization is deleted): the tokens they
-- created there are revoked in the same transaction, and the removal itself is announced.
CREATE FUNCTION "announce_member_removed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "api_token" SET "revokedAt" = CURRENT_TIMESTAMP
    WHERE "orgId" = OLD."organizationId" AND "createdById" = OLD."userId" AND "revokedAt" IS NULL;
  PERFORM pg_notify('access_revoked', json_build_object('kind', 'member', 'orgId', OLD."organizationId", 'userId', OLD."userId")::text);
  RETURN NULL;
END $$;
CREATE TRIGGER "member_removed" AFTER DELETE ON "member"
  FOR EACH ROW EXECUTE FUNCTION "announce_member_removed"();

-- A session ends (sign-out, revoked from another device, account deleted).
CREATE FUNCTION "announce_session_ended"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('access_revoked', json_build_object('kind', 'session', 'sessionId', OLD."id", 'userId', OLD."userId")::text);
  RETURN NULL;
END $$;
CREATE TRIGGER "session_ended" AFTER DELETE ON "session"
  FOR EACH ROW EXECUTE FUNCTION "announce_session_ended"();
