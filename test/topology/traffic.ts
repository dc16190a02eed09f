/**
 * What the topology tests send: the token-endpoint calls (through the balancer or at one
 * instance), a background load of refresh chains and introspections, and the checks every
 * failover test makes on what came back.
 */
import { call, jwtPayload, PASSWORD, summarize, type Outcome } from '../faults/harness';
import type { Redis } from 'ioredis';
import { sleep, waitUntil } from '../support/suite';
import { scaled } from '../support/timing';
import type { Topology } from './stack';

export type { Outcome };

/** Long enough for a failover to finish under load; a request slower than this counts as hanging. */
const REQUEST_TIMEOUT_MS = 10_000;
const form = (
  base: string,
  pathname: string,
  label: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
) => call(base, pathname, label, { form: params, headers, timeoutMs: REQUEST_TIMEOUT_MS });

export function login(base: string, username: string): Promise<Outcome> {
  return form(base, '/oauth/token', 'login', {
    grant_type: 'password',
    client_id: 'web',
    username,
    password: PASSWORD,
  });
}

export function refresh(base: string, refreshToken: string): Promise<Outcome> {
  return form(base, '/oauth/token', 'refresh', {
    grant_type: 'refresh_token',
    client_id: 'web',
    refresh_token: refreshToken,
  });
}

export function revoke(base: string, token: string): Promise<Outcome> {
  return form(base, '/oauth/revoke', 'revoke', { client_id: 'web', token });
}

export function introspect(topology: Topology, base: string, token: string, label = 'introspect'): Promise<Outcome> {
  return form(base, '/oauth/introspect', label, { token }, { authorization: topology.introspector });
}

export interface Tokens {
  access: string;
  refresh: string;
  sid: string;
}

export function tokensOf(outcome: Outcome): Tokens {
  if (outcome.status !== 200)
    throw new Error(
      `${outcome.label}: expected 200, got ${outcome.status ?? outcome.error} ${JSON.stringify(outcome.body)}`,
    );
  const access = String(outcome.body.access_token);
  return { access, refresh: String(outcome.body.refresh_token), sid: String(jwtPayload(access).sid) };
}

/** A 503 as authd defines it (RFC 6749 temporarily_unavailable, with Retry-After). */
function isDefined503(o: Outcome): boolean {
  return o.status === 503 && o.body?.error === 'temporarily_unavailable' && o.retryAfter !== null;
}

/** Each load worker starts a step at most this often: a steady load that leaves the machine (shared, 2 cores) room to fail over. */
const STEP_INTERVAL_MS = 100;

/**
 * Runs `workers` loops of body while during() runs, then waits for the loops to finish their
 * current step. Returns every outcome they recorded.
 */
export async function underLoad(
  workers: number,
  body: (worker: number, record: (o: Outcome) => Outcome) => Promise<void>,
  during: (outcomes: readonly Outcome[]) => Promise<void>,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const record = (o: Outcome) => {
    outcomes.push(o);
    return o;
  };
  let stopping = false;
  const loops = Array.from({ length: workers }, async (_, worker) => {
    while (!stopping) {
      const started = Date.now();
      await body(worker, record);
      const rest = STEP_INTERVAL_MS - (Date.now() - started);
      if (rest > 0 && !stopping) await sleep(rest);
    }
  });
  try {
    await during(outcomes);
  } finally {
    stopping = true;
    await Promise.all(loops);
  }
  return outcomes;
}

/**
 * The mixed load of the failover tests, one refresh chain per worker through the balancer: refresh
 * (retrying the same token after a 503/502, which the reuse grace window answers with the same
 * child), introspect the fresh access token, and introspect one of the tokens revoked before the
 * load started, which must never come back active.
 */
function refreshAndIntrospect(topology: Topology, chains: Tokens[], revoked: string[], resurrected: Outcome[]) {
  return async (worker: number, record: (o: Outcome) => Outcome) => {
    const base = topology.balancer.url;
    const rotated = record(await refresh(base, chains[worker].refresh));
    if (rotated.status === 200) chains[worker] = tokensOf(rotated);
    record(await introspect(topology, base, chains[worker].access));
    const check = record(
      await introspect(topology, base, revoked[Math.floor(Math.random() * revoked.length)], 'introspect revoked'),
    );
    if (check.status === 200 && check.body.active !== false) resurrected.push(check);
  };
}

export interface FailoverRun {
  outcomes: Outcome[];
  /** Access tokens revoked before and during the load (with a 200 from /oauth/revoke). */
  revoked: string[];
  /** Introspections of a revoked token that did not answer inactive: must stay empty. */
  resurrected: Outcome[];
}

/**
 * Revokes a few tokens, then runs the refresh/introspection load through the balancer (one chain
 * per user) plus a worker that keeps logging in and revoking, while trigger() fails something
 * over; the load goes on until 20 more requests have succeeded after trigger() returned.
 */
export async function failoverUnderLoad(topology: Topology, trigger: () => Promise<void>): Promise<FailoverRun> {
  const base = topology.balancer.url;
  const revoked: string[] = [];
  for (const [i, username] of topology.users.entries()) {
    const tokens = tokensOf(await login(base, username));
    tokensOf(await login(base, username)); // a second session of the same user stays active
    expect((await revoke(base, i % 2 ? tokens.refresh : tokens.access)).status).toBe(200);
    revoked.push(tokens.access);
  }
  const chains = await Promise.all(topology.users.map(async (username) => tokensOf(await login(base, username))));
  const resurrected: Outcome[] = [];
  const load = refreshAndIntrospect(topology, chains, revoked, resurrected);
  const outcomes = await underLoad(
    chains.length + 1,
    async (worker, record) => {
      if (worker < chains.length) return load(worker, record);
      // The revoking worker: a new session, its access token revoked and checked at once.
      const issued = record(await login(base, topology.users[0]));
      if (issued.status !== 200) return;
      const { access } = tokensOf(issued);
      if (record(await revoke(base, access)).status !== 200) return;
      revoked.push(access);
      const check = record(await introspect(topology, base, access, 'introspect revoked'));
      if (check.status === 200 && check.body.active !== false) resurrected.push(check);
    },
    async (progress) => {
      const succeeded = () => progress.filter((o) => o.status === 200).length;
      await waitUntil('the load to get going', () => succeeded() >= 20, 30_000);
      await trigger();
      const after = succeeded();
      await waitUntil('20 more successful requests after the failover', () => succeeded() >= after + 20, 30_000);
    },
  );
  return { outcomes, revoked, resurrected };
}

/**
 * After a failover: every revoked token inactive at every instance; every instance serving login,
 * refresh and introspection again, in the same process as before.
 */
export async function expectNothingLost(
  topology: Topology,
  run: FailoverRun,
  pids: Array<number | undefined>,
): Promise<void> {
  expect(run.resurrected).toEqual([]);
  expect(undefinedAnswers(run.outcomes)).toEqual([]);
  expect(topology.instances.map((i) => i.server.child.pid)).toEqual(pids);
  for (const instance of topology.instances) {
    expect(instance.server.child.exitCode).toBeNull();
    // An instance whose Redis client has not yet followed the promotion answers a defined 503;
    // it must come back on its own, within a bound.
    let serving: Outcome | undefined;
    await waitUntil(
      `${instance.url} to serve logins again`,
      async () => {
        serving = await login(instance.url, topology.users[0]);
        if (serving.status !== 200 && serving.status !== 503) return true;
        return serving.status === 200;
      },
      scaled(30_000),
      250,
    ).catch(async (error: unknown) => {
      const ready = await fetch(`${instance.url}/health/ready`).then((r) => r.text(), String);
      throw new Error(
        `${(error as Error).message}; last answer ${serving?.status} ${JSON.stringify(serving?.body)}; ` +
          `/health/ready ${ready}; its log:\n${instance.server.output().split('\n').slice(-40).join('\n')}`,
      );
    });
    const fresh = tokensOf(serving!);
    expect((await refresh(instance.url, fresh.refresh)).status).toBe(200);
    expect((await introspect(topology, instance.url, fresh.access)).body).toMatchObject({ active: true });
    const answers = await Promise.all(run.revoked.map((t) => introspect(topology, instance.url, t)));
    expect(answers.filter((a) => !(a.status === 200 && a.body.active === false))).toEqual([]);
  }
}

/**
 * Whether the Redis node holding the {rv} slot has every revocation: each revoked access token's
 * jti or session key, and the epoch. Returns the tokens it is missing.
 */
export async function missingFromIndex(redis: Redis, prefix: string, revoked: string[]): Promise<string[]> {
  const missing: string[] = [];
  if ((await redis.exists(`${prefix}{rv}:epoch`)) !== 1) missing.push('epoch');
  for (const token of revoked) {
    const { jti, sid } = jwtPayload(token) as { jti: string; sid: string };
    if ((await redis.exists(`${prefix}{rv}:jti:${jti}`, `${prefix}{rv}:sid:${sid}`)) === 0) missing.push(jti);
  }
  return missing;
}

/** Counts by label and status, and the slowest call, for the test log. */
export function summarizeRun(run: FailoverRun): string {
  return `${summarize(run.outcomes)}; ${run.revoked.length} revoked tokens checked`;
}

/** What a failover test asserts of a load's outcomes: no hang, only successes and defined 503s. */
function undefinedAnswers(outcomes: Outcome[]): Outcome[] {
  return outcomes.filter((o) => o.timedOut || !(o.status === 200 || isDefined503(o)));
}
