-- Whether a user+IP counter's network is already counted in its user's distinct-network counter
-- (the per-user ceiling counts networks, not attempts). Rows with keys kn:<user>:<address>
-- remember networks a user has logged in from; they live for 90 days.
ALTER TABLE login_throttle ADD COLUMN counted boolean NOT NULL DEFAULT false;
