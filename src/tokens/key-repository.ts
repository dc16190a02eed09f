import type { JWK } from 'jose';
import type { Queryable } from '../store/database';
import type { KeyStore, SigningKeyRecord } from './key-store';

interface KeyRow {
  kid: string;
  public_jwk: JWK;
  created_at: Date;
  activates_at: Date;
  retires_at: Date | null;
  revoked_at: Date | null;
}

const toRecord = (row: KeyRow): SigningKeyRecord => ({
  kid: row.kid,
  publicJwk: row.public_jwk,
  createdAt: row.created_at,
  activatesAt: row.activates_at,
  retiresAt: row.retires_at,
  revokedAt: row.revoked_at,
});

export function createKeyRepository(db: Queryable): KeyStore {
  return {
    async list(): Promise<SigningKeyRecord[]> {
      return (await db.query<KeyRow>('SELECT * FROM signing_keys ORDER BY activates_at, kid')).map(toRecord);
    },

    async insert(key: SigningKeyRecord): Promise<void> {
      await db.query(
        'INSERT INTO signing_keys (kid, public_jwk, created_at, activates_at, retires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [key.kid, JSON.stringify(key.publicJwk), key.createdAt, key.activatesAt, key.retiresAt, key.revokedAt],
      );
    },

    /** Schedules retirement of every key still unretired at `at` (optionally all but one kid). */
    async retireAllAt(at: Date, exceptKid?: string): Promise<void> {
      await db.query(
        'UPDATE signing_keys SET retires_at = $1 WHERE (retires_at IS NULL OR retires_at > $1) AND kid IS DISTINCT FROM $2',
        [at, exceptKid ?? null],
      );
    },

    async cancelRetirementsAt(at: Date): Promise<void> {
      await db.query('UPDATE signing_keys SET retires_at = NULL WHERE retires_at = $1', [at]);
    },

    async retire(kid: string, at: Date): Promise<boolean> {
      const rows = await db.query(
        'UPDATE signing_keys SET retires_at = $2 WHERE kid = $1 AND (retires_at IS NULL OR retires_at > $2) RETURNING kid',
        [kid, at],
      );
      return rows.length === 1;
    },

    /** Revokes a key (retiring it too, if it had not retired yet); false when it was already revoked. */
    async revoke(kid: string, at: Date): Promise<boolean> {
      const rows = await db.query(
        `UPDATE signing_keys SET revoked_at = $2, retires_at = LEAST(COALESCE(retires_at, $2), $2)
         WHERE kid = $1 AND revoked_at IS NULL RETURNING kid`,
        [kid, at],
      );
      return rows.length === 1;
    },

    /** How many refresh tokens signed by kid could still be rotated: the sessions a revocation touches. */
    async countLiveRefreshTokens(kid: string, now: Date): Promise<number> {
      const [row] = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM refresh_tokens WHERE kid = $1 AND consumed_at IS NULL AND expires_at > $2',
        [kid, now],
      );
      return row.n;
    },
  };
}
