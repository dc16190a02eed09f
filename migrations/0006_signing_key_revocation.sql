-- A compromised signing key: revoked_at set means it neither signs nor verifies nor is published,
-- whatever its other dates say. The revocations table indexes it too ('kid'), so every instance
-- and every verifier reading the Redis index refuses its tokens before their rings reload.
ALTER TABLE signing_keys ADD COLUMN revoked_at timestamptz;
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check CHECK (kind IN ('jti', 'sid', 'user', 'kid'));
