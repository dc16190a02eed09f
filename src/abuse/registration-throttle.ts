import type { Clock } from '../clock';
import { UnavailableError } from '../errors';
import type { Database } from '../store/database';
import type { RedisConnection } from '../store/redis';
import { clientAddress } from './client-address';
import { retryAfter } from './login-throttle';

/**
 * Self-registrations per client address (IPv4 address, IPv6 /64), counted before any password
 * is hashed, so one address cannot spend the hashing capacity on new accounts.
 */
export interface RegistrationLimits {
  perAddress: number;
  windowMs: number;
}

const DEFAULT_REGISTRATION_LIMITS: RegistrationLimits = { perAddress: 10, windowMs: 3600_000 };

export type RegistrationDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RegistrationThrottle {
  /** Counts one registration attempt from ip, atomically; refused past the limit in the window. */
  admit(ip: string): Promise<RegistrationDecision>;
}

const decide = (n: number, windowEndsAt: number, now: number, limits: RegistrationLimits): RegistrationDecision =>
  n <= limits.perAddress ? { allowed: true } : { allowed: false, retryAfterSeconds: retryAfter(windowEndsAt - now) };

/** On the database (the login_throttle table, keys reg:<address>): one upserting statement. */
export function createDatabaseRegistrationThrottle(db: Database, clock: Clock, limits = DEFAULT_REGISTRATION_LIMITS): RegistrationThrottle {
  return {
    async admit(ip) {
      const now = clock.now();
      const [row] = await db.query<{ n: number; window_ends_at: Date }>(
        `INSERT INTO login_throttle (key, n, window_ends_at) VALUES ($1, 1, $3)
         ON CONFLICT (key) DO UPDATE SET
           n = CASE WHEN login_throttle.window_ends_at <= $2 THEN 1 ELSE login_throttle.n + 1 END,
           window_ends_at = CASE WHEN login_throttle.window_ends_at <= $2 THEN $3 ELSE login_throttle.window_ends_at END
         RETURNING n, window_ends_at`,
        [`reg:${clientAddress(ip)}`, new Date(now), new Date(now + limits.windowMs)],
      );
      return decide(row.n, row.window_ends_at.getTime(), now, limits);
    },
  };
}

// Times from the application's clock, as in the login throttle; the TTL only collects garbage.
const ADMIT = `
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'n', 'until')
local n, untilT = tonumber(v[1] or '0'), tonumber(v[2] or '0')
if untilT <= now then n, untilT = 0, now + window end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'until', untilT)
redis.call('PEXPIRE', KEYS[1], untilT - now)
return {n, untilT}`;

type RegistrationRedis = RedisConnection & { registrationAdmit(key: string, now: string, window: string): Promise<[number, number]> };

export function createRedisRegistrationThrottle(connection: RedisConnection, clock: Clock, limits = DEFAULT_REGISTRATION_LIMITS): RegistrationThrottle {
  const redis = connection as RegistrationRedis;
  redis.defineCommand('registrationAdmit', { numberOfKeys: 1, lua: ADMIT });
  return {
    async admit(ip) {
      const now = clock.now();
      let result: [number, number];
      try {
        result = await redis.registrationAdmit(`{bf}:reg:${clientAddress(ip)}`, String(now), String(limits.windowMs));
      } catch (error) {
        throw new UnavailableError('redis', { cause: error });
      }
      return decide(result[0], result[1], now, limits);
    },
  };
}
