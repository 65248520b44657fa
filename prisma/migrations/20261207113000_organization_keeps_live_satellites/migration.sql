-- An organization with satellites that are not deleted cannot be deleted. The web process
-- counted them before better-auth's delete, but a satellite created between the count and the
-- delete was cascaded away with the organization (its history too) while its machine launched.
-- Checked here, in the deleting statement: a concurrent create holds a key-share lock on the
-- organization's row (its foreign key) until it commits, so the delete waits for it and then
-- sees its satellite.
CREATE OR REPLACE FUNCTION "organization_keeps_live_satellites"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  live integer;
BEGIN
  SELECT count(*) INTO live FROM "satellite" WHERE "orgId" = OLD."id" AND "state" <> 'deleted';
  IF live > 0 THEN
    RAISE EXCEPTION 'organization % has % satellite(s) that are not deleted', OLD."id", live
      USING ERRCODE = 'restrict_violation', HINT = 'Delete its satellites first.';
  END IF;
  RETURN OLD;
END $$;

CREATE TRIGGER "organization_keeps_live_satellites"
  BEFORE DELETE ON "organization"
  FOR EACH ROW EXECUTE FUNCTION "organization_keeps_live_satellites"();
