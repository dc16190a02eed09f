-- A user's email address (unique after normalisation) with its verified flag, and a small JSON
-- object of metadata that services read from tokens (org_id, plan...).
ALTER TABLE users ADD COLUMN email text;
ALTER TABLE users ADD COLUMN email_normalized text;
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX users_email_normalized ON users (email_normalized) WHERE email_normalized IS NOT NULL;
