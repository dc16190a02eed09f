import type { Redis } from 'ioredis';
import type { Clock } from '../clock';
import type { Queryable } from '../store/database';
import { UnavailableError } from '../errors';
import { writeRevocations } from './database-revocation-store';
import { issuedBeforeRevocation, type RevocationStore } from './revocation-store';

/**
 * Redis as the fast index over the durable revocations table: every revocation is written to the
 * database first, then to Redis with an expiry equal to the last moment it can matter.
 * Keys: <prefix>rv:jti:<jti>, <prefix>rv:sid:<sid>, <prefix>rv:user:<id> = revoked-at in ms.
 */
export function createRedisRevocationStore(redis: Redis, db: Queryable, clock: Clock): RevocationStore {
  const key = (kind: string, subject: string) => `rv:${kind}:${subject}`;

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new UnavailableError('redis', { cause: error });
    }
  }

  return {
    async revoke(revocations) {
      await writeRevocations(db, revocations);
      const now = clock.now();
      await call(async () => {
        const pipeline = redis.pipeline();
        for (const r of revocations) {
          const ttl = r.expiresAt.getTime() - now;
          if (ttl <= 0) continue;
          pipeline.set(key(r.kind, r.subject), String(r.revokedAt.getTime()), 'PX', ttl);
        }
        const results = await pipeline.exec();
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0];
      });
    },
    async isRevoked(token) {
      // One round trip for all three questions.
      const [jti, sid, user] = await call(() => redis.mget(key('jti', token.jti), key('sid', token.sid ?? '-'), key('user', token.sub)));
      if (jti !== null || (token.sid !== undefined && sid !== null)) return true;
      return user !== null && issuedBeforeRevocation(token.iat, Number(user));
    },
    async close() {},
  };
}
