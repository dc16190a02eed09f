/**
 * A bounded soak through the balancer: a fixed number of mixed requests at a steady rate, cut
 * into windows; per window the error rate, p99 latency, RSS of every authd instance and the
 * number of PostgreSQL connections to the database. Flat from the first window to the last means
 * no leak.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../support/suite';
import type { Topology } from './stack';
import { introspect, login, refresh, revoke, tokensOf, type Outcome, type Tokens } from './traffic';

export interface SoakOptions {
  requests: number;
  /** Requests per second, all workers together. */
  rate?: number;
  workers?: number;
  windows?: number;
}

export interface SoakWindow {
  requests: number;
  errorRate: number;
  p99Ms: number;
  rssMb: number[];
  postgresConnections: number;
}

export interface SoakResults {
  startedAt: string;
  requests: number;
  rate: number;
  instances: number;
  redis: string;
  windows: SoakWindow[];
  summary: string;
}

function rssMb(pid: number | undefined): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
}

function p99(outcomes: Outcome[]): number {
  const sorted = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
}

export async function runSoak(topology: Topology, options: SoakOptions): Promise<SoakResults> {
  const rate = options.rate ?? 30;
  const workers = options.workers ?? 6;
  const windowCount = options.windows ?? 5;
  const perWindow = Math.ceil(options.requests / windowCount);
  const base = topology.balancer.url;
  const chains: Tokens[] = [];
  for (let w = 0; w < workers; w++) chains.push(tokensOf(await login(base, topology.users[w % topology.users.length])));

  // One step of the mix: 10% logins, 40% refreshes, 40% introspections, 10% revocations.
  const step = async (worker: number, n: number): Promise<Outcome> => {
    const pick = n % 10;
    const chain = chains[worker];
    if (pick === 0) return login(base, topology.users[worker % topology.users.length]);
    if (pick === 9) return revoke(base, chain.access);
    if (pick % 2 === 1) {
      const rotated = await refresh(base, chain.refresh);
      if (rotated.status === 200) chains[worker] = tokensOf(rotated);
      return rotated;
    }
    return introspect(topology, base, chain.access);
  };

  const windows: SoakWindow[] = [];
  const startedAt = new Date().toISOString();
  const interval = (1000 * workers) / rate;
  for (let w = 0; w < windowCount; w++) {
    const outcomes: Outcome[] = [];
    const start = Date.now();
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        for (let n = worker; n < perWindow; n += workers) {
          const due = start + Math.floor(n / workers) * interval;
          if (due > Date.now()) await sleep(due - Date.now());
          outcomes.push(await step(worker, n + w * perWindow));
        }
      }),
    );
    const [{ n }] = await topology.sql<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()',
    );
    windows.push({
      requests: outcomes.length,
      errorRate: outcomes.filter((o) => o.status !== 200).length / outcomes.length,
      p99Ms: p99(outcomes),
      rssMb: topology.instances.map((i) => rssMb(i.server.child.pid)),
      postgresConnections: n - 1, // not counting the checking connection itself
    });
  }
  const [first, last] = [windows[0], windows[windows.length - 1]];
  const summary =
    `${options.requests} requests at ${rate}/s over ${topology.instances.length} instances: error rate ${first.errorRate} → ${last.errorRate}, ` +
    `p99 ${first.p99Ms} → ${last.p99Ms} ms, RSS ${first.rssMb.join('/')} → ${last.rssMb.join('/')} MB, Postgres connections ${first.postgresConnections} → ${last.postgresConnections}`;
  return {
    startedAt,
    requests: options.requests,
    rate,
    instances: topology.instances.length,
    redis: topology.redisUrl,
    windows,
    summary,
  };
}

export function writeSoakResults(results: SoakResults, file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  return file;
}
