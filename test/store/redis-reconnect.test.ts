/**
 * A Redis connection that ioredis gives up on unasked comes back by itself; one closed on purpose
 * stays closed. Against a private redis-server.
 */
import { Redis } from 'ioredis';
import { closeRedis, connectRedis, type RedisConnection } from '../../src/store/redis';
import { redisServerAvailable, startRedisServer } from '../support/processes';
import { registerInsteadOfSuite, sleep, waitUntil } from '../support/suite';

/** ioredis's own connector, which its Sentinel failover detector disconnects. */
type WithConnector = { connector: { disconnect(): void } };

const ended = (redis: RedisConnection) => new Promise<void>((resolve) => redis.once('end', () => resolve()));

describe('connectRedis keeps its connection', () => {
  if (!redisServerAvailable()) {
    registerInsteadOfSuite('redis-server is not installed', __filename, 'sudo apt-get install redis-server');
    return;
  }
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let admin: Redis;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it('reconnects after ioredis ended the connection by itself (the stale failover detector of redis/ioredis#1683)', async () => {
    const redis = await connectRedis(server.url, 'reconnect-test:');
    try {
      await redis.set('k', 'v');
      // What the detector does: the connection drops, and while ioredis reconnects its connector
      // is disconnected; that connect fails with "Connection is closed" and ioredis stops there.
      redis.once('connecting', () => (redis as unknown as WithConnector).connector.disconnect());
      const end = ended(redis);
      await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await end;
      await expect(redis.get('k')).rejects.toThrow('Connection is closed');

      await waitUntil('the connection to be ready again', () => redis.status === 'ready');
      expect(await redis.get('k')).toBe('v');
    } finally {
      closeRedis(redis);
    }
  });

  it('stays closed after closeRedis', async () => {
    const redis = await connectRedis(server.url, 'reconnect-test:');
    let reconnects = 0;
    redis.on('connecting', () => reconnects++);
    const end = ended(redis);
    closeRedis(redis);
    await end;
    // Longer than the first retry delay (200 ms): a reconnect timer would have fired before this one.
    await sleep(1000);
    expect(reconnects).toBe(0);
    expect(redis.status).toBe('end');
  });
});
