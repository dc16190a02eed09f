-- Per client: which claims about the user its access tokens carry, beyond sub and roles.
-- user_claims: preferred_username, email, email_verified (each only when the scope asks for it);
-- metadata_claims: keys of the user's metadata, as top-level claims.
ALTER TABLE clients ADD COLUMN user_claims text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN metadata_claims text[] NOT NULL DEFAULT '{}';
