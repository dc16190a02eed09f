-- Outgoing mail, written in the request's transaction-free path and sent by a worker: a row is
-- claimed (locked_until) by one instance at a time, retried with backoff, and kept after sending
-- without its payload (the audit log keeps the record of the send).
CREATE TABLE mail_outbox (
  id uuid PRIMARY KEY,
  kind text NOT NULL,
  user_id uuid,
  -- What the worker needs to compose the message: an identifier typed into a form, a user id.
  -- Never a token or a password: links are minted when the message is composed.
  payload jsonb NOT NULL DEFAULT '{}',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  locked_until timestamptz,
  done_at timestamptz,
  outcome text,
  last_error text,
  created_at timestamptz NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE done_at IS NULL;

-- Single-use links (password reset, email verification): only the SHA-256 of the token is stored.
-- A token is bound to the address it was mailed to and to the password hash at the time, so a
-- changed address or password invalidates it without any bookkeeping.
CREATE TABLE account_tokens (
  token_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose text NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
  email_normalized text NOT NULL,
  password_fingerprint text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  consumed_at timestamptz
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
