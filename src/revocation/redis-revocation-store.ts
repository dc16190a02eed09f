import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../clock';
import type { Logger } from '../logger';
import type { Queryable } from '../store/database';
import { createDatabaseRevocationStore, readLiveRevocations, writeRevocations } from './database-revocation-store';
import { EPOCH_KEY, isRevokedByValues, revocationKey } from './redis-keys';
import type { Revocation, RevocationStore } from './revocation-store';

// Sets a revocation unless a later one is already there, and never shortens its expiry.
const SET_REVOCATION = `
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl >= tonumber(ARGV[2]) or ttl == -1 then return 0 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

type RedisClient = (Redis | Cluster) & {
  setRevocation(key: string, revokedAtMs: string, ttlMs: string): Promise<number>;
};

export interface RedisRevocationStoreOptions {
  redis: Redis | Cluster;
  db: Queryable;
  clock: Clock;
  logger: Logger;
  /** Full re-seed period, a safety net for writes that reached Postgres but not Redis. */
  reconcileIntervalMs?: number;
}

/**
 * Redis as the fast index over the durable revocations table. Writes go to the database first,
 * then to Redis, with an expiry equal to the last moment the entry can matter.
 *
 * Nothing revoked may become valid again: when Redis has lost its data (flush, restart without
 * persistence) the epoch key is missing, lookups fall back to the database and the index is
 * re-seeded from it; when Redis is unreachable, lookups are answered by the database, and the
 * index is re-seeded once Redis is back (it may have missed writes meanwhile).
 */
export function createRedisRevocationStore(options: RedisRevocationStoreOptions): RevocationStore & { reseed(): Promise<void> } {
  const { db, clock, logger } = options;
  const redis = options.redis as RedisClient;
  redis.defineCommand('setRevocation', { numberOfKeys: 1, lua: SET_REVOCATION });
  const fallback = createDatabaseRevocationStore(db, clock);
  let reseeding: Promise<void> | undefined;
  let lastAttempt = -Infinity;
  let missedWrites = false;

  function writeToRedis(revocations: readonly Revocation[]): Promise<unknown> {
    const now = clock.now();
    const pipeline = redis.pipeline();
    for (const r of revocations) {
      const ttl = r.expiresAt.getTime() - now;
      if (ttl > 0) (pipeline as unknown as RedisClient).setRevocation(revocationKey(r.kind, r.subject), String(r.revokedAt.getTime()), String(ttl));
    }
    return pipeline.exec().then((results) => {
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    });
  }

  /** Copies every live revocation into Redis, then marks the index complete. One at a time per process. */
  function reseed(): Promise<void> {
    if (reseeding) return reseeding;
    lastAttempt = Date.now();
    reseeding = (async () => {
      try {
        const live = await readLiveRevocations(db, new Date(clock.now()));
        missedWrites = false;
        for (let i = 0; i < live.length; i += 500) await writeToRedis(live.slice(i, i + 500));
        await redis.set(EPOCH_KEY, String(clock.now()));
        logger.info({ revocations: live.length }, 'revocation index re-seeded from the database');
      } catch (error) {
        missedWrites = true;
        logger.warn({ err: error }, 'revocation index re-seed failed; lookups use the database until it succeeds');
      } finally {
        reseeding = undefined;
      }
    })();
    return reseeding;
  }

  // While Redis is down every lookup would ask for a re-seed: try at most once a second.
  function reseedSoon(): void {
    if (Date.now() - lastAttempt >= 1000) void reseed();
  }

  // After a (re)connection: Redis may have restarted empty, or missed writes while away. Verifiers
  // reading the index directly wait for the epoch, so rebuild it right away rather than lazily.
  async function reseedIfNeeded(): Promise<void> {
    try {
      if (missedWrites || (await redis.exists(EPOCH_KEY)) === 0) await reseed();
    } catch {
      missedWrites = true;
    }
  }
  redis.on('ready', () => void reseedIfNeeded());
  void reseedIfNeeded();
  const reconcile = setInterval(() => void reseed(), options.reconcileIntervalMs ?? 5 * 60_000);
  reconcile.unref();

  return {
    reseed,

    async revoke(revocations) {
      await writeRevocations(db, revocations);
      try {
        await writeToRedis(revocations);
      } catch (error) {
        // Durable already; the index catches up when Redis is back.
        missedWrites = true;
        logger.warn({ err: error }, 'revocation stored in the database but not in Redis');
      }
    },

    async isRevoked(token) {
      let values: Array<string | null>;
      try {
        values = await redis.mget(EPOCH_KEY, revocationKey('jti', token.jti), revocationKey('sid', token.sid ?? '-'), revocationKey('user', token.sub));
      } catch {
        missedWrites = true;
        return fallback.isRevoked(token);
      }
      const [epoch, ...entries] = values;
      if (epoch === null || missedWrites) {
        reseedSoon();
        return fallback.isRevoked(token);
      }
      return isRevokedByValues(entries, token.iat, token.sid !== undefined);
    },

    async ping() {
      await redis.ping();
    },

    async close() {
      clearInterval(reconcile);
      await reseeding;
    },
  };
}
