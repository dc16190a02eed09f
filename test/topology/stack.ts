/**
 * The reference topology of docs/deploy.md on this machine: N authd processes (the built dist/)
 * behind HAProxy, on PostgreSQL through PgBouncer in transaction mode, on a Redis that is a
 * Sentinel set, a Cluster or a single server. Used by test/topology/*.test.ts and by
 * `npm run topology`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { ISSUER, PASSWORD, withSeedServices } from '../faults/harness';
import { createScratchDatabase, FAST_ARGON2 } from '../support/backends';
import { ROOT, startServerProcess, type ServerProcess } from '../support/processes';
import { registerInsteadOfSuite, waitUntil } from '../support/suite';
import { missingCommands, PortBlock, ProcessGroup, TOPOLOGY_COMMANDS } from './processes';
import { startHaproxy, startPgBouncer, type Balancer, type PgBouncer } from './proxies';
import {
  startRedisCluster,
  startRedisNode,
  startSentinelSet,
  type RedisCluster,
  type RedisNode,
  type SentinelSet,
} from './redis';

export { ISSUER, PASSWORD };
export const AUDIENCE = 'https://api.topology.test';
export const REDIS_PREFIX = 'authd-topology:';
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

/** Why the topology cannot run here, or undefined when it can. */
export function missingRequirement(): string | undefined {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is not set (the PostgreSQL server PgBouncer fronts)';
  const missing = missingCommands();
  if (missing.length) {
    const packages = [...new Set(missing.map((c) => TOPOLOGY_COMMANDS[c as keyof typeof TOPOLOGY_COMMANDS]))];
    return `${missing.join(', ')} not installed (apt-get install ${packages.join(' ')}; .ci/run installs them)`;
  }
  return undefined;
}

export const HOW_TO_RUN =
  'apt-get install redis-server redis-sentinel pgbouncer haproxy, then DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test -- test/topology';

/**
 * describe() for a topology test file: without the packages it registers the skip (a failure
 * under CI=true); otherwise the topology starts before the tests of body and stops after them.
 */
export function describeTopology(
  title: string,
  file: string,
  options: TopologyOptions,
  body: (topology: () => Topology) => void,
): void {
  describe(title, () => {
    const missing = missingRequirement();
    if (missing) {
      registerInsteadOfSuite(missing, file, HOW_TO_RUN);
      return;
    }
    let topology: Topology | undefined;
    beforeAll(async () => {
      topology = await startTopology(options);
    });
    afterAll(() => topology?.stop());
    body(() => topology!);
  });
}

export interface TopologyOptions {
  /** First port of this topology's block of 100 in 17000-17999. */
  portBase: number;
  redis: 'sentinel' | 'cluster' | 'single';
  instances: number;
  /** Users alice0@example.com … to create (the same password). */
  users?: number;
  env?: Record<string, string>;
}

export interface Instance {
  port: number;
  url: string;
  server: ServerProcess;
}

export interface Topology {
  group: ProcessGroup;
  ports: PortBlock;
  pgbouncer: PgBouncer;
  /** The scratch database, directly (for checks) and through PgBouncer (what authd uses). */
  directUrl: string;
  databaseUrl: string;
  sql<Row extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  redisUrl: string;
  sentinel?: SentinelSet;
  cluster?: RedisCluster;
  single?: RedisNode;
  balancer: Balancer;
  instances: Instance[];
  /** The `introspector` resource server's Basic credentials. */
  introspector: string;
  users: string[];
  /** Starts instance i again (after a kill or a stop) on its port and waits until it is ready. */
  restart(i: number): Promise<void>;
  /** Waits until HAProxy routes to instance i again (its health check passed). */
  routed(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startTopology(options: TopologyOptions): Promise<Topology> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  const group = new ProcessGroup();
  const ports = new PortBlock(options.portBase);
  const cleanups: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
    await group.stop();
  };
  try {
    const scratch = await createScratchDatabase();
    cleanups.push(() => scratch.drop());
    const pgbouncer = await startPgBouncer(group, ports, scratch.url);
    const databaseUrl = pgbouncer.url(scratch.url);

    let redisUrl: string;
    let sentinel: SentinelSet | undefined;
    let cluster: RedisCluster | undefined;
    let single: RedisNode | undefined;
    if (options.redis === 'sentinel') {
      sentinel = await startSentinelSet(group, ports);
      cleanups.push(() => sentinel?.close());
      redisUrl = sentinel.url;
    } else if (options.redis === 'cluster') {
      cluster = await startRedisCluster(group, ports);
      cleanups.push(() => cluster?.close());
      redisUrl = cluster.url;
    } else {
      const node = await startRedisNode(group, 'redis', await ports.take());
      single = node;
      cleanups.push(() => node.admin().disconnect());
      redisUrl = `redis://127.0.0.1:${node.port}`;
    }

    const keysDir = group.dir('keys');
    const userCount = options.users ?? 1;
    const users = Array.from({ length: userCount }, (_, i) => `alice${i}@example.com`);
    // Seeded through PgBouncer too: the CLI's path (migrations, first key) on the pooler.
    const introspector = await withSeedServices(databaseUrl, keysDir, async (services) => {
      await services.clientService.create({
        id: 'web',
        name: 'Web login',
        confidential: false,
        firstParty: true,
        grantTypes: ['password', 'refresh_token'],
        scopes: ['read'],
        defaultScopes: ['read'],
        audience: AUDIENCE,
      });
      const rs = await services.clientService.create({
        id: 'introspector',
        name: 'Resource server',
        confidential: true,
        canIntrospect: true,
        grantTypes: [],
        audience: AUDIENCE,
      });
      for (const username of users)
        await services.users.create({ username, password: PASSWORD, scopes: ['read'], roles: ['user'] });
      return 'Basic ' + Buffer.from(`introspector:${rs.secret}`).toString('base64');
    });

    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      AUTHD_REDIS_PREFIX: REDIS_PREFIX,
      AUTHD_KEYS_DIR: keysDir,
      AUTHD_ISSUER: ISSUER,
      AUTHD_DEV_BOOTSTRAP: 'false',
      // Longer than HAProxy needs to see /health/ready fail (2 checks 500 ms apart), with room.
      AUTHD_SHUTDOWN_DELAY: '3',
      ...FAST_ARGON2,
      ...options.env,
    };
    const instancePorts = await Promise.all(Array.from({ length: options.instances }, () => ports.take()));
    const instances: Instance[] = [];
    const start = async (port: number) => {
      // Generous: a restart competes with the load the test is running on a shared machine.
      const server = await startServerProcess(env, { port, startTimeoutMs: 90_000 });
      group.adopt(server.child);
      cleanups.push(() => server.stop('SIGKILL').then(() => {}));
      await waitUntil(
        `authd on ${port} to be ready`,
        async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200,
        30_000,
      );
      return server;
    };
    for (const [i, server] of (await Promise.all(instancePorts.map(start))).entries()) {
      instances.push({ port: instancePorts[i], url: `http://127.0.0.1:${instancePorts[i]}`, server });
    }
    const balancer = await startHaproxy(group, ports, instancePorts);

    const direct = new Client({ connectionString: scratch.url });
    await direct.connect();
    cleanups.push(() => direct.end());

    const topology: Topology = {
      group,
      ports,
      pgbouncer,
      directUrl: scratch.url,
      databaseUrl,
      redisUrl,
      sentinel,
      cluster,
      single,
      balancer,
      instances,
      introspector,
      users,
      sql: async <Row extends Record<string, unknown>>(text: string, params: unknown[] = []) =>
        (await direct.query<Row>(text, params)).rows,
      async restart(i) {
        instances[i].server = await start(instances[i].port);
        await topology.routed(i);
      },
      async routed(i) {
        await waitUntil(
          `HAProxy to route to instance ${i}`,
          async () => (await balancer.state(i)) === 'UP',
          30_000,
          100,
        );
      },
      stop,
    };
    await Promise.all(instances.map((_, i) => topology.routed(i)));
    return topology;
  } catch (error) {
    await stop();
    throw error;
  }
}
