/**
 * Three authd processes behind HAProxy (PostgreSQL through PgBouncer, one Redis): whatever one
 * instance issues, another refreshes and a third revokes; one instance SIGKILLed under load fails
 * only its in-flight requests and forks no refresh family; a rolling restart (SIGTERM, start
 * again, one at a time) drops no request at all.
 */
import { waitUntil } from '../support/suite';
import { describeTopology, type Topology } from './stack';
import { summarize } from '../faults/harness';
import { introspect, login, refresh, revoke, tokensOf, underLoad, type Outcome, type Tokens } from './traffic';

jest.setTimeout(240_000);

describeTopology(
  'three authd instances behind HAProxy',
  __filename,
  { portBase: 17300, redis: 'single', instances: 3, users: 4 },
  (started) => {
    let topology: Topology;
    beforeAll(() => {
      topology = started();
    });

    /**
     * One refresh chain per user through the balancer, plus logins. A refresh that got no answer is
     * retried with the same token: if the dead instance had rotated it, the reuse grace window hands
     * back the same child, so the family goes on without forking.
     */
    async function chainsUnderLoad(
      during: (outcomes: readonly Outcome[]) => Promise<void>,
    ): Promise<{ outcomes: Outcome[]; chains: Tokens[] }> {
      const base = topology.balancer.url;
      const chains = await Promise.all(topology.users.map(async (u) => tokensOf(await login(base, u))));
      const outcomes = await underLoad(
        chains.length + 1,
        async (worker, record) => {
          if (worker === chains.length) {
            record(await login(base, topology.users[0]));
            return;
          }
          const rotated = record(await refresh(base, chains[worker].refresh));
          if (rotated.status === 200) chains[worker] = tokensOf(rotated);
        },
        during,
      );
      return { outcomes, chains };
    }

    /** Nothing forked or half-written: every live session has exactly one unconsumed refresh token. */
    async function expectNoForks(chains: Tokens[]): Promise<void> {
      const broken = await topology.sql(`
      SELECT s.id, count(r.jti)::int AS heads FROM sessions s
        LEFT JOIN refresh_tokens r ON r.session_id = s.id AND r.consumed_at IS NULL
       WHERE s.revoked_at IS NULL GROUP BY s.id HAVING count(r.jti) <> 1`);
      expect(broken).toEqual([]);
      const revoked = await topology.sql(
        'SELECT id::text FROM sessions WHERE revoked_at IS NOT NULL AND id = ANY($1::uuid[])',
        [chains.map((c) => c.sid)],
      );
      expect(revoked).toEqual([]);
      for (const chain of chains) expect((await refresh(topology.balancer.url, chain.refresh)).status).toBe(200);
    }

    it('login at one instance, refresh at another, revoke at a third, introspect anywhere', async () => {
      const [a, b, c] = topology.instances.map((i) => i.url);
      const everywhere = [a, b, c, topology.balancer.url];
      const issued = tokensOf(await login(a, topology.users[0]));
      const rotated = tokensOf(await refresh(b, issued.refresh));
      expect(rotated.sid).toBe(issued.sid);
      for (const url of everywhere)
        expect((await introspect(topology, url, rotated.access)).body).toMatchObject({
          active: true,
          client_id: 'web',
        });

      expect((await revoke(c, rotated.refresh)).status).toBe(200);
      for (const url of everywhere) {
        expect((await introspect(topology, url, rotated.access)).body).toEqual({ active: false });
        expect((await introspect(topology, url, issued.access)).body).toEqual({ active: false });
      }
      const refused = await refresh(a, rotated.refresh);
      expect([refused.status, refused.body.error]).toEqual([400, 'invalid_grant']);
    });

    it('one instance SIGKILLed under load: only its in-flight requests fail, the balancer routes around it, no family forks', async () => {
      let killedAt = 0;
      let downAt = 0;
      const { outcomes, chains } = await chainsUnderLoad(async (progress) => {
        await waitUntil('the load to get going', () => progress.filter((o) => o.status === 200).length >= 20, 30_000);
        killedAt = Date.now();
        await topology.instances[1].server.stop('SIGKILL');
        await waitUntil(
          'HAProxy to mark the instance down',
          async () => (await topology.balancer.state(1)).startsWith('DOWN'),
          15_000,
          50,
        );
        downAt = Date.now();
        // Counted by start, as asserted below: a request started before downAt may end after it.
        await waitUntil(
          '20 requests started after that',
          () => progress.filter((o) => o.startedAt > downAt).length >= 20,
          30_000,
        );
      }).finally(async () => {
        // The next test expects three instances, whatever happened here.
        if (killedAt) await topology.restart(1);
      });
      console.log(`SIGKILL: ${summarize(outcomes)}`);
      const failed = outcomes.filter((o) => o.status !== 200);
      // At most one request per worker was in flight at the kill; each got a clean gateway error, none hung.
      expect(failed.length).toBeLessThanOrEqual(topology.users.length + 1);
      for (const o of failed) {
        // HAProxy answers 502, or (on a kept-alive client connection) closes it without an answer,
        // as a server would: either way at once, and the client knows the request failed.
        expect([
          o.status === 502 || (o.status === undefined && /UND_ERR_SOCKET/.test(o.error ?? '')),
          o.timedOut,
        ]).toEqual([true, false]);
        expect(o.startedAt).toBeLessThan(downAt);
        expect(o.endedAt).toBeGreaterThanOrEqual(killedAt);
      }
      expect(outcomes.filter((o) => o.startedAt > downAt).length).toBeGreaterThanOrEqual(20);
      await expectNoForks(chains);
    });

    it('a rolling restart (SIGTERM one instance at a time, start it again) drops no request', async () => {
      const { outcomes, chains } = await chainsUnderLoad(async (progress) => {
        await waitUntil('the load to get going', () => progress.length >= 10, 30_000);
        for (let i = 0; i < topology.instances.length; i++) {
          const { url, server } = topology.instances[i];
          const exited = server.stop('SIGTERM');
          if (i === 0) {
            // AUTHD_SHUTDOWN_DELAY: unready at once, still serving until the delay is over.
            const ready = async () =>
              (await fetch(`${url}/health/ready`)).json() as Promise<{ checks: Record<string, string> }>;
            await waitUntil(
              'readiness to fail after SIGTERM',
              async () => (await ready()).checks.shutdown === 'failing',
              2_000,
              20,
            );
            expect((await fetch(`${url}/.well-known/jwks.json`)).status).toBe(200);
          }
          expect(await exited).toBe(0);
          await topology.restart(i);
        }
      });
      console.log(`rolling restart: ${summarize(outcomes)}`);
      expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
      await expectNoForks(chains);
    });
  },
);
