import os from 'node:os';
import request from 'supertest';
import { parseConfig } from '../../src/config';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, passwordLogin, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Bounded Argon2: one hash at a time (AUTHD_ARGON2_MAX_CONCURRENCY=1) at the production cost, a
 * queue of 16 that waits at most 50 ms. A burst of password logins gets fast 503s for the excess,
 * while the grants and endpoints that never hash keep answering. The throttle is opened wide so
 * that it plays no part. Nothing here asserts timings.
 */

const ENV = {
  AUTHD_ARGON2_MAX_CONCURRENCY: '1',
  AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '50',
  AUTHD_ARGON2_MEMORY_KIB: '19456',
  AUTHD_ARGON2_TIME_COST: '2',
  AUTHD_LOGIN_MAX_FAILURES: '1000',
  AUTHD_LOGIN_MAX_FAILURES_PER_IP: '100000',
  AUTHD_LOGIN_MAX_FAILURES_PER_USER: '100000',
};

const BUSY = { error: 'temporarily_unavailable', error_description: 'The server is busy; try again shortly.' };

describe.each(backends())('Argon2 capacity over HTTP on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend, ENV);
    f = await seed(stack);
  });
  afterAll(() => stack.close());

  it('hashes one at a time with a queue of 16 waiting at most 50 ms', () => {
    expect(stack.services.limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
    expect(stack.config.argon2Capacity).toEqual({ concurrency: 1, maxQueue: 16, maxWaitMs: 50 });
    expect(stack.config.argon2).toEqual({ memoryKiB: 19456, timeCost: 2, parallelism: 1 });
  });

  it('answers a burst of 40 logins with 200s and fast 503s, while non-hashing requests keep answering 200', async () => {
    const first = await passwordLogin(f.app);
    expect(first.status).toBe(200);

    const logins = Array.from({ length: 40 }, () => passwordLogin(f.app));
    const others = [
      token(f.app, { grant_type: 'client_credentials' }, { Authorization: basic(f.machine.id, f.machine.secret) }),
      token(f.app, { grant_type: 'refresh_token', client_id: 'web', refresh_token: first.body.refresh_token }),
      request(f.app).get('/.well-known/jwks.json'),
    ];
    const [clientCredentials, refreshed, jwks, ...answers] = await Promise.all([...others, ...logins]);

    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]); // no 429, no 500
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
    for (const busy of answers.filter((r) => r.status === 503)) {
      expect(busy.body).toEqual(BUSY);
      expect(busy.headers['retry-after']).toBe('1');
      expect(busy.headers['cache-control']).toBe('no-store');
    }
    for (const ok of answers.filter((r) => r.status === 200)) expect(ok.body.access_token).toEqual(expect.any(String));

    expect({ status: clientCredentials.status, token: typeof clientCredentials.body.access_token }).toEqual({
      status: 200,
      token: 'string',
    });
    expect({ status: refreshed.status, token: typeof refreshed.body.refresh_token }).toEqual({
      status: 200,
      token: 'string',
    });
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys.length).toBeGreaterThanOrEqual(1);

    // Every slot and queue place was given back, and logins work again.
    expect(stack.services.limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
    expect((await passwordLogin(f.app)).status).toBe(200);
  });

  it('gives unknown users the same fast 503 at capacity (no enumeration through the busy answer)', async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        passwordLogin(f.app, i % 2 ? { username: `nobody-${i}@example.com` } : { password: `wrong password ${i}` }),
      ),
    );
    expect(answers.map((r) => r.status).filter((s) => s !== 400 && s !== 503)).toEqual([]);
    const busy = answers.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const res of busy) expect(res.body).toEqual(BUSY);
    expect(stack.services.limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
  });
});

describe('Argon2 concurrency from the configuration', () => {
  it('is capped by the memory budget: 40 MiB holds two hashes of 19456 KiB', () => {
    const config = parseConfig({
      AUTHD_ARGON2_MEMORY_BUDGET_MIB: '40',
      AUTHD_ARGON2_MEMORY_KIB: '19456',
      AUTHD_ARGON2_MAX_CONCURRENCY: '64',
    });
    expect(config.argon2Capacity).toEqual({ concurrency: 2, maxQueue: 32, maxWaitMs: 500 });
  });

  it('is capped by the cores when no maximum is set', () => {
    const config = parseConfig({ AUTHD_ARGON2_MEMORY_BUDGET_MIB: '40', AUTHD_ARGON2_MEMORY_KIB: '19456' });
    expect(config.argon2Capacity.concurrency).toBe(Math.min(2, os.availableParallelism()));
  });

  it('counts every lane of a parallel hash against the budget', () => {
    const config = parseConfig({
      AUTHD_ARGON2_MEMORY_BUDGET_MIB: '40',
      AUTHD_ARGON2_MEMORY_KIB: '19456',
      AUTHD_ARGON2_PARALLELISM: '2',
      AUTHD_ARGON2_MAX_CONCURRENCY: '64',
    });
    expect(config.argon2Capacity.concurrency).toBe(1);
  });

  it('takes a smaller explicit maximum over the budget', () => {
    const config = parseConfig({
      AUTHD_ARGON2_MEMORY_BUDGET_MIB: '1024',
      AUTHD_ARGON2_MEMORY_KIB: '19456',
      AUTHD_ARGON2_MAX_CONCURRENCY: '3',
    });
    expect(config.argon2Capacity.concurrency).toBe(3);
  });

  it('refuses a budget too small for a single hash', () => {
    expect(() => parseConfig({ AUTHD_ARGON2_MEMORY_BUDGET_MIB: '16', AUTHD_ARGON2_MEMORY_KIB: '19456' })).toThrow(
      /AUTHD_ARGON2_MEMORY_BUDGET_MIB: too small/,
    );
  });
});
