/**
 * Redis Cluster: three masters with a replica each (redis-cli --cluster create), three authd
 * instances behind HAProxy on REDIS_URL=redis+cluster://…. The revocation index (hash tag {rv})
 * and the login throttle's scripts (hash tag {bf}) each live in one slot; an introspection is one
 * MGET; a `CLUSTER FAILOVER` of the {rv} slot's master under load loses no revocation.
 */
import { waitUntil } from '../support/suite';
import { describeTopology, REDIS_PREFIX, type Topology } from './stack';
import {
  expectNothingLost,
  failoverUnderLoad,
  introspect,
  login,
  missingFromIndex,
  revoke,
  summarizeRun,
  tokensOf,
} from './traffic';

jest.setTimeout(240_000);

/** Commands authd's Redis connections send on their own (readiness pings, slot-map refreshes), and ours. */
const HOUSEKEEPING = new Set([
  'ping',
  'cluster',
  'info',
  'config',
  'command',
  'readonly',
  'client',
  'select',
  'hello',
  'auth',
  'replconf',
]);

describeTopology(
  'Redis Cluster',
  __filename,
  { portBase: 17200, redis: 'cluster', instances: 3, users: 4 },
  (started) => {
    let topology: Topology;
    let rvSlot: number;
    beforeAll(async () => {
      topology = started();
      rvSlot = Number(await topology.cluster!.nodes[0].admin().call('CLUSTER', 'KEYSLOT', `${REDIS_PREFIX}{rv}:epoch`));
      await waitUntil(
        'the revocation index seeded',
        async () =>
          (await (await topology.cluster!.ownersOf(rvSlot)).master.admin().exists(`${REDIS_PREFIX}{rv}:epoch`)) === 1,
      );
    });

    it('keeps every revocation key in the {rv} slot and every throttle key in the {bf} slot; both work', async () => {
      const cluster = topology.cluster!;
      const base = topology.balancer.url;
      const issued = tokensOf(await login(base, topology.users[0]));
      expect((await revoke(base, issued.access)).status).toBe(200);
      expect((await introspect(topology, base, issued.access)).body).toEqual({ active: false });
      const { master } = await cluster.ownersOf(rvSlot);
      expect(await missingFromIndex(master.admin(), REDIS_PREFIX, [issued.access])).toEqual([]);

      // Five wrong passwords, then the lock (429), even at other instances; scripts over four {bf} keys.
      const guesses = [];
      for (let i = 0; i < 7; i++)
        guesses.push((await login(topology.instances[i % 3].url, 'mallory@example.com')).status);
      expect(guesses).toEqual([400, 400, 400, 400, 400, 429, 429]);
      const bfSlot = Number(await cluster.nodes[0].admin().call('CLUSTER', 'KEYSLOT', `${REDIS_PREFIX}{bf}:x`));
      const bfMaster = (await cluster.ownersOf(bfSlot)).master;
      const keys = await bfMaster.admin().keys(`${REDIS_PREFIX}{bf}:*`);
      expect(keys.length).toBeGreaterThanOrEqual(3);
      for (const key of keys)
        expect(Number(await cluster.nodes[0].admin().call('CLUSTER', 'KEYSLOT', key))).toBe(bfSlot);
    });

    it('answers an introspection with one MGET in the whole cluster', async () => {
      const cluster = topology.cluster!;
      const instance = topology.instances[0];
      const issued = tokensOf(await login(instance.url, topology.users[1]));
      expect((await introspect(topology, instance.url, issued.access)).body).toMatchObject({ active: true }); // warm: client cached
      await Promise.all(cluster.nodes.map((n) => n.admin().config('RESETSTAT')));
      expect((await introspect(topology, instance.url, issued.access)).body).toMatchObject({ active: true });
      const calls = new Map<string, number>();
      for (const node of cluster.nodes) {
        for (const [, command, n] of (await node.admin().info('commandstats')).matchAll(
          /^cmdstat_([\w|]+):calls=(\d+)/gm,
        )) {
          const name = command.split('|')[0]; // Redis 7 counts subcommands apart: config|resetstat
          calls.set(name, (calls.get(name) ?? 0) + Number(n));
        }
      }
      const data = [...calls].filter(([command]) => !HOUSEKEEPING.has(command));
      expect(data).toEqual([['mget', 1]]);
    });

    it('CLUSTER FAILOVER of the {rv} master under load: nothing hangs, no revocation lost', async () => {
      const cluster = topology.cluster!;
      const pids = topology.instances.map((i) => i.server.child.pid);
      const { master, replica } = await cluster.ownersOf(rvSlot);
      const run = await failoverUnderLoad(topology, async () => {
        await replica.admin().call('CLUSTER', 'FAILOVER');
        await waitUntil(
          'the replica to take the {rv} slot over',
          async () => (await cluster.ownersOf(rvSlot).catch(() => undefined))?.master.port === replica.port,
          30_000,
        );
        await cluster.settled(rvSlot);
      });
      console.log(`CLUSTER FAILOVER: ${summarizeRun(run)}`);
      expect((await cluster.ownersOf(rvSlot)).replica.port).toBe(master.port);
      await expectNothingLost(topology, run, pids);
      expect(await missingFromIndex(replica.admin(), REDIS_PREFIX, run.revoked)).toEqual([]);
    });
  },
);
