-- An organization keeps at least one owner. better-auth counts the owners and then deletes or
-- demotes in another statement, so two owners leaving (or removing or demoting each other) at
-- once both passed its count and left the organization with none: nobody could delete it,
-- make anyone owner, or leave it cleanly again.
--
-- Checked at commit (deferred): deleting an organization removes its members before the
-- organization in one transaction, and that must pass. Under the organization's row lock, so
-- two such commits take turns and the second counts without the first's owner.
CREATE OR REPLACE FUNCTION "organization_keeps_an_owner"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD."role" !~ '(^|,)\s*owner\s*(,|$)' THEN RETURN NULL; END IF;
  -- Nothing to keep when the person's account is deleted (their memberships cascade); asked
  -- before taking any lock.
  IF NOT EXISTS (SELECT 1 FROM "user" WHERE "id" = OLD."userId") THEN RETURN NULL; END IF;
  -- FOR NO KEY UPDATE: does not wait on (or block) satellites' foreign-key checks.
  PERFORM 1 FROM "organization" WHERE "id" = OLD."organizationId" FOR NO KEY UPDATE;
  -- Nor when the organization was deleted in this transaction (its members with it).
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF NOT EXISTS (SELECT 1 FROM "member" WHERE "organizationId" = OLD."organizationId" AND "role" ~ '(^|,)\s*owner\s*(,|$)') THEN
    RAISE EXCEPTION 'organization_needs_an_owner: organization % would have no owner', OLD."organizationId"
      USING ERRCODE = 'restrict_violation', HINT = 'Make another member owner first.';
  END IF;
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER "organization_keeps_an_owner"
  AFTER UPDATE OR DELETE ON "member"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION "organization_keeps_an_owner"();
