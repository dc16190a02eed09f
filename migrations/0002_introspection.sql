-- Resource servers that may call the introspection endpoint (RFC 7662).
ALTER TABLE clients ADD COLUMN can_introspect boolean NOT NULL DEFAULT false;

-- Sessions of a user, newest first, for listing and revoke-all.
CREATE INDEX sessions_user_created ON sessions (user_id, created_at DESC);
DROP INDEX sessions_user_id;
