import type { Database } from '../store/database';

export interface TotpRecord {
  secretSealed: string;
  confirmedAt: Date | null;
  lastStep: number;
}

export interface ChallengeRecord {
  userId: string;
  clientId: string;
  scopes: string[];
  authTime: Date;
}

export interface NewChallenge extends ChallengeRecord {
  tokenDigest: string;
  expiresAt: Date;
}

/** Storage of authenticators, recovery codes and pending second steps; every single-use rule is one conditional statement. */
export function createMfaRepository(db: Database) {
  return {
    /** Stores a new unconfirmed secret, replacing an unconfirmed one; false when the user has a confirmed authenticator. */
    async savePending(userId: string, secretSealed: string, now: Date): Promise<boolean> {
      const rows = await db.query(
        `INSERT INTO mfa_totp (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, created_at = EXCLUDED.created_at, last_step = -1
         WHERE mfa_totp.confirmed_at IS NULL
         RETURNING user_id`,
        [userId, secretSealed, now],
      );
      return rows.length === 1;
    },

    async findTotp(userId: string): Promise<TotpRecord | undefined> {
      const [row] = await db.query<{ secret_sealed: string; confirmed_at: Date | null; last_step: string | number }>(
        'SELECT secret_sealed, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1',
        [userId],
      );
      return row && { secretSealed: row.secret_sealed, confirmedAt: row.confirmed_at, lastStep: Number(row.last_step) };
    },

    /**
     * Confirms the pending secret the caller checked (still the same sealed value: a restarted
     * enrolment in between wins) and replaces the recovery codes, in one transaction.
     */
    async confirm(
      userId: string,
      secretSealed: string,
      step: number,
      now: Date,
      codeDigests: string[],
    ): Promise<boolean> {
      return db.transaction(async (tx) => {
        const confirmed = await tx.query(
          `UPDATE mfa_totp SET confirmed_at = $3, last_step = $4
           WHERE user_id = $1 AND secret_sealed = $2 AND confirmed_at IS NULL AND last_step < $4 RETURNING user_id`,
          [userId, secretSealed, now, step],
        );
        if (confirmed.length !== 1) return false;
        await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
        await tx.query('INSERT INTO mfa_recovery_codes (user_id, code_digest) SELECT $1, unnest($2::text[])', [
          userId,
          codeDigests,
        ]);
        return true;
      });
    },

    /** Accepts a time step once: of two requests with the same code exactly one raises last_step. */
    async acceptStep(userId: string, step: number): Promise<boolean> {
      const rows = await db.query(
        'UPDATE mfa_totp SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2 RETURNING user_id',
        [userId, step],
      );
      return rows.length === 1;
    },

    async useRecoveryCode(userId: string, codeDigest: string, now: Date): Promise<boolean> {
      const rows = await db.query(
        `UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_digest = $2 AND used_at IS NULL
           AND EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)
         RETURNING user_id`,
        [userId, codeDigest, now],
      );
      return rows.length === 1;
    },

    /**
     * Replaces every recovery code of a user with a confirmed authenticator: the old codes stop
     * working when the transaction commits, all at once. The authenticator's row lock orders two
     * replacements, so one set survives, never both. False when there is no confirmed authenticator.
     */
    async replaceRecoveryCodes(userId: string, codeDigests: string[]): Promise<boolean> {
      return db.transaction(async (tx) => {
        const [totp] = await tx.query(
          'SELECT user_id FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL FOR UPDATE',
          [userId],
        );
        if (!totp) return false;
        await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
        await tx.query('INSERT INTO mfa_recovery_codes (user_id, code_digest) SELECT $1, unnest($2::text[])', [
          userId,
          codeDigests,
        ]);
        return true;
      });
    },

    async recoveryCodesLeft(userId: string): Promise<number> {
      const [row] = await db.query<{ n: string | number }>(
        'SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL',
        [userId],
      );
      return Number(row?.n ?? 0);
    },

    /** Removes the authenticator and the recovery codes; true when there was a confirmed one. */
    async remove(userId: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const removed = await tx.query<{ confirmed: boolean }>(
          'DELETE FROM mfa_totp WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL AS confirmed',
          [userId],
        );
        await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
        return removed[0]?.confirmed === true;
      });
    },

    async createChallenge(challenge: NewChallenge): Promise<void> {
      await db.query(
        'INSERT INTO mfa_challenges (token_digest, user_id, client_id, scopes, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [
          challenge.tokenDigest,
          challenge.userId,
          challenge.clientId,
          challenge.scopes,
          challenge.authTime,
          challenge.expiresAt,
        ],
      );
    },

    /**
     * Takes one try of a live challenge of this client: undefined when it is unknown, another
     * client's, expired, used, or out of tries. Counted in the same statement that checks.
     */
    async claimAttempt(
      tokenDigest: string,
      clientId: string,
      now: Date,
      maxAttempts: number,
    ): Promise<ChallengeRecord | undefined> {
      const [row] = await db.query<{ user_id: string; client_id: string; scopes: string[]; auth_time: Date }>(
        `UPDATE mfa_challenges SET attempts = attempts + 1
         WHERE token_digest = $1 AND client_id = $2 AND consumed_at IS NULL AND expires_at > $3 AND attempts < $4
         RETURNING user_id, client_id, scopes, auth_time`,
        [tokenDigest, clientId, now, maxAttempts],
      );
      return row && { userId: row.user_id, clientId: row.client_id, scopes: row.scopes, authTime: row.auth_time };
    },

    /** Spends a challenge; false when another request spent it first. */
    async consumeChallenge(tokenDigest: string, now: Date): Promise<boolean> {
      const rows = await db.query(
        'UPDATE mfa_challenges SET consumed_at = $2 WHERE token_digest = $1 AND consumed_at IS NULL AND expires_at > $2 RETURNING user_id',
        [tokenDigest, now],
      );
      return rows.length === 1;
    },

    async deleteExpiredChallenges(now: Date): Promise<void> {
      await db.query('DELETE FROM mfa_challenges WHERE expires_at < $1', [now]);
    },
  };
}

export type MfaRepository = ReturnType<typeof createMfaRepository>;
