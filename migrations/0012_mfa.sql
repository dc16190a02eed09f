-- Multi-factor sign-in: TOTP authenticators, recovery codes, the pending second step of a
-- password login, and the assurance a session was born with.

-- One authenticator per user. secret_sealed: AES-256-GCM (key from the keys directory or
-- AUTHD_MFA_KEY). Unconfirmed until a first valid code; last_step is the highest RFC 6238 time
-- step accepted so far, so each code works once (raised by one conditional UPDATE).
CREATE TABLE mfa_totp (
  user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret_sealed text NOT NULL,
  created_at    timestamptz NOT NULL,
  confirmed_at  timestamptz,
  last_step     bigint NOT NULL DEFAULT -1
);

-- Single-use recovery codes, HMAC-SHA-256 digests only.
CREATE TABLE mfa_recovery_codes (
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_digest text NOT NULL,
  used_at     timestamptz,
  PRIMARY KEY (user_id, code_digest)
);

-- A password accepted for a user with MFA: the opaque mfa_token (SHA-256 digest) that the
-- second step presents, bound to the client, short-lived, single-use, with a bounded number of tries.
CREATE TABLE mfa_challenges (
  token_digest text PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id    text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
  scopes       text[] NOT NULL,
  auth_time    timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  consumed_at  timestamptz
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- What the login that started a session proved (RFC 8176 amr, NIST SP 800-63B level as acr):
-- a refresh carries it on and never raises it. Sessions from before this migration were password logins.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE sessions ADD COLUMN acr text NOT NULL DEFAULT 'aal1';
ALTER TABLE sessions ADD COLUMN auth_time timestamptz;

-- A client whose users must all have a second factor.
ALTER TABLE clients ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
