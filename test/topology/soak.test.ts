/**
 * A bounded soak through HAProxy over three instances (PgBouncer, one Redis): a fixed number of
 * mixed requests (logins, refreshes, introspections, revocations) at a steady rate. Error rate,
 * p99, RSS per instance and PostgreSQL connections stay flat from the first window to the last;
 * the numbers go to test-output/topology/soak.json (not committed).
 *
 * AUTHD_SOAK_REQUESTS (default 600) and AUTHD_SOAK_RATE (requests/s, default 20) make it longer;
 * `npm run topology -- --soak <requests>` runs the same soak by hand into bench/results/.
 */
import path from 'node:path';
import { ROOT } from '../support/processes';
import { runSoak, writeSoakResults } from './soak';
import { describeTopology, type Topology } from './stack';

const REQUESTS = Number(process.env.AUTHD_SOAK_REQUESTS ?? 600);
const RATE = Number(process.env.AUTHD_SOAK_RATE ?? 20);
jest.setTimeout(120_000 + (REQUESTS / RATE) * 3000);

describeTopology(
  'a bounded soak through the balancer',
  __filename,
  { portBase: 17400, redis: 'single', instances: 3, users: 6 },
  (started) => {
    let topology: Topology;
    beforeAll(() => {
      topology = started();
    });

    it(`${REQUESTS} mixed requests at ${RATE}/s: no errors, and p99, RSS and PostgreSQL connections flat from start to end`, async () => {
      const results = await runSoak(topology, { requests: REQUESTS, rate: RATE, windows: 5 });
      writeSoakResults(results, path.join(ROOT, 'test-output/topology/soak.json'));
      console.log(`soak: ${results.summary}`);

      expect(results.windows.map((w) => w.errorRate)).toEqual(results.windows.map(() => 0));
      // The first window warms up (JIT, pools, caches); flat means the last is no worse than the second.
      const [settled, last] = [results.windows[1], results.windows[results.windows.length - 1]];
      expect(last.p99Ms).toBeLessThanOrEqual(Math.max(3 * settled.p99Ms, settled.p99Ms + 500));
      for (const [i, rss] of last.rssMb.entries()) expect(rss).toBeLessThanOrEqual(settled.rssMb[i] * 1.5 + 20);
      expect(last.postgresConnections).toBeLessThanOrEqual(settled.postgresConnections + 2);
      expect(Math.max(...results.windows.map((w) => w.postgresConnections))).toBeLessThanOrEqual(20); // PgBouncer's default_pool_size
    });
  },
);
