/**
 * authd on PostgreSQL through PgBouncer 1.18 in TRANSACTION pooling mode with its default
 * settings (no ignore_startup_parameters, no max_prepared_statements): the CLI's migrate, the
 * pool's timeouts and locks, and the token endpoint's transactions (rotation, the login
 * throttle's row lock, revocation) — the database-only paths, without Redis.
 *
 * Decisions this file holds authd to: no startup parameter but user and database; statement
 * timeouts are SET LOCAL per transaction (and a client-side bound per single statement); advisory
 * locks are transaction-level; only unnamed prepared statements; no LISTEN, no session SET.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { createApp } from '../../src/app';
import { UnavailableError } from '../../src/errors';
import { parseConfig } from '../../src/config';
import { openServices, type Services } from '../../src/services';
import type { Database } from '../../src/store/database';
import { migrate, readMigrations } from '../../src/store/migrate';
import { createPostgresDatabase } from '../../src/store/postgres';
import { createScratchDatabase, FAST_ARGON2, silentLogger, tempDir } from '../support/backends';
import { decodeJwt, PASSWORD } from '../support/fixtures';
import { ROOT } from '../support/processes';
import { registerInsteadOfSuite, sleep } from '../support/suite';
import { PortBlock, ProcessGroup } from './processes';
import { startPgBouncer, type PgBouncer } from './proxies';
import { AUDIENCE, HOW_TO_RUN, missingRequirement } from './stack';

jest.setTimeout(120_000);

// pg_locks covers the whole server, where other test runs take advisory locks of their own.
const ADVISORY_LOCKS_HERE = `SELECT count(*)::int AS n FROM pg_locks
  WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

function runMigrateCli(databaseUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/cli/main.js'), 'migrate'], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        DATABASE_URL: databaseUrl,
        AUTHD_KEYS_DIR: tempDir('authd-pgb-keys-'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('authd through PgBouncer in transaction mode (default settings)', () => {
  const missing = missingRequirement();
  if (missing) {
    registerInsteadOfSuite(missing, __filename, HOW_TO_RUN);
    return;
  }

  const group = new ProcessGroup();
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pgbouncer: PgBouncer;
  let url: string;
  const opened: Database[] = [];
  const open = (statementTimeoutMillis?: number) => {
    const db = createPostgresDatabase({
      connectionString: url,
      max: 4,
      ...(statementTimeoutMillis && { statementTimeoutMillis }),
    });
    opened.push(db);
    return db;
  };

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    pgbouncer = await startPgBouncer(group, new PortBlock(17000), scratch.url);
    url = pgbouncer.url(scratch.url);
  });

  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close().catch(() => {})));
    await group.stop();
    await scratch?.drop();
  });

  it('is a PgBouncer that refuses a statement_timeout startup parameter (what authd used to send)', async () => {
    const client = new Client({ connectionString: url, statement_timeout: 5000 });
    await expect(client.connect()).rejects.toThrow(/unsupported startup parameter: statement_timeout/);
    const [config] = await pgbouncer.show('CONFIG').then((rows) => rows.filter((r) => r.key === 'pool_mode'));
    expect(config.value).toBe('transaction');
  });

  it('`authd migrate` runs through it, twice at once: every migration applied exactly once', async () => {
    const [first, second] = await Promise.all([runMigrateCli(url), runMigrateCli(url)]);
    expect([first.code, second.code, first.output + second.output]).toEqual([0, 0, expect.any(String)]);
    const direct = new Client({ connectionString: scratch.url });
    await direct.connect();
    try {
      const versions = (await direct.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map(
        (r) => r.version,
      );
      expect(versions).toEqual((await readMigrations()).map((m) => m.version));
      // No advisory lock left behind on any server connection PgBouncer keeps open.
      expect((await direct.query(ADVISORY_LOCKS_HERE)).rows[0].n).toBe(0);
    } finally {
      await direct.end();
    }
    expect(await migrate(open())).toEqual([]);
  });

  it('bounds a statement inside a transaction on the server (SET LOCAL), without leaking the setting to the pool', async () => {
    const db = open(300);
    const started = Date.now();
    // The server cancelled it (57014, query_canceled); authd calls that "postgres is unavailable".
    const error = await db.transaction((tx) => tx.query('SELECT pg_sleep(5)')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).cause).toMatchObject({ code: '57014' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await db.transaction((tx) => tx.query<{ statement_timeout: string }>('SHOW statement_timeout'))).toEqual([
      { statement_timeout: '300ms' },
    ]);
    // Outside any transaction the server default applies: nothing was SET for the session.
    expect(await db.query<{ statement_timeout: string }>('SHOW statement_timeout')).toEqual([
      { statement_timeout: '0' },
    ]);
  });

  it('bounds a single statement on the client: a defined "unavailable" error, and the pool goes on', async () => {
    const db = open(300);
    const started = Date.now();
    await expect(db.query('SELECT pg_sleep(5)')).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('withAdvisoryLock excludes across connections and leaves no lock behind', async () => {
    const db = open();
    let inside = 0;
    let overlapped = false;
    await Promise.all(
      Array.from({ length: 4 }, () =>
        db.withAdvisoryLock(4242, async () => {
          inside++;
          if (inside > 1) overlapped = true;
          await sleep(100);
          inside--;
        }),
      ),
    );
    expect(overlapped).toBe(false);
    const [{ n }] = await db.query<{ n: number }>(ADVISORY_LOCKS_HERE);
    expect(n).toBe(0);
  });

  describe('the token endpoint on the pooler (database throttle and revocations)', () => {
    let services: Services;
    let app: ReturnType<typeof createApp>;
    let rsAuth: string;

    beforeAll(async () => {
      const config = parseConfig({
        DATABASE_URL: url,
        AUTHD_ISSUER: 'https://authd.pgbouncer.test',
        AUTHD_KEYS_DIR: tempDir('authd-pgb-'),
        NODE_ENV: 'test',
        ...FAST_ARGON2,
      });
      services = await openServices(config, { logger: silentLogger });
      await services.clientService.create({
        id: 'web',
        name: 'Web',
        confidential: false,
        firstParty: true,
        grantTypes: ['password', 'refresh_token'],
        scopes: ['read'],
        defaultScopes: ['read'],
        audience: AUDIENCE,
      });
      const rs = await services.clientService.create({
        id: 'resource-server',
        name: 'RS',
        confidential: true,
        canIntrospect: true,
        grantTypes: [],
        audience: AUDIENCE,
      });
      rsAuth = 'Basic ' + Buffer.from(`resource-server:${rs.secret}`).toString('base64');
      await services.users.create({ username: 'alice@example.com', password: PASSWORD, scopes: ['read'] });
      await services.users.create({ username: 'bob@example.com', password: PASSWORD, scopes: ['read'] });
      app = createApp(config, services);
    });
    afterAll(() => services?.close());

    const token = (params: Record<string, string>) =>
      request(app)
        .post('/oauth/token')
        .type('form')
        .send({ client_id: 'web', ...params });
    const login = (username = 'alice@example.com', password = PASSWORD) =>
      token({ grant_type: 'password', username, password });

    it('10 concurrent refreshes of one token rotate it once (the single-statement rotation), no fork', async () => {
      const issued = await login();
      expect(issued.status).toBe(200);
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          token({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token }),
        ),
      );
      expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(new Set(answers.map((r) => r.body.refresh_token)).size).toBe(1);
      const sid = String(decodeJwt(issued.body.access_token).payload.sid);
      const rows = await services.db.query<{ heads: number; all: number }>(
        'SELECT count(*) FILTER (WHERE consumed_at IS NULL)::int AS heads, count(*)::int AS all FROM refresh_tokens WHERE session_id = $1',
        [sid],
      );
      expect(rows).toEqual([{ heads: 1, all: 2 }]);
    });

    it("admits exactly 5 of 20 parallel wrong guesses (the throttle's row-locking transaction); the other 15 get 429", async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => login('bob@example.com', 'wrong password')));
      const counts: Record<number, number> = {};
      for (const r of answers) counts[r.status] = (counts[r.status] ?? 0) + 1;
      expect(counts).toEqual({ 400: 5, 429: 15 });
    });

    it('a revoked access token and session are inactive at introspection', async () => {
      const issued = await login();
      const introspect = (t: string) =>
        request(app).post('/oauth/introspect').set('authorization', rsAuth).type('form').send({ token: t });
      expect((await introspect(issued.body.access_token)).body).toMatchObject({ active: true });
      expect(
        (
          await request(app)
            .post('/oauth/revoke')
            .type('form')
            .send({ client_id: 'web', token: issued.body.refresh_token })
        ).status,
      ).toBe(200);
      expect((await introspect(issued.body.access_token)).body).toEqual({ active: false });
      expect((await token({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token })).status).toBe(400);
    });
  });
});
