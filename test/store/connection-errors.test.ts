import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/app';
import { describeConnectionError, redactUrl } from '../../src/store/connection-errors';
import { backends, openStack, tempDir } from '../support/backends';
import { freePort, redisServerAvailable, ROOT, startRedisServer } from '../support/processes';
import { privatePostgresMissing, startPrivatePostgres, type PrivatePostgres } from '../support/private-postgres';
import { registerInsteadOfSuite, waitUntil } from '../support/suite';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(90_000));

const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const SECRET = 'hunter2-not-shown';

/** Runs the built authd with only the given environment; `serve` must fail before it listens. */
function authd(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const dir = tempDir('authd-conn-');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        AUTHD_DATA_DIR: path.join(dir, 'data'),
        AUTHD_KEYS_DIR: path.join(dir, 'keys'),
        PORT: '0',
        AUTHD_METRICS_PORT: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), scaled(30_000));
    child.once('exit', (code) => {
      clearTimeout(killer);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

/** The whole of stderr is one line naming the cause; the password never appears. */
function expectOneLine(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.stderr).not.toContain(SECRET);
  expect(result.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(pattern)]);
}

describe('connection errors name their cause', () => {
  it('shows URLs without their password', () => {
    expect(redactUrl(`postgres://authd:${SECRET}@db.internal:5432/authd`)).toBe(
      'postgres://authd:***@db.internal:5432/authd',
    );
    expect(redactUrl(`redis://:${SECRET}@cache:6379/0`)).toBe('redis://:***@cache:6379/0');
    expect(redactUrl('postgres://authd@db/authd')).toBe('postgres://authd@db/authd');
    expect(describeConnectionError(new Error('syntax error at or near "x"'), 'postgres')).toBeUndefined();
  });

  it('PostgreSQL on a closed port: connection refused (authd migrate)', async () => {
    const port = await freePort();
    const result = await authd({ DATABASE_URL: `postgres://authd:${SECRET}@127.0.0.1:${port}/authd` }, 'migrate');
    expectOneLine(
      result,
      new RegExp(
        `^authd: cannot connect to PostgreSQL at postgres://authd:\\*\\*\\*@127\\.0\\.0\\.1:${port}/authd: connection refused; nothing listens on 127\\.0\\.0\\.1:${port}`,
      ),
    );
  });

  it('PostgreSQL on a host that does not exist: host not found (authd serve)', async () => {
    const result = await authd({ DATABASE_URL: 'postgres://authd@nonexistent.invalid:5432/authd' }, 'serve');
    expectOneLine(
      result,
      /^authd: cannot connect to PostgreSQL at postgres:\/\/authd@nonexistent\.invalid:5432\/authd: host not found; the host name "nonexistent\.invalid" does not resolve/,
    );
  });

  it('Redis on a closed port: connection refused (authd serve)', async () => {
    const port = await freePort();
    const result = await authd({ REDIS_URL: `redis://:${SECRET}@127.0.0.1:${port}` }, 'serve');
    expectOneLine(
      result,
      new RegExp(`^authd: cannot connect to Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: connection refused`),
    );
  });
});

describe('a database that does not exist on the real server', () => {
  const { DATABASE_URL } = process.env;
  if (!DATABASE_URL) {
    registerInsteadOfSuite('DATABASE_URL is not set', __filename);
    return;
  }
  it('names the database and gives the createdb command (authd migrate)', async () => {
    const url = new URL(DATABASE_URL);
    const name = `authd_missing_${crypto.randomBytes(4).toString('hex')}`;
    url.pathname = `/${name}`;
    const result = await authd({ DATABASE_URL: url.toString() }, 'migrate');
    const server = `-h ${url.hostname}${url.port ? ` -p ${url.port}` : ''}${url.username ? ` -U ${url.username}` : ''}`;
    expectOneLine(
      result,
      new RegExp(`: database "${name}" does not exist; create it with \`createdb ${server} ${name}\`$`),
    );
  });
});

describe('a server of our own: passwords and TLS', () => {
  const missing = privatePostgresMissing();
  if (missing) {
    registerInsteadOfSuite(missing, __filename, 'sudo apt-get install postgresql, then run the tests as root');
    return;
  }
  let pg: PrivatePostgres;
  beforeAll(async () => {
    pg = await startPrivatePostgres(
      'hostssl all tlsonly 127.0.0.1/32 trust\nhost all authd 127.0.0.1/32 scram-sha-256',
      [
        "CREATE ROLE authd LOGIN PASSWORD 'the-right-one'",
        'CREATE ROLE tlsonly LOGIN',
        'CREATE DATABASE authd OWNER authd',
      ],
    );
  }, scaled(180_000));
  afterAll(() => pg?.stop());

  it('a wrong password: authentication failed, the password not shown (authd migrate)', async () => {
    const result = await authd({ DATABASE_URL: `postgres://authd:${SECRET}@127.0.0.1:${pg.port}/authd` }, 'migrate');
    expectOneLine(
      result,
      /^authd: cannot connect to PostgreSQL at postgres:\/\/authd:\*\*\*@127\.0\.0\.1:\d+\/authd: authentication failed; password authentication failed for user "authd"/,
    );
  });

  it('the right password migrates', async () => {
    const result = await authd(
      { DATABASE_URL: `postgres://authd:the-right-one@127.0.0.1:${pg.port}/authd` },
      'migrate',
    );
    expect(result).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^applied: 0001_core/) });
  });

  it('a server that accepts only TLS: TLS required (authd serve)', async () => {
    const result = await authd({ DATABASE_URL: `postgres://tlsonly@127.0.0.1:${pg.port}/authd` }, 'serve');
    expectOneLine(
      result,
      /^authd: cannot connect to PostgreSQL at postgres:\/\/tlsonly@127\.0\.0\.1:\d+\/authd: TLS required; the server accepts only encrypted connections/,
    );
  });
});

describe('/health/ready details', () => {
  if (!redisServerAvailable()) {
    registerInsteadOfSuite('redis-server is not installed', __filename);
    return;
  }
  it('names the cause of a failing check, without host names', async () => {
    const redis = await startRedisServer();
    const stack = await openStack(backends()[0], {
      REDIS_URL: redis.url,
      AUTHD_REDIS_PREFIX: `authd-conn:${crypto.randomBytes(4).toString('hex')}:`,
    });
    try {
      const app = createApp(stack.config, stack.services);
      expect((await request(app).get('/health/ready')).body).toEqual({
        status: 'ok',
        checks: { database: 'ok', keys: 'ok', redis: 'ok', audit: 'ok' },
      });
      await redis.stop();
      const stoppedAt = Date.now();
      let body: Record<string, unknown> = {};
      await waitUntil(
        'readiness to name the cause',
        async () => {
          body = (await request(app).get('/health/ready')).body;
          return JSON.stringify(body).includes('connection refused');
        },
        scaled(15_000),
      );
      process.stderr.write(`readiness named the cause ${Date.now() - stoppedAt} ms after Redis stopped\n`);
      expect(body).toEqual({
        status: 'unavailable',
        checks: { database: 'ok', keys: 'ok', redis: 'failing', audit: 'ok' },
        details: { redis: 'connection refused' },
      });
    } finally {
      await stack.close();
      await redis.stop();
    }
  });
});
