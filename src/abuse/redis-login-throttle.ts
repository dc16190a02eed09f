import type { Clock } from '../clock';
import { UnavailableError } from '../errors';
import type { RedisConnection } from '../store/redis';
import { retryAfter, throttleKeys, type LoginThrottle, type ThrottleDecision, type ThrottleLimits } from './login-throttle';

// Every key carries the hash tag {bf} so one script can touch them all, also in Redis Cluster.
// Times come from the application's clock (ARGV[1]); Redis TTLs only collect garbage.
const BEGIN = `
local now = tonumber(ARGV[1])
local window, uiLimit, base, max = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local uLimit, ipLimit = tonumber(ARGV[6]), tonumber(ARGV[7])
local lock = tonumber(redis.call('GET', KEYS[2]) or '0')
if lock > now then return {0, lock - now, 'user_ip_locked'} end
local function read(key)
  local v = redis.call('HMGET', key, 'n', 'until')
  local n, untilT = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if untilT <= now then return 0, now + window end
  return n, untilT
end
local ipN, ipUntil = read(KEYS[4])
if ipN >= ipLimit then return {0, ipUntil - now, 'ip_limit'} end
local uN, uUntil = read(KEYS[3])
if uN >= uLimit then return {0, uUntil - now, 'user_limit'} end
local uiN, uiUntil = read(KEYS[1])
uiN = uiN + 1
local lockSetAt = 0
if uiN >= uiLimit then
  local delay = math.min(base * 2 ^ math.min(uiN - uiLimit, 30), max)
  lockSetAt = now + delay
  redis.call('SET', KEYS[2], lockSetAt, 'PX', delay)
  uiUntil = math.max(uiUntil, now + delay + window)
end
redis.call('HSET', KEYS[1], 'n', uiN, 'until', uiUntil)
redis.call('PEXPIRE', KEYS[1], uiUntil - now)
redis.call('HSET', KEYS[3], 'n', uN + 1, 'until', uUntil)
redis.call('PEXPIRE', KEYS[3], uUntil - now)
redis.call('HSET', KEYS[4], 'n', ipN + 1, 'until', ipUntil)
redis.call('PEXPIRE', KEYS[4], ipUntil - now)
return {1, lockSetAt, ''}`;

const SUCCEEDED = `
redis.call('DEL', KEYS[1], KEYS[2])
for i = 3, 4 do
  local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if n > 0 then redis.call('HSET', KEYS[i], 'n', n - 1) end
end
return 1`;

const RELEASE = `
for i = 1, 4, 1 do
  if i ~= 2 then
    local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
    if n > 0 then redis.call('HSET', KEYS[i], 'n', n - 1) end
  end
end
if ARGV[1] ~= '0' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`;

type ThrottleRedis = RedisConnection & {
  throttleBegin(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<[number, number, string]>;
  throttleSucceeded(k1: string, k2: string, k3: string, k4: string): Promise<number>;
  throttleRelease(k1: string, k2: string, k3: string, k4: string, lockSetAt: string): Promise<number>;
};

export function createRedisLoginThrottle(connection: RedisConnection, limits: ThrottleLimits, clock: Clock, keyPrefix: string): LoginThrottle {
  const redis = connection as ThrottleRedis;
  redis.defineCommand('throttleBegin', { numberOfKeys: 4, lua: BEGIN });
  redis.defineCommand('throttleSucceeded', { numberOfKeys: 4, lua: SUCCEEDED });
  redis.defineCommand('throttleRelease', { numberOfKeys: 4, lua: RELEASE });
  const tagged = (normalizedUsername: string, ip: string) => {
    const keys = throttleKeys(normalizedUsername, ip);
    return [`{bf}:${keys.userIp}`, `{bf}:lock:${keys.userIp}`, `{bf}:${keys.user}`, `{bf}:${keys.ip}`] as const;
  };
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw new UnavailableError('redis', { cause: error });
    }
  };

  return {
    async begin(username, ip): Promise<ThrottleDecision> {
      const [allowed, waitOrLock, reason] = await call(() => redis.throttleBegin(...tagged(username, ip), String(clock.now()),
        String(limits.windowMs), String(limits.userIpFailures), String(limits.lockoutBaseMs), String(limits.lockoutMaxMs),
        String(limits.userFailures), String(limits.ipFailures)));
      if (allowed === 1) return waitOrLock > 0 ? { allowed: true, lockSetAt: waitOrLock } : { allowed: true };
      return { allowed: false, retryAfterSeconds: retryAfter(waitOrLock), reason: reason as 'ip_limit' };
    },
    async succeeded(username, ip) {
      await call(() => redis.throttleSucceeded(...tagged(username, ip)));
    },
    async release(username, ip, decision) {
      const lockSetAt = decision.allowed ? decision.lockSetAt ?? 0 : 0;
      await call(() => redis.throttleRelease(...tagged(username, ip), String(lockSetAt)));
    },
    async unlock(username) {
      const { userIpPrefix, user } = throttleKeys(username, '-');
      // SCAN patterns are not prefixed by ioredis; an operator command, so a scan is fine.
      const nodes = 'nodes' in redis ? redis.nodes('master') : [redis];
      for (const node of nodes) {
        for (const pattern of [`${keyPrefix}{bf}:${userIpPrefix}*`, `${keyPrefix}{bf}:lock:${userIpPrefix}*`]) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
            cursor = next;
            // The node adds the prefix itself.
            if (keys.length) await node.del(...keys.map((k) => k.slice(keyPrefix.length)));
          } while (cursor !== '0');
        }
      }
      await redis.del(`{bf}:${user}`);
    },
  };
}
