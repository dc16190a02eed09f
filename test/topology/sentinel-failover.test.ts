/**
 * Redis Sentinel under load: three authd instances behind HAProxy on a master + replica + three
 * sentinels (REDIS_URL=redis+sentinel://…). A `SENTINEL FAILOVER`, and separately a SIGKILLed
 * master, while revocations are written and refreshes and introspections run through the
 * balancer: no request hangs, every answer is a success or a defined 503, no revoked token is
 * ever active again, and the same authd processes serve on afterwards — their revocation index
 * re-seeded on the promoted replica (its epoch present there).
 */
import { waitUntil } from '../support/suite';
import { describeTopology, REDIS_PREFIX, type Topology } from './stack';
import {
  expectNothingLost,
  failoverUnderLoad,
  login,
  missingFromIndex,
  revoke,
  summarizeRun,
  tokensOf,
} from './traffic';

jest.setTimeout(240_000);

const EPOCH = `${REDIS_PREFIX}{rv}:epoch`;

describeTopology(
  'Redis Sentinel failover under load',
  __filename,
  { portBase: 17100, redis: 'sentinel', instances: 3, users: 4 },
  (started) => {
    let topology: Topology;
    let pids: Array<number | undefined>;
    beforeAll(async () => {
      topology = started();
      pids = topology.instances.map((i) => i.server.child.pid);
      // The index is complete on the master before anything fails over.
      await waitUntil(
        'the revocation index on the master',
        async () => (await (await topology.sentinel!.master()).admin().exists(EPOCH)) === 1,
      );
    });

    /**
     * The promoted master's index has every revocation, also one written after the failover: the
     * instances reconnected to it and re-seeded it (verifier kits read it directly).
     */
    async function expectIndexComplete(revoked: string[]): Promise<void> {
      const late = tokensOf(await login(topology.balancer.url, topology.users[0]));
      expect((await revoke(topology.balancer.url, late.access)).status).toBe(200);
      const missing = async () =>
        missingFromIndex((await topology.sentinel!.master()).admin(), REDIS_PREFIX, [...revoked, late.access]);
      await waitUntil(
        "every revocation in the promoted master's index",
        async () => (await missing()).length === 0,
        15_000,
      ).catch(async (error: unknown) => {
        throw new Error(`${(error as Error).message}; missing: ${(await missing()).join(', ')}`);
      });
    }

    const epochOnMaster = async () => (await (await topology.sentinel!.master()).admin().exists(EPOCH)) === 1;

    it('SENTINEL FAILOVER: nothing hangs, only 200s and defined 503s, no revoked token comes back, same processes serve on', async () => {
      const sentinel = topology.sentinel!;
      const before = await sentinel.masterPort();
      const run = await failoverUnderLoad(topology, async () => {
        await sentinel.sentinels[0].admin().call('SENTINEL', 'FAILOVER', 'authd');
        await sentinel.promoted(before);
      });
      console.log(`SENTINEL FAILOVER: ${summarizeRun(run)}`);
      expect(await sentinel.masterPort()).not.toBe(before);
      await waitUntil('the index re-seeded on the promoted replica', epochOnMaster, 30_000);
      await expectNothingLost(topology, run, pids);
      await expectIndexComplete(run.revoked);
    });

    it('the master process SIGKILLed: the same, once the sentinels have promoted the replica', async () => {
      const sentinel = topology.sentinel!;
      const master = await sentinel.master();
      const run = await failoverUnderLoad(topology, async () => {
        await master.process.stop('SIGKILL');
        await sentinel.promoted(master.port);
      });
      console.log(`master SIGKILLed: ${summarizeRun(run)}`);
      await waitUntil('the index re-seeded on the promoted replica', epochOnMaster, 30_000);
      await expectNothingLost(topology, run, pids);
      await expectIndexComplete(run.revoked);
      // The old master comes back empty; the sentinels make it a replica of the new one.
      await master.restart();
      await waitUntil(
        'the restarted node to replicate the new master',
        async () => /role:slave[\s\S]*master_link_status:up/.test(await master.admin().info('replication')),
        30_000,
      );
    });
  },
);
