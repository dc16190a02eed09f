/**
 * Redis Sentinel under load: three authd instances behind HAProxy on a master + replica + three
 * sentinels (REDIS_URL=redis+sentinel://…). A `SENTINEL FAILOVER`, and separately a SIGKILLed
 * master, while revocations are written and refreshes and introspections run through the
 * balancer: no request hangs, every answer is a success or a defined 503, no revoked token is
 * ever active again, and the same authd processes serve on afterwards — their revocation index
 * re-seeded on the promoted replica (its epoch present there).
 */
import { registerInsteadOfSuite, waitUntil } from '../support/suite';
import { HOW_TO_RUN, missingRequirement, REDIS_PREFIX, startTopology, type Topology } from './stack';
import { expectNothingLost, failoverUnderLoad, missingFromIndex, summarizeRun } from './traffic';

jest.setTimeout(240_000);

const EPOCH = `${REDIS_PREFIX}{rv}:epoch`;

describe('Redis Sentinel failover under load', () => {
  const missing = missingRequirement();
  if (missing) {
    registerInsteadOfSuite(missing, __filename, HOW_TO_RUN);
    return;
  }

  let topology: Topology;
  let pids: Array<number | undefined>;
  beforeAll(async () => {
    topology = await startTopology({ portBase: 17100, redis: 'sentinel', instances: 3, users: 4 });
    pids = topology.instances.map((i) => i.server.child.pid);
    // The index is complete on the master before anything fails over.
    await waitUntil('the revocation index on the master', async () => (await (await topology.sentinel!.master()).admin().exists(EPOCH)) === 1);
  });
  afterAll(() => topology?.stop());

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
    expect(await missingFromIndex((await sentinel.master()).admin(), REDIS_PREFIX, run.revoked)).toEqual([]);
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
    expect(await missingFromIndex((await sentinel.master()).admin(), REDIS_PREFIX, run.revoked)).toEqual([]);
    // The old master comes back empty; the sentinels make it a replica of the new one.
    await master.restart();
    await waitUntil('the restarted node to replicate the new master', async () => /role:slave[\s\S]*master_link_status:up/.test(await master.admin().info('replication')), 30_000);
  });
});
