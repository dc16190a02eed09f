import crypto from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createApp } from '../src/app';
import { startMetricsServer } from '../src/metrics';
import { backends, openStack, type TestStack } from './support/backends';
import { basic, PASSWORD, seed, token, type Fixtures } from './support/fixtures';

/** Prometheus metrics: what a login, a refresh, a client_credentials grant and a failed login count, and the metrics port. */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key] = value.replace(/\\(.)/g, '$1');
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples named so whose labels include these. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = find(samples, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

describe.each(backends())('metrics on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let samples: Sample[];

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    const app = createApp(stack.config, stack.services);
    const login = await token(app, {
      grant_type: 'password',
      client_id: 'web',
      username: 'alice@example.com',
      password: PASSWORD,
    });
    expect(login.status).toBe(200);
    expect(
      (await token(app, { grant_type: 'refresh_token', client_id: 'web', refresh_token: login.body.refresh_token }))
        .status,
    ).toBe(200);
    expect(
      (await token(app, { grant_type: 'client_credentials' }, { Authorization: basic(f.machine.id, f.machine.secret) }))
        .status,
    ).toBe(200);
    expect(
      (
        await token(app, {
          grant_type: 'password',
          client_id: 'web',
          username: 'alice@example.com',
          password: 'not the password',
        })
      ).status,
    ).toBe(400);
    samples = parseExposition(await stack.services.metrics.registry.metrics());
  });
  afterAll(() => stack.close());

  it('counts one token issued per successful grant', () => {
    expect(
      find(samples, 'authd_tokens_issued_total')
        .map((s) => [s.labels.grant, s.value])
        .sort(),
    ).toEqual([
      ['client_credentials', 1],
      ['password', 1],
      ['refresh_token', 1],
    ]);
  });

  it('counts the failed login as an invalid_grant answer of /oauth/token', () => {
    expect(
      value(samples, 'authd_oauth_errors_total', { route: '/oauth/token', error: 'invalid_grant' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts audit events by type', () => {
    expect(value(samples, 'authd_auth_events_total', { type: 'login_failed' })).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'authd_auth_events_total', { type: 'login_succeeded' })).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'authd_auth_events_total', { type: 'token_refreshed' })).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'authd_auth_events_total', { type: 'client_credentials_granted' })).toBeGreaterThanOrEqual(1);
  });

  it('counts requests by route, grant and status', () => {
    expect(
      value(samples, 'authd_http_requests_total', { route: '/oauth/token', grant: 'password', status: '200' }),
    ).toBe(1);
    expect(
      value(samples, 'authd_http_requests_total', { route: '/oauth/token', grant: 'password', status: '400' }),
    ).toBe(1);
    expect(
      value(samples, 'authd_http_requests_total', { route: '/oauth/token', grant: 'refresh_token', status: '200' }),
    ).toBe(1);
  });

  it('has latency histogram buckets per route and grant, cumulative up to +Inf = count', () => {
    const labels = { route: '/oauth/token', grant: 'password' };
    const buckets = find(samples, 'authd_http_request_duration_seconds_bucket', labels);
    expect(buckets.map((b) => b.labels.le)).toEqual([
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '+Inf',
    ]);
    const counts = buckets.map((b) => b.value);
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    expect(counts.at(-1)).toBe(2);
    expect(value(samples, 'authd_http_request_duration_seconds_count', labels)).toBe(2);
    expect(value(samples, 'authd_http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
  });

  it('has the Argon2 gauges, idle', () => {
    expect(value(samples, 'authd_argon2_queue_depth')).toBe(0);
    expect(value(samples, 'authd_argon2_active')).toBe(0);
  });

  it('has the default process metrics, all under its own prefix', () => {
    expect(
      samples.filter((s) => s.name.startsWith('authd_process_') || s.name.startsWith('authd_nodejs_')).length,
    ).toBeGreaterThan(10);
    expect(samples.filter((s) => !s.name.startsWith('authd_')).map((s) => s.name)).toEqual([]);
  });

  it('keeps the route label bounded: paths nobody routes never become labels, whatever error they cause', async () => {
    const app = createApp(stack.config, stack.services);
    const probes = Array.from({ length: 3 }, () => `/probe-${crypto.randomBytes(6).toString('hex')}`);
    for (const path of probes) {
      await request(app).get(path);
      await request(app).post(path).type('json').send('{"malformed":');
      await request(app)
        .post(path)
        .type('form')
        .send({ padding: 'x'.repeat(17 * 1024) });
      await request(app)
        .post(path)
        .set('Content-Type', 'application/x-www-form-urlencoded; charset=utf-16')
        .send('a=b');
    }
    const after = parseExposition(await stack.services.metrics.registry.metrics());
    const routes = new Set(after.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route));
    expect([...routes].filter((r) => r.startsWith('/probe-'))).toEqual([]);
  });

  describe('the metrics server', () => {
    let server: http.Server;
    let base: string;

    beforeAll(async () => {
      server = await startMetricsServer(stack.services.metrics, 0, '127.0.0.1');
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))));

    it('serves GET /metrics in the Prometheus text format', async () => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(stack.services.metrics.registry.contentType);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const served = parseExposition(await res.text());
      expect(value(served, 'authd_tokens_issued_total', { grant: 'password' })).toBe(1);
    });

    it.each([
      ['GET', '/'],
      ['GET', '/metrics/'],
      ['GET', '/metric'],
      ['GET', '/oauth/token'],
      ['POST', '/metrics'],
      ['DELETE', '/metrics'],
    ])('answers %s %s with 404', async (method, path) => {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('');
    });

    it('listens only where it was told (127.0.0.1)', () => {
      expect((server.address() as AddressInfo).address).toBe('127.0.0.1');
    });
  });
});
