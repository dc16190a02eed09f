import { EPOCH_KEY, isRevokedByValues, revocationKey, revokedKeyKey } from '@authd/verifier';
import type { Cluster, Redis } from 'ioredis';
import type { Clock } from '../clock';
import type { Logger } from '../logger';
import type { Queryable } from '../store/database';
import { createDatabaseRevocationStore, readLiveRevocations, writeRevocations } from './database-revocation-store';
import { createIndexTrust } from './index-trust';
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

// Re-seed attempts are paced in real time: they wait on a real server, whatever the injected
// clock (which tests hold still) says about token times.
const monotonic: Clock = { now: () => performance.now() };

/**
 * After a reconnection, how long to wait before the copy that makes the index trusted again: more
 * than the spread of the instances' reconnections after a failover (each retries at most every
 * 2 s), so the copy includes revocations the late ones could write only to the database.
 */
const RECONNECT_SETTLE_MS = 5000;

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
  /** See RECONNECT_SETTLE_MS. */
  reconnectSettleMs?: number;
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
export function createRedisRevocationStore(
  options: RedisRevocationStoreOptions,
): RevocationStore & { reseed(): Promise<void> } {
  const { db, clock, logger } = options;
  const redis = options.redis as RedisClient;
  redis.defineCommand('setRevocation', { numberOfKeys: 1, lua: SET_REVOCATION });
  const fallback = createDatabaseRevocationStore(db, clock);
  let reseeding: Promise<void> | undefined;
  // Until the index is trusted, lookups go to the database, without waiting on Redis.
  const settleMs = options.reconnectSettleMs ?? RECONNECT_SETTLE_MS;
  const trust = createIndexTrust(monotonic, 1000, settleMs);
  const distrust = () => trust.distrust();

  function writeToRedis(revocations: readonly Revocation[]): Promise<unknown> {
    const now = clock.now();
    const pipeline = redis.pipeline();
    for (const r of revocations) {
      const ttl = r.expiresAt.getTime() - now;
      // Queued on the pipeline (no promise of its own): exec() below answers for every command.
      if (ttl > 0)
        void (pipeline as unknown as RedisClient).setRevocation(
          revocationKey(r.kind, r.subject),
          String(r.revokedAt.getTime()),
          String(ttl),
        );
    }
    return pipeline.exec().then((results) => {
      const failed = results?.find(([error]) => error);
      if (failed) throw failed[0];
    });
  }

  /** Copies every live revocation into Redis, then marks the index complete. One at a time per process. */
  function reseed(): Promise<void> {
    if (reseeding) return reseeding;
    const attempt = trust.reseedStarted();
    reseeding = (async () => {
      try {
        const live = await readLiveRevocations(db, new Date(clock.now()));
        for (let i = 0; i < live.length; i += 500) await writeToRedis(live.slice(i, i + 500));
        await redis.set(EPOCH_KEY, String(clock.now()));
        attempt.completed();
        logger.info({ revocations: live.length }, 'revocation index re-seeded from the database');
      } catch (error) {
        distrust();
        logger.warn({ err: error }, 'revocation index re-seed failed; lookups use the database until it succeeds');
      } finally {
        reseeding = undefined;
      }
    })();
    return reseeding;
  }

  // While Redis is away every lookup would ask for a re-seed: try at most once a second.
  function reseedSoon(): void {
    if (trust.mayRetry()) void reseed();
  }

  // A reconnection may reach a Redis restarted empty, restored from an older snapshot, or a
  // replica that is behind: whatever its epoch says, rebuild the index from the database, once
  // the other instances have had time to reconnect too (index-trust.ts says why).
  redis.on('close', distrust);
  redis.on('ready', () => {
    trust.reconnected();
    setTimeout(() => void reseed(), settleMs).unref();
  });
  void reseed(); // the first connection, made before this store existed
  const reconcile = setInterval(() => void reseed(), options.reconcileIntervalMs ?? 5 * 60_000);
  reconcile.unref();
  // Verifiers reading the index directly wait for the epoch: while it is missing, keep trying.
  const retry = setInterval(() => {
    if (!trust.trusted()) reseedSoon();
  }, 1000);
  retry.unref();

  return {
    reseed,

    async revoke(revocations) {
      await writeRevocations(db, revocations);
      try {
        await writeToRedis(revocations);
      } catch (error) {
        // Durable already. Tell every instance the index is incomplete (a DEL works even when
        // Redis refuses writes for lack of memory); they fall back to the database until a re-seed.
        trust.writeFailed();
        await redis.del(EPOCH_KEY).catch(() => {});
        reseedSoon();
        logger.warn({ err: error }, 'revocation stored in the database but not in Redis');
      }
    },

    async isRevoked(token) {
      if (!trust.trusted()) {
        reseedSoon();
        return fallback.isRevoked(token);
      }
      let values: Array<string | null>;
      try {
        values = await redis.mget(
          EPOCH_KEY,
          revocationKey('jti', token.jti),
          revocationKey('sid', token.sid ?? '-'),
          revocationKey('user', token.sub),
          revokedKeyKey(token.kid ?? '-'),
        );
      } catch {
        distrust();
        return fallback.isRevoked(token);
      }
      const [epoch, jti, sid, user, kid] = values;
      if (epoch === null) {
        distrust();
        reseedSoon();
        return fallback.isRevoked(token);
      }
      return (
        (token.kid !== undefined && kid !== null) ||
        isRevokedByValues([jti, sid, user], token.iat, token.sid !== undefined)
      );
    },

    async ping() {
      await redis.ping();
    },

    async close() {
      clearInterval(reconcile);
      clearInterval(retry);
      await reseeding;
    },
  };
}
