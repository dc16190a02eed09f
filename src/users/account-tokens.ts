import crypto from 'node:crypto';
import type { Clock } from '../clock';
import type { Database } from '../store/database';

export type AccountTokenPurpose = 'password_reset' | 'email_verification';

/** How long a link works: a reset link briefly (it sets a password), a verification link a day. */
export const ACCOUNT_TOKEN_TTL_MS: Record<AccountTokenPurpose, number> = {
  password_reset: 20 * 60_000,
  email_verification: 24 * 3600_000,
};

const hashToken = (token: string) => crypto.createHash('sha256').update(token, 'utf8').digest('hex');
// The password hash as it is now: a token stops working once the password changes, however it changed.
const FINGERPRINT = `encode(sha256(convert_to(u.password_hash, 'UTF8')), 'hex')`;
// Still valid: unused, unexpired, the user enabled, the address unchanged (and, for a reset, the password).
const VALID = `t.consumed_at IS NULL AND t.expires_at > $3 AND t.purpose = $2
  AND u.id = t.user_id AND u.disabled_at IS NULL AND u.email_normalized = t.email_normalized
  AND (t.purpose <> 'password_reset' OR ${FINGERPRINT} = t.password_fingerprint)`;

/**
 * Single-use links. The token is 256 random bits, given to the caller once and stored only as its
 * SHA-256 (a database leak yields no usable link). A new token for the same user and purpose
 * invalidates the older ones; consumption is one statement, so of two uses exactly one wins.
 */
export function createAccountTokens(db: Database, clock: Clock) {
  return {
    /** A token for the user's current address; undefined when the user has no address (or is gone). */
    async issue(
      userId: string,
      purpose: AccountTokenPurpose,
    ): Promise<{ token: string; email: string; expiresAt: Date } | undefined> {
      const token = crypto.randomBytes(32).toString('base64url');
      const now = clock.now();
      const expiresAt = new Date(now + ACCOUNT_TOKEN_TTL_MS[purpose]);
      // The user's row lock orders two issues for one user: the later one always replaces the earlier.
      const row = await db.transaction(async (tx) => {
        const [user] = await tx.query<{ id: string }>('SELECT id FROM users WHERE id = $1 FOR UPDATE', [userId]);
        if (!user) return undefined;
        await tx.query('DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2', [userId, purpose]);
        const [issued] = await tx.query<{ email: string }>(
          `INSERT INTO account_tokens (token_hash, user_id, purpose, email_normalized, password_fingerprint, created_at, expires_at)
           SELECT $1, u.id, $3, u.email_normalized, ${FINGERPRINT}, $4, $5 FROM users u
            WHERE u.id = $2 AND u.email_normalized IS NOT NULL AND u.disabled_at IS NULL
           RETURNING (SELECT email FROM users WHERE id = $2) AS email`,
          [hashToken(token), userId, purpose, new Date(now), expiresAt],
        );
        return issued;
      });
      return row && { token, email: row.email, expiresAt };
    },

    /** The user a still valid token belongs to, without using it up (to refuse bad links cheaply). */
    async peek(token: string, purpose: AccountTokenPurpose): Promise<string | undefined> {
      const [row] = await db.query<{ user_id: string }>(
        `SELECT t.user_id FROM account_tokens t, users u WHERE t.token_hash = $1 AND ${VALID}`,
        [hashToken(token), purpose, new Date(clock.now())],
      );
      return row?.user_id;
    },

    /**
     * Uses the token up and applies its effect in the same statement: a reset sets `newHash` (and,
     * as the link proved the address, marks it verified); a verification marks the address
     * verified. Returns the user id, or undefined when the token was not (or no longer) valid.
     */
    async consume(token: string, purpose: AccountTokenPurpose, newHash?: string): Promise<string | undefined> {
      const now = new Date(clock.now());
      const [row] = await db.query<{ id: string }>(
        `WITH used AS (
           UPDATE account_tokens t SET consumed_at = $3 FROM users u
            WHERE t.token_hash = $1 AND ${VALID}
           RETURNING t.user_id)
         UPDATE users SET email_verified = true, password_hash = COALESCE($4, password_hash), updated_at = $3
           FROM used WHERE users.id = used.user_id RETURNING users.id`,
        [hashToken(token), purpose, now, newHash ?? null],
      );
      return row?.id;
    },

    /** Removes used and expired tokens. */
    async prune(): Promise<number> {
      const rows = await db.query(
        `DELETE FROM account_tokens WHERE consumed_at IS NOT NULL OR expires_at <= $1 RETURNING 1`,
        [new Date(clock.now())],
      );
      return rows.length;
    },
  };
}

export type AccountTokens = ReturnType<typeof createAccountTokens>;
