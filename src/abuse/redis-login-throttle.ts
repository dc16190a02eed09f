import type { Clock } from '../clock';
import { UnavailableError } from '../errors';
import type { RedisConnection } from '../store/redis';
import {
  KNOWN_NETWORK_TTL_MS,
  retryAfter,
  throttleKeys,
  type LoginThrottle,
  type ThrottleDecision,
  type ThrottleLimits,
} from './login-throttle';

// Every key carries the hash tag {bf} so one script can touch them all, also in Redis Cluster.
// Times come from the application's clock (ARGV[1]); Redis TTLs only collect garbage.
// KEYS: 1 user+IP counter, 2 its lock, 3 user (distinct networks), 4 IP, 5 known network (until when).
const BEGIN = `
local now = tonumber(ARGV[1])
local window, uiLimit, base, max = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local uLimit, ipLimit = tonumber(ARGV[6]), tonumber(ARGV[7])
local lock = tonumber(redis.call('GET', KEYS[2]) or '0')
if lock > now then return {0, lock - now, 'user_ip_locked', 0} end
local function read(key)
  local v = redis.call('HMGET', key, 'n', 'until', 'counted')
  local n, untilT = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if untilT <= now then return 0, now + window, 0 end
  return n, untilT, tonumber(v[3] or '0')
end
local ipN, ipUntil = read(KEYS[4])
if ipN >= ipLimit then return {0, ipUntil - now, 'ip_limit', 0} end
local trusted = ARGV[8] == '1' or tonumber(redis.call('GET', KEYS[5]) or '0') > now
local uN, uUntil = read(KEYS[3])
local uiN, uiUntil, counted = read(KEYS[1])
-- The ceiling refuses new networks; one already counted goes on under its own user+IP lock.
if not trusted and counted == 0 and uN >= uLimit then return {0, uUntil - now, 'user_limit', 0} end
local newNetwork = 0
if not trusted and counted == 0 then newNetwork = 1 end
uiN = uiN + 1
local lockSetAt = 0
if uiN >= uiLimit then
  local delay = math.min(base * 2 ^ math.min(uiN - uiLimit, 30), max)
  lockSetAt = now + delay
  redis.call('SET', KEYS[2], lockSetAt, 'PX', delay)
  uiUntil = math.max(uiUntil, now + delay + window)
end
redis.call('HSET', KEYS[1], 'n', uiN, 'until', uiUntil, 'counted', math.max(counted, newNetwork))
redis.call('PEXPIRE', KEYS[1], uiUntil - now)
if newNetwork == 1 then
  redis.call('HSET', KEYS[3], 'n', uN + 1, 'until', uUntil)
  redis.call('PEXPIRE', KEYS[3], uUntil - now)
end
redis.call('HSET', KEYS[4], 'n', ipN + 1, 'until', ipUntil)
redis.call('PEXPIRE', KEYS[4], ipUntil - now)
return {1, lockSetAt, '', newNetwork}`;
const DECREMENT = `
local function decrement(key)
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  if n > 0 then redis.call('HSET', key, 'n', n - 1) end
end`;

// ARGV: now, how long the network stays known.
const SUCCEEDED = `${DECREMENT}
local v = redis.call('HMGET', KEYS[1], 'until', 'counted')
local counted = tonumber(v[1] or '0') > tonumber(ARGV[1]) and v[2] == '1'
redis.call('DEL', KEYS[1], KEYS[2])
decrement(KEYS[4])
if counted then decrement(KEYS[3]) end
redis.call('SET', KEYS[5], tonumber(ARGV[1]) + tonumber(ARGV[2]), 'PX', ARGV[2])
return 1`;

// ARGV: the lock this attempt set (or 0), whether it counted a new network.
const RELEASE = `${DECREMENT}
decrement(KEYS[1])
decrement(KEYS[4])
if ARGV[2] == '1' then
  decrement(KEYS[3])
  redis.call('HSET', KEYS[1], 'counted', 0)
end
if ARGV[1] ~= '0' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`;

type Keys = readonly [string, string, string, string, string];
type ThrottleRedis = RedisConnection & {
  throttleBegin(...keysAndArgs: [...Keys, ...string[]]): Promise<[number, number, string, number]>;
  throttleSucceeded(...keysAndArgs: [...Keys, string, string]): Promise<number>;
  throttleRelease(...keysAndArgs: [...Keys, string, string]): Promise<number>;
};

export function createRedisLoginThrottle(
  connection: RedisConnection,
  limits: ThrottleLimits,
  clock: Clock,
  keyPrefix: string,
): LoginThrottle {
  const redis = connection as ThrottleRedis;
  redis.defineCommand('throttleBegin', { numberOfKeys: 5, lua: BEGIN });
  redis.defineCommand('throttleSucceeded', { numberOfKeys: 5, lua: SUCCEEDED });
  redis.defineCommand('throttleRelease', { numberOfKeys: 5, lua: RELEASE });
  const tagged = (normalizedUsername: string, ip: string): Keys => {
    const keys = throttleKeys(normalizedUsername, ip);
    return [
      `{bf}:${keys.userIp}`,
      `{bf}:lock:${keys.userIp}`,
      `{bf}:${keys.user}`,
      `{bf}:${keys.ip}`,
      `{bf}:${keys.known}`,
    ];
  };
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw new UnavailableError('redis', { cause: error });
    }
  };

  return {
    async begin(username, ip, options = {}): Promise<ThrottleDecision> {
      const [allowed, waitOrLock, reason, newNetwork] = await call(() =>
        redis.throttleBegin(
          ...tagged(username, ip),
          String(clock.now()),
          String(limits.windowMs),
          String(limits.userIpFailures),
          String(limits.lockoutBaseMs),
          String(limits.lockoutMaxMs),
          String(limits.userFailures),
          String(limits.ipFailures),
          options.trustedDevice ? '1' : '0',
        ),
      );
      if (allowed === 1)
        return {
          allowed: true,
          ...(waitOrLock > 0 && { lockSetAt: waitOrLock }),
          ...(newNetwork === 1 && { newNetwork: true }),
        };
      return { allowed: false, retryAfterSeconds: retryAfter(waitOrLock), reason: reason as 'ip_limit' };
    },
    async succeeded(username, ip) {
      await call(() =>
        redis.throttleSucceeded(...tagged(username, ip), String(clock.now()), String(KNOWN_NETWORK_TTL_MS)),
      );
    },
    async release(username, ip, decision) {
      const lockSetAt = decision.allowed ? (decision.lockSetAt ?? 0) : 0;
      const newNetwork = decision.allowed && decision.newNetwork ? '1' : '0';
      await call(() => redis.throttleRelease(...tagged(username, ip), String(lockSetAt), newNetwork));
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
