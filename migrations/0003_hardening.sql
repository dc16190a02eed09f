-- Brute-force counters for the embedded default (with Redis they live in Redis).
CREATE TABLE login_throttle (
  key            text PRIMARY KEY,
  n              integer NOT NULL,
  window_ends_at timestamptz NOT NULL,
  locked_until   timestamptz
);

-- The audit trail: append-only. Never a password, a secret or a token.
CREATE TABLE audit_events (
  id          bigserial PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  type        text NOT NULL,
  user_id     uuid,
  client_id   text,
  ip          text,
  user_agent  text,
  request_id  text,
  details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at);
CREATE INDEX audit_events_type ON audit_events (type, occurred_at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
