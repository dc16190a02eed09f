/**
 * npm run topology [-- --redis sentinel|cluster|single --instances 3 --soak <requests>]
 *
 * Starts the reference topology of docs/deploy.md on 127.0.0.1 (ports 17900-17999) and keeps it
 * running until Ctrl-C, printing where everything listens; with --soak, runs a soak through the
 * balancer instead, writes bench/results/topology-soak.json and stops.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../support/processes';
import { runSoak, writeSoakResults } from './soak';
import { missingRequirement, PASSWORD, startTopology } from './stack';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      redis: { type: 'string', default: 'sentinel' },
      instances: { type: 'string', default: '3' },
      soak: { type: 'string' },
    },
  });
  const missing = missingRequirement();
  if (missing) throw new Error(missing);
  const redis = values.redis as 'sentinel' | 'cluster' | 'single';
  if (!['sentinel', 'cluster', 'single'].includes(redis)) throw new Error('--redis: sentinel, cluster or single');
  const topology = await startTopology({ portBase: 17900, redis, instances: Number(values.instances), users: 8 });
  try {
    if (values.soak) {
      const results = await runSoak(topology, { requests: Number(values.soak) });
      const file = writeSoakResults(results, path.join(ROOT, 'bench/results/topology-soak.json'));
      console.log(`soak: ${results.summary}\nwritten to ${path.relative(process.cwd(), file)}`);
      return;
    }
    console.log(
      [
        `authd (HAProxy, round robin)  ${topology.balancer.url}`,
        ...topology.instances.map((instance, i) => `authd instance ${i}              ${instance.url}`),
        `DATABASE_URL (PgBouncer)      ${topology.databaseUrl}`,
        `REDIS_URL                     ${topology.redisUrl}`,
        `users                         ${topology.users.join(', ')} (password: ${JSON.stringify(PASSWORD)})`,
        'clients                       web (public, password + refresh_token), introspector (see test/topology/stack.ts)',
        `logs and data                 ${topology.group.root}`,
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await topology.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`npm run topology: ${(error as Error).message}`);
    process.exit(1);
  },
);
