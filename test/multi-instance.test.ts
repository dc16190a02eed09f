/**
 * Two authd PROCESSES (the built server, as production runs it) behind an imaginary load
 * balancer: one PostgreSQL database, one Redis, one keys directory, one issuer. Whatever one
 * instance issues or revokes, the other honours at once; a refresh token raced on both rotates once.
 *
 * Needs real PostgreSQL (a scratch database from DATABASE_URL), redis-server (a private one, so the
 * test may reconfigure it) and dist/ (`npm test` builds it first).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { createScratchDatabase, FAST_ARGON2, tempDir } from './support/backends';
import { basic, decodeJwt, PASSWORD } from './support/fixtures';
import {
  redisServerAvailable,
  ROOT,
  startRedisServer,
  startServerProcess,
  type ServerProcess,
} from './support/processes';
import { registerInsteadOfSuite, waitUntil } from './support/suite';
import { scaled } from './support/timing';

jest.setTimeout(scaled(60_000));

const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const PREFIX = 'authd-multi:';
const EPOCH = `${PREFIX}{rv}:epoch`;

/** Why this file cannot run here, or undefined when it can. */
function missingRequirement(): string | undefined {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is not set (a PostgreSQL server to create a scratch database on)';
  if (!redisServerAvailable()) return 'redis-server is not installed (this file runs a private one)';
  return undefined;
}

/** Runs the built CLI as its own process with env, feeding stdin. */
function runCli(
  args: string[],
  env: Record<string, string>,
  stdin = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function cliJson<T>(args: string[], env: Record<string, string>, stdin?: string): Promise<T> {
  const { code, stdout, stderr } = await runCli([...args, '--json'], env, stdin);
  if (code !== 0) throw new Error(`authd ${args.join(' ')} exited with ${code}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

describe('two authd processes sharing PostgreSQL, Redis and keys', () => {
  const missing = missingRequirement();
  if (missing) {
    registerInsteadOfSuite(
      missing,
      __filename,
      'DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test (with redis-server on the PATH)',
    );
    return;
  }

  let redisServer: Awaited<ReturnType<typeof startRedisServer>>;
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let keysDir: string;
  let env: Record<string, string>;
  let db: Client;
  let admin: Redis;
  let a: ServerProcess;
  let b: ServerProcess;
  let rsSecret: string;
  const started: ServerProcess[] = [];

  const login = async (server: ServerProcess) => {
    const res = await post(`${server.url}/oauth/token`, {
      grant_type: 'password',
      client_id: 'web',
      username: 'alice@example.com',
      password: PASSWORD,
    });
    expect(res.status).toBe(200);
    return { access: String(res.body.access_token), refresh: String(res.body.refresh_token) };
  };
  const refresh = (server: ServerProcess, refreshToken: string) =>
    post(`${server.url}/oauth/token`, { grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken });
  const revoke = (server: ServerProcess, token: string) =>
    post(`${server.url}/oauth/revoke`, { client_id: 'web', token });
  const introspect = async (server: ServerProcess, token: string) => {
    const res = await post(
      `${server.url}/oauth/introspect`,
      { token },
      { authorization: basic('orders-api', rsSecret) },
    );
    expect(res.status).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    if (!fs.existsSync(CLI))
      throw new Error(`${CLI} is missing: run the tests with \`npm test\`, which builds dist/ first`);
    [redisServer, scratch] = await Promise.all([startRedisServer(), createScratchDatabase()]);
    keysDir = tempDir('authd-multi-keys-');
    env = {
      DATABASE_URL: scratch.url,
      REDIS_URL: redisServer.url,
      AUTHD_REDIS_PREFIX: PREFIX,
      AUTHD_KEYS_DIR: keysDir,
      AUTHD_ISSUER: 'http://authd.multi.test',
      AUTHD_METRICS_PORT: '0',
      AUTHD_LOG_LEVEL: 'warn',
      NODE_ENV: 'test',
      ...FAST_ARGON2,
    };
    db = new Client({ connectionString: scratch.url });
    admin = new Redis(redisServer.url);

    // Everything at once on the empty database: both servers and the three CLI commands creating
    // the fixtures all migrate and look for a signing key at the same moment. (Creating the
    // fixtures first would run the migrations and make the key before the servers start, and
    // there would be no race left to test.) Clients and users are read per request, so the
    // servers need not start after them.
    const startTracked = async () => {
      const server = await startServerProcess(env);
      started.push(server);
      return server;
    };
    const results = await Promise.allSettled([
      startTracked(),
      startTracked(),
      cliJson<{ client_id: string }>(
        [
          'clients',
          'create',
          '--id',
          'web',
          '--name',
          'Web login',
          '--public',
          '--first-party',
          '--grant',
          'password,refresh_token',
          '--scope',
          'read',
          '--default-scope',
          'read',
          '--audience',
          'https://api.test',
        ],
        env,
      ),
      cliJson<{ client_id: string; client_secret: string }>(
        [
          'clients',
          'create',
          '--id',
          'orders-api',
          '--name',
          'Orders API',
          '--introspect',
          '--audience',
          'https://api.test',
        ],
        env,
      ),
      cliJson<{ id: string }>(
        ['users', 'create', 'alice@example.com', '--password-stdin', '--scope', 'read', '--role', 'user'],
        env,
        PASSWORD + '\n',
      ),
    ] as const);
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
    const [serverA, serverB, web, resourceServer, alice] = results.map(
      (r) => (r as PromiseFulfilledResult<unknown>).value,
    ) as [
      ServerProcess,
      ServerProcess,
      { client_id: string },
      { client_id: string; client_secret: string },
      { id: string },
    ];
    expect([web.client_id, resourceServer.client_id, alice.id]).toEqual(['web', 'orders-api', expect.any(String)]);
    a = serverA;
    b = serverB;
    rsSecret = resourceServer.client_secret;
    await db.connect();
  });

  afterAll(async () => {
    // Anything still running (a failed test): kill it. A process that exited already is left alone.
    await Promise.all(
      started.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.stop('SIGKILL')),
    );
    await db?.end().catch(() => {});
    admin?.disconnect();
    await redisServer?.stop();
    await scratch?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
  });

  it('raced start-up on an empty database: migrations applied once, exactly one signing key, the same JWKS at both', async () => {
    const [{ keys }] = (await db.query('SELECT count(*)::int AS keys FROM signing_keys')).rows;
    expect(keys).toBe(1);
    const migrations = fs
      .readdirSync(path.join(ROOT, 'migrations'))
      .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
      .map((f) => f.replace(/\.sql$/, ''))
      .sort();
    expect(
      (await db.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version),
    ).toEqual(migrations);

    const [jwksA, jwksB] = await Promise.all(
      [a, b].map(
        async (s) =>
          (await fetch(`${s.url}/.well-known/jwks.json`)).json() as Promise<{ keys: Array<{ kid: string }> }>,
      ),
    );
    expect(jwksA.keys).toHaveLength(1);
    expect(jwksB).toEqual(jwksA);
    for (const s of [a, b]) expect((await fetch(`${s.url}/health/ready`)).status).toBe(200);
  });

  it('a token issued by A refreshes at B, and both accept what B issued', async () => {
    const issued = await login(a);
    const refreshed = await refresh(b, issued.refresh);
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(String(refreshed.body.access_token)).payload.sid).toBe(decodeJwt(issued.access).payload.sid);
    for (const s of [a, b])
      expect(await introspect(s, String(refreshed.body.access_token))).toMatchObject({
        active: true,
        client_id: 'web',
      });
    // And back again: B's refresh token rotates at A.
    expect((await refresh(a, String(refreshed.body.refresh_token))).status).toBe(200);
  });

  it('a revocation at A is seen by introspection at B at once (access token, then a whole session)', async () => {
    // The index is complete (both instances seed it at start), so B answers from Redis alone.
    await waitUntil('the revocation index to be seeded', async () => (await admin.exists(EPOCH)) === 1);
    const first = await login(a);
    const second = await login(b);
    expect(await introspect(b, first.access)).toMatchObject({ active: true });

    expect((await revoke(a, first.access)).status).toBe(200);
    expect(await introspect(b, first.access)).toEqual({ active: false });
    expect(await introspect(b, second.access)).toMatchObject({ active: true });

    expect((await revoke(a, second.refresh)).status).toBe(200);
    expect(await introspect(b, second.access)).toEqual({ active: false });
    expect((await refresh(b, second.refresh)).status).toBe(400);
  });

  it('10 concurrent refreshes of one token, 5 at A and 5 at B: all 200 with the same new refresh token, no fork', async () => {
    const issued = await login(a);
    const sid = String(decodeJwt(issued.access).payload.sid);

    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => refresh(i % 2 === 0 ? a : b, issued.refresh)),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    const refreshTokens = new Set(answers.map((r) => r.body.refresh_token));
    expect(refreshTokens.size).toBe(1);
    const [winner] = refreshTokens;
    expect(winner).not.toBe(issued.refresh);

    const { rows } = await db.query<{ jti: string; consumed: boolean }>(
      'SELECT jti::text, consumed_at IS NOT NULL AS consumed FROM refresh_tokens WHERE session_id = $1',
      [sid],
    );
    expect(rows).toHaveLength(2); // the original (consumed) and exactly one child
    const unconsumed = rows.filter((r) => !r.consumed);
    expect(unconsumed).toEqual([{ jti: decodeJwt(String(winner)).payload.jti, consumed: false }]);
    const [{ revoked }] = (
      await db.query('SELECT revoked_at IS NOT NULL AS revoked FROM sessions WHERE id = $1', [sid])
    ).rows;
    expect(revoked).toBe(false);

    // The family goes on from the one head, at either instance.
    expect((await refresh(b, String(winner))).status).toBe(200);
  });

  it('a revocation whose Redis write failed at B is honoured by A too (Redis refusing writes: maxmemory reached)', async () => {
    const issued = await login(b);
    // Both instances on a complete index (epoch present), so A answers from Redis alone.
    await introspect(a, issued.access);
    await introspect(b, issued.access);
    await waitUntil('the revocation index to be seeded', async () => (await admin.exists(EPOCH)) === 1);
    expect(await introspect(a, issued.access)).toMatchObject({ active: true });

    // Redis full with the default policy (noeviction): reads work, writes fail with OOM.
    await admin.config('SET', 'maxmemory', '1');
    try {
      expect((await revoke(b, issued.access)).status).toBe(200); // durable in PostgreSQL
      const [{ n }] = (
        await db.query("SELECT count(*)::int AS n FROM revocations WHERE kind = 'jti' AND subject = $1", [
          decodeJwt(issued.access).payload.jti,
        ])
      ).rows;
      expect(n).toBe(1);
      expect(await introspect(b, issued.access)).toEqual({ active: false }); // B knows its write was missed
      expect(await introspect(a, issued.access)).toEqual({ active: false }); // A must not trust the index either
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
  });

  it('both processes exit 0 on SIGTERM', async () => {
    expect(await Promise.all([a.stop('SIGTERM'), b.stop('SIGTERM')])).toEqual([0, 0]);
  });
});
