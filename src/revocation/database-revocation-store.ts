import { issuedBeforeRevocation } from '@authd/verifier';
import type { Clock } from '../clock';
import type { Queryable } from '../store/database';
import type { Revocation, RevocationStore, TokenIdentity } from './revocation-store';

/** Writes revocations to the durable table (Postgres or the embedded database). */
export async function writeRevocations(db: Queryable, revocations: readonly Revocation[]): Promise<void> {
  if (revocations.length === 0) return;
  // GREATEST keeps the widest window when something is revoked twice.
  await db.query(
    `INSERT INTO revocations (kind, subject, revoked_at, expires_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
     ON CONFLICT (kind, subject) DO UPDATE
       SET revoked_at = GREATEST(revocations.revoked_at, EXCLUDED.revoked_at),
           expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at)`,
    [
      revocations.map((r) => r.kind),
      revocations.map((r) => r.subject),
      revocations.map((r) => r.revokedAt),
      revocations.map((r) => r.expiresAt),
    ],
  );
}

/** The store when there is no Redis: one indexed query per lookup. */
export function createDatabaseRevocationStore(db: Queryable, clock: Clock): RevocationStore {
  return {
    revoke: (revocations) => writeRevocations(db, revocations),
    async isRevoked(token: TokenIdentity) {
      const rows = await db.query<{ kind: string; revoked_at: Date }>(
        `SELECT kind, revoked_at FROM revocations
         WHERE expires_at > $4 AND ((kind = 'jti' AND subject = $1) OR (kind = 'sid' AND subject = $2) OR (kind = 'user' AND subject = $3)
           OR (kind = 'kid' AND subject = $5))`,
        [token.jti, token.sid ?? '', token.sub, new Date(clock.now()), token.kid ?? ''],
      );
      return rows.some((r) => r.kind !== 'user' || issuedBeforeRevocation(token.iat, r.revoked_at.getTime()));
    },
    async ping() {
      await db.query('SELECT 1');
    },
    async close() {},
  };
}

/** Every revocation that can still affect a token: what a re-seed of Redis needs. */
export async function readLiveRevocations(db: Queryable, now: Date): Promise<Revocation[]> {
  const rows = await db.query<{ kind: Revocation['kind']; subject: string; revoked_at: Date; expires_at: Date }>(
    'SELECT kind, subject, revoked_at, expires_at FROM revocations WHERE expires_at > $1',
    [now],
  );
  return rows.map((r) => ({ kind: r.kind, subject: r.subject, revokedAt: r.revoked_at, expiresAt: r.expires_at }));
}
