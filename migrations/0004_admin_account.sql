-- Per-client settings for browser clients: refresh token in an httpOnly cookie, the origins that
-- may use it (CSRF defence), and redirect URIs kept for operators' records.
ALTER TABLE clients ADD COLUMN cookie_mode boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';

-- Searching users by a fragment of their username.
CREATE INDEX users_username_pattern ON users (username_normalized text_pattern_ops);
