-- Each refresh token remembers the token it was rotated from, so a retry inside the grace window
-- gets that token's own child and nothing further down the family. The unique index means a
-- token can never have two children, whatever the code that rotates it does. Tokens issued
-- before this migration have no parent: a retry of one of them is treated as reuse.
ALTER TABLE refresh_tokens ADD COLUMN parent_jti uuid;
CREATE UNIQUE INDEX refresh_tokens_parent ON refresh_tokens (parent_jti);

-- The UTS #39 skeleton of the normalised username: two names that look alike share it, and the
-- unique index refuses the second one even when both are created at the same moment. Filled in by
-- the application (SQL cannot compute it); existing users get theirs at the next start.
ALTER TABLE users ADD COLUMN username_skeleton text;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
