import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { UnavailableError } from '../errors';

export type RedisConnection = Redis | Cluster;

const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2000);

interface Endpoint {
  host: string;
  port: number;
}

function endpoints(hosts: string, defaultPort: number): Endpoint[] {
  return hosts.split(',').map((hostPort) => {
    // host, host:port, [ipv6] or [ipv6]:port
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(hostPort.trim());
    if (!match) throw new Error(`bad Redis host "${hostPort}"`);
    return { host: match[1] ?? match[2], port: match[3] ? Number(match[3]) : defaultPort };
  });
}

/**
 * Three forms of REDIS_URL, each with a TLS variant (rediss, rediss+sentinel, rediss+cluster):
 *   redis://[user:password@]host:port[/db]
 *   redis+sentinel://[:password@]host:port,host:port/master-name[/db]
 *   redis+cluster://[:password@]host:port,host:port
 */
export function parseRedisUrl(url: string): {
  kind: 'single' | 'sentinel' | 'cluster';
  endpoints: Endpoint[];
  name?: string;
  db?: number;
  username?: string;
  password?: string;
  tls: boolean;
} {
  const match = /^(rediss?)(\+sentinel|\+cluster)?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(?:\/([^?#]*))?$/.exec(
    url,
  );
  if (!match)
    throw new Error('expected redis://, redis+sentinel:// or redis+cluster:// (rediss… for TLS) with host:port');
  const [, base, mode = '', user, password, hosts, path = ''] = match;
  const tls = base === 'rediss';
  const scheme = `${base}${mode}`;
  const auth = {
    ...(user && { username: decodeURIComponent(user) }),
    ...(password && { password: decodeURIComponent(password) }),
  };
  const segments = path.split('/').filter(Boolean);
  if (mode === '+sentinel') {
    if (!segments[0]) throw new Error(`${scheme}:// needs the master name as its path`);
    return {
      kind: 'sentinel',
      endpoints: endpoints(hosts, 26379),
      name: segments[0],
      ...(segments[1] && { db: Number(segments[1]) }),
      ...auth,
      tls,
    };
  }
  if (mode === '+cluster') return { kind: 'cluster', endpoints: endpoints(hosts, 6379), ...auth, tls };
  const [single] = endpoints(hosts, 6379);
  return { kind: 'single', endpoints: [single], ...(segments[0] && { db: Number(segments[0]) }), ...auth, tls };
}

export type RedisClientOptions =
  | { kind: 'cluster'; nodes: ClusterNode[]; options: ClusterOptions }
  | { kind: 'redis'; options: RedisOptions };

/**
 * The ioredis options for REDIS_URL: fail fast instead of queueing, keep reconnecting. TLS reaches
 * every connection: to a cluster's nodes, and to the sentinels as well as to the master they name.
 */
export function redisClientOptions(url: string, keyPrefix: string): RedisClientOptions {
  const parsed = parseRedisUrl(url);
  const common: RedisOptions = {
    keyPrefix,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    ...(parsed.username && { username: parsed.username }),
    ...(parsed.password && { password: parsed.password }),
    ...(parsed.tls && { tls: {} }),
  };
  if (parsed.kind === 'cluster') {
    return {
      kind: 'cluster',
      nodes: parsed.endpoints,
      options: {
        keyPrefix,
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        redisOptions: common,
      },
    };
  }
  return {
    kind: 'redis',
    options: {
      ...common,
      enableOfflineQueue: false,
      retryStrategy,
      ...(parsed.db !== undefined && { db: parsed.db }),
      // A failover must end this connection: a demoted master keeps it open and answers reads
      // from its new master's data (writes fail READONLY), so the revocation index would never
      // be re-seeded on the promoted replica. The detector follows +switch-master; READONLY
      // reconnects too. Either way 'close', then 'ready', re-seeds the index.
      reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
      ...(parsed.kind === 'sentinel'
        ? {
            sentinels: parsed.endpoints,
            name: parsed.name,
            failoverDetector: true,
            ...(parsed.password && { sentinelPassword: parsed.password }),
            ...(parsed.tls && { enableTLSForSentinelMode: true, sentinelTLS: {} }),
          }
        : { host: parsed.endpoints[0].host, port: parsed.endpoints[0].port }),
    },
  };
}

/**
 * A Redis connection that fails fast instead of queueing: when Redis is down a request gets a
 * defined answer within commandTimeout, and the client keeps reconnecting in the background.
 */
export async function connectRedis(url: string, keyPrefix: string): Promise<RedisConnection> {
  const client = redisClientOptions(url, keyPrefix);
  const redis: RedisConnection =
    client.kind === 'cluster' ? new Cluster(client.nodes, client.options) : new Redis(client.options);
  // Reported through failing commands and readiness, not as crashes; the last one names the cause.
  redis.on('error', (error: Error) => lastErrors.set(redis, error));
  redis.on('ready', () => lastErrors.delete(redis));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect(); // or it keeps reconnecting in the background and holds the process open
    throw new UnavailableError('redis', { cause: lastErrors.get(redis) ?? error });
  }
  reconnectUnlessClosed(redis);
  return redis;
}

const closedOnPurpose = new WeakSet<RedisConnection>();

/** Ends a connection from connectRedis for good (any other end is reconnected). */
export function closeRedis(redis: RedisConnection): void {
  closedOnPurpose.add(redis);
  redis.disconnect();
}

/**
 * ioredis can give a connection up for good (status "end") unasked. In Sentinel mode, when the
 * master dies without a word (SIGKILL, a lost host), the dead connection's failover detector stays
 * subscribed; its +switch-master then lands in the middle of the reconnect's sentinel lookup,
 * which fails with "Connection is closed" and is never retried (redis/ioredis#1683). Every
 * command would fail from then on, so any end that closeRedis did not ask for starts a new connect.
 */
function reconnectUnlessClosed(redis: RedisConnection): void {
  let attempts = 0;
  redis.on('ready', () => {
    attempts = 0;
  });
  redis.on('end', () => {
    if (closedOnPurpose.has(redis)) return;
    setTimeout(() => {
      if (!closedOnPurpose.has(redis)) redis.connect().catch(() => {}); // a failure ends it again: retried
    }, retryStrategy(++attempts)).unref();
  });
}

const lastErrors = new WeakMap<RedisConnection, Error>();

/** Why the connection is down (ECONNREFUSED, WRONGPASS…): ioredis's own rejections only say "Connection is closed". */
export function lastRedisError(redis: RedisConnection): Error | undefined {
  return lastErrors.get(redis);
}
