import { Redis } from 'ioredis';

/**
 * A Redis connection that fails fast instead of queueing: when Redis is down a request gets a
 * defined answer within commandTimeout, and the client keeps reconnecting in the background.
 */
export async function connectRedis(url: string, keyPrefix: string): Promise<Redis> {
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  redis.on('error', () => {}); // reported through failing commands and readiness, not as crashes
  await redis.connect();
  return redis;
}
