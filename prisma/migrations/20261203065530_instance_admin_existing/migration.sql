-- An installation upgraded with accounts already in it: its first account runs the instance.
-- (Otherwise the next stranger to sign up would be "the first" to claim it.)
UPDATE "user" SET "instanceAdmin" = true
WHERE id = (SELECT id FROM "user" ORDER BY "createdAt", id LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM "user" WHERE "instanceAdmin");
