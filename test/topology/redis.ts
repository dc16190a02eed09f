/**
 * Real Redis topologies on loopback: a Sentinel set (master, replica, three sentinels) and a
 * three-master Cluster with one replica each, from Debian's redis-server and redis-sentinel.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitUntil } from '../support/suite';
import type { Managed, PortBlock, ProcessGroup } from './processes';

/** A redis-server or redis-sentinel process and an admin connection to it. */
export interface RedisServer {
  port: number;
  process: Managed;
  admin(): Redis;
}

export interface RedisNode extends RedisServer {
  /** Starts the node again on its port, empty (no persistence, like the machines'). */
  restart(): Promise<void>;
}

export async function startRedisNode(
  group: ProcessGroup,
  name: string,
  port: number,
  extra: string[] = [],
): Promise<RedisNode> {
  const dir = group.dir(name);
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--protected-mode',
    'no',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    ...extra,
  ];
  let admin: Redis | undefined;
  const node: RedisNode = {
    port,
    process: group.spawn(name, 'redis-server', args),
    admin() {
      admin ??= new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 200 }).on(
        'error',
        () => {},
      );
      return admin;
    },
    async restart() {
      node.process = group.spawn(name, 'redis-server', args);
      await group.listening(node.process, port);
    },
  };
  await group.listening(node.process, port);
  return node;
}

function quitAll(nodes: RedisServer[]): void {
  for (const node of nodes) node.admin().disconnect();
}

const MASTER_NAME = 'authd';

export interface SentinelSet {
  /** redis+sentinel://… as REDIS_URL. */
  url: string;
  nodes: RedisNode[];
  sentinels: RedisServer[];
  /** The port the sentinels name as master. */
  masterPort(): Promise<number>;
  master(): Promise<RedisNode>;
  /** Waits until every sentinel names a master other than oldPort and it answers as master. */
  promoted(oldPort: number, timeoutMs?: number): Promise<number>;
  close(): void;
}

export async function startSentinelSet(group: ProcessGroup, ports: PortBlock): Promise<SentinelSet> {
  const masterPort = await ports.take();
  const replicaPort = await ports.take();
  const master = await startRedisNode(group, 'redis-master', masterPort);
  const replica = await startRedisNode(group, 'redis-replica', replicaPort, [
    '--replicaof',
    '127.0.0.1',
    String(masterPort),
  ]);
  const nodes = [master, replica];
  const sentinels: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await ports.take();
    const dir = group.dir(`sentinel-${i}`);
    const config = path.join(dir, 'sentinel.conf');
    fs.writeFileSync(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const process = group.spawn(`sentinel-${i}`, 'redis-sentinel', [config]);
    await group.listening(process, port);
    let admin: Redis | undefined;
    sentinels.push({
      port,
      process,
      admin() {
        admin ??= new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 }).on('error', () => {});
        return admin;
      },
    });
  }

  const masterPortOf = async (sentinel: RedisServer) => {
    const [, port] = (await sentinel.admin().call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as [
      string,
      string,
    ];
    return Number(port);
  };
  const isMaster = async (node: RedisNode) =>
    (
      await node
        .admin()
        .info('replication')
        .catch(() => '')
    ).includes('role:master');
  // Ready when the replica is in sync and every sentinel knows the replica and the other two.
  await waitUntil(
    'the replica to sync',
    async () => /master_link_status:up/.test(await replica.admin().info('replication')),
    30_000,
  );
  await waitUntil(
    'the sentinels to find each other and the replica',
    async () => {
      for (const s of sentinels) {
        const replicas = (await s.admin().call('SENTINEL', 'replicas', MASTER_NAME)) as unknown[];
        const others = (await s.admin().call('SENTINEL', 'sentinels', MASTER_NAME)) as unknown[];
        if (replicas.length !== 1 || others.length !== 2) return false;
      }
      return true;
    },
    30_000,
    250,
  );

  const set: SentinelSet = {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`,
    nodes,
    sentinels,
    masterPort: () => masterPortOf(sentinels[0]),
    async master() {
      const port = await set.masterPort();
      return nodes.find((n) => n.port === port)!;
    },
    async promoted(oldPort, timeoutMs = 30_000) {
      let port = oldPort;
      await waitUntil(
        'the sentinels to agree on a promoted master',
        async () => {
          const ports = await Promise.all(sentinels.map((s) => masterPortOf(s).catch(() => oldPort)));
          port = ports[0];
          return port !== oldPort && ports.every((p) => p === port) && isMaster(nodes.find((n) => n.port === port)!);
        },
        timeoutMs,
        200,
      );
      return port;
    },
    close: () => quitAll([...nodes, ...sentinels]),
  };
  return set;
}

export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'slave';
  masterId: string | undefined;
  slots: Array<[number, number]>;
}

export interface RedisCluster {
  /** redis+cluster://… as REDIS_URL. */
  url: string;
  nodes: RedisNode[];
  topology(): Promise<ClusterNodeInfo[]>;
  /** The master serving slot, and its replica; rejects while the cluster has neither (mid-failover). */
  ownersOf(slot: number): Promise<{ master: RedisNode; replica: RedisNode }>;
  /** Waits until every node reports cluster_state:ok and agrees on who serves slot. */
  settled(slot?: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)![1]),
        role: flags.includes('master') ? 'master' : 'slave',
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [from, to = from] = s.split('-').map(Number);
            return [from, to] as [number, number];
          }),
      };
    });
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`)),
    );
  });
}

export async function startRedisCluster(group: ProcessGroup, ports: PortBlock): Promise<RedisCluster> {
  const nodes: RedisNode[] = [];
  for (let i = 0; i < 6; i++) {
    nodes.push(
      await startRedisNode(group, `cluster-${i}`, await ports.take(), [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '2000',
      ]),
    );
  }
  await run('redis-cli', [
    '--cluster',
    'create',
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas',
    '1',
    '--cluster-yes',
  ]);

  const topology = async (node = nodes[0]) => parseClusterNodes(String(await node.admin().call('CLUSTER', 'NODES')));
  const cluster: RedisCluster = {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    nodes,
    topology: () => topology(),
    async ownersOf(slot) {
      const all = await topology();
      const master = all.find((n) => n.role === 'master' && n.slots.some(([from, to]) => slot >= from && slot <= to));
      const replica = master && all.find((n) => n.masterId === master.id);
      if (!replica) throw new Error(`no master with a replica serves slot ${slot} (yet)`);
      const byPort = (port: number) => nodes.find((n) => n.port === port)!;
      return { master: byPort(master!.port), replica: byPort(replica.port) };
    },
    async settled(slot = 0, timeoutMs = 30_000) {
      await waitUntil(
        'every cluster node to report cluster_state:ok and agree on the slot owner',
        async () => {
          const owners = new Set<number>();
          for (const node of nodes) {
            if (!/cluster_state:ok/.test(String(await node.admin().call('CLUSTER', 'INFO')))) return false;
            const info = await topology(node);
            owners.add(
              info.find((n) => n.role === 'master' && n.slots.some(([from, to]) => slot >= from && slot <= to))?.port ??
                -1,
            );
          }
          if (owners.size !== 1 || owners.has(-1)) return false;
          // Every replica in sync with its master.
          for (const node of nodes) {
            const replication = await node.admin().info('replication');
            if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
          }
          return true;
        },
        timeoutMs,
        250,
      );
    },
    close: () => quitAll(nodes),
  };
  await cluster.settled();
  return cluster;
}
