import type { Clock } from '../clock';
import { UnavailableError } from '../errors';
import type { Database } from '../store/database';
import type { RedisConnection } from '../store/redis';

/** A fixed-window counter: `hit` counts one event for the key, atomically, and says how many the window holds. */
export interface WindowCounter {
  hit(key: string, windowMs: number): Promise<{ n: number; windowEndsAt: number }>;
}

/** On the database (the login_throttle table): one upserting statement. */
export function createDatabaseWindowCounter(db: Database, clock: Clock): WindowCounter {
  return {
    async hit(key, windowMs) {
      const now = clock.now();
      const [row] = await db.query<{ n: number; window_ends_at: Date }>(
        `INSERT INTO login_throttle (key, n, window_ends_at) VALUES ($1, 1, $3)
         ON CONFLICT (key) DO UPDATE SET
           n = CASE WHEN login_throttle.window_ends_at <= $2 THEN 1 ELSE login_throttle.n + 1 END,
           window_ends_at = CASE WHEN login_throttle.window_ends_at <= $2 THEN $3 ELSE login_throttle.window_ends_at END
         RETURNING n, window_ends_at`,
        [key, new Date(now), new Date(now + windowMs)],
      );
      return { n: row.n, windowEndsAt: row.window_ends_at.getTime() };
    },
  };
}

// Times from the application's clock, as in the login throttle; the TTL only collects garbage.
const HIT = `
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'n', 'until')
local n, untilT = tonumber(v[1] or '0'), tonumber(v[2] or '0')
if untilT <= now then n, untilT = 0, now + window end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'until', untilT)
redis.call('PEXPIRE', KEYS[1], untilT - now)
return {n, untilT}`;

type CounterRedis = RedisConnection & {
  windowCounterHit(key: string, now: string, window: string): Promise<[number, number]>;
};

export function createRedisWindowCounter(connection: RedisConnection, clock: Clock): WindowCounter {
  const redis = connection as CounterRedis;
  redis.defineCommand('windowCounterHit', { numberOfKeys: 1, lua: HIT });
  return {
    async hit(key, windowMs) {
      const now = clock.now();
      try {
        const [n, windowEndsAt] = await redis.windowCounterHit(`{bf}:${key}`, String(now), String(windowMs));
        return { n, windowEndsAt };
      } catch (error) {
        throw new UnavailableError('redis', { cause: error });
      }
    },
  };
}
