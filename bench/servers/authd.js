'use strict';
// authd as a benchmark server: a scratch database, clients, users and token pools seeded
// in-process through authd's own services (dist/), then `authd serve` as its own process.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('pg');
const pino = require('pino');
const { freePort, startProcess } = require('../process');
const { scratchDatabase } = require('../scratch-database');
const { form, basic, passwordLines, PASSWORD } = require('./common');

const AUDIENCE = 'https://api.bench.test';
const ARGON2_BUDGET_MIB = 256;

/** authd's environment for the run: production mode, real Postgres and Redis, quiet logs. */
function authdEnv({ databaseUrl, redisUrl, keysDir, port, workers, clientCacheTtl, pgPrepared, extraEnv }) {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    AUTHD_ISSUER: `http://127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    AUTHD_REDIS_PREFIX: `authd-bench-${crypto.randomBytes(3).toString('hex')}:`,
    AUTHD_KEYS_DIR: keysDir,
    AUTHD_LOG_LEVEL: 'warn',
    AUTHD_METRICS_PORT: '0',
    AUTHD_HOSTED_PAGES: 'false',
    AUTHD_ARGON2_MEMORY_BUDGET_MIB: String(ARGON2_BUDGET_MIB),
    // One client IP sends everything here: the brute-force ceilings must not be what we measure.
    AUTHD_LOGIN_MAX_FAILURES_PER_IP: '1000000',
    AUTHD_LOGIN_MAX_FAILURES_PER_USER: '1000000',
    AUTHD_WORKERS: workers,
    ...(clientCacheTtl !== undefined && { AUTHD_CLIENT_CACHE_TTL: clientCacheTtl }),
    ...(pgPrepared && { AUTHD_PG_PREPARED_STATEMENTS: 'true' }),
    ...extraEnv,
  };
}

/** authd's Argon2 parameters and password concurrency as it would configure them here. */
function authdArgon2(env) {
  const { parseConfig } = require('../../dist/src/config');
  const config = parseConfig(env);
  return { ...config.argon2, concurrency: config.argon2Capacity.concurrency, budgetMib: ARGON2_BUDGET_MIB };
}

/** A password-only sign-in (amr pwd, acr aal1), as the seeded sessions would have had. */
function passwordAssurance(now) {
  const { assuranceOf } = require('../../dist/src/sessions/assurance');
  return assuranceOf(undefined, now);
}

async function openServices(env) {
  const { parseConfig } = require('../../dist/src/config');
  const { openServices: open } = require('../../dist/src/services');
  return open(parseConfig(env), { logger: pino({ level: 'silent' }) });
}

/** Runs fn(i) for i in [0, n) with `concurrency` in flight. */
async function inParallel(n, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** A new session for user `userId` and its signed first refresh token. */
async function newFamily(services, userId) {
  const now = Date.now();
  const sessionId = crypto.randomUUID();
  const record = {
    jti: crypto.randomUUID(),
    kid: services.tokens.currentKid(),
    issuedAt: new Date(now),
    expiresAt: new Date(now + 86400_000),
  };
  await services.sessions.create({
    id: sessionId,
    userId,
    clientId: 'bench-web',
    scopes: ['read'],
    createdAt: new Date(now),
    expiresAt: new Date(now + 86400_000 * 30),
    ip: null,
    userAgent: 'bench',
    firstToken: record,
    assurance: passwordAssurance(now),
  });
  return services.tokens.signRefreshToken(record, { userId, clientId: 'bench-web', sessionId });
}

async function seed(env, { users, familySets, familiesPerSet, accessTokens, passwordHash }) {
  const services = await openServices(env);
  try {
    await services.clientService.create({
      id: 'bench-web',
      name: 'web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read', 'write'],
      defaultScopes: ['read'],
      audience: AUDIENCE,
    });
    const machine = await services.clientService.create({
      id: 'bench-machine',
      name: 'machine',
      confidential: true,
      grantTypes: ['client_credentials'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: AUDIENCE,
    });
    const rs = await services.clientService.create({
      id: 'bench-rs',
      name: 'resource server',
      confidential: true,
      canIntrospect: true,
      grantTypes: [],
      audience: AUDIENCE,
    });
    await importUsers(services, 'user', users, passwordHash);
    const [{ id: userId }] = await services.db.query("SELECT id FROM users WHERE username_normalized = 'user1'");
    const refreshSets = [];
    for (let s = 0; s < familySets; s++) {
      const set = [];
      await inParallel(familiesPerSet, 8, async () => set.push(await newFamily(services, userId)));
      refreshSets.push(set);
    }
    const access = [];
    await inParallel(accessTokens, 8, async () => {
      access.push(
        (
          await services.tokens.issueAccessToken({
            subject: userId,
            clientId: 'bench-web',
            audience: env.AUTHD_ISSUER,
            scopes: ['read'],
            roles: [],
            sessionId: crypto.randomUUID(),
            ttlSeconds: 900,
          })
        ).token,
      );
    });
    return { machineSecret: machine.secret, rsSecret: rs.secret, refreshSets, accessTokens: access, userId };
  } finally {
    await services.close();
  }
}

/** `count` users named <prefix>1… with one Argon2id hash, through authd's user importer. */
async function importUsers(services, prefix, count, passwordHash) {
  const { validateImportRecord } = require('../../dist/src/users/user-import');
  for (let start = 0; start < count; start += 1000) {
    const rows = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      rows.push(
        validateImportRecord(
          { username: `${prefix}${i + 1}`, password_hash: passwordHash, scopes: ['read', 'write'] },
          i + 1,
        ),
      );
    }
    const counts = await services.userImporter.importBatch(rows, 'skip');
    if (counts.failed.length) throw new Error(`user import failed: ${JSON.stringify(counts.failed[0])}`);
  }
}

/**
 * The growth target: 100,000 more users through authd's user importer and 100,000 more sessions
 * through sessions.create (each with its live refresh token), then 9 spent ancestors per session
 * in one INSERT of the rows a rotation leaves behind (consumed, with a parent link): 1,000,000
 * refresh-token rows. 900,000 rotations through the service would take longer than the rest of
 * the bench on a shared 2-core machine; the rows and indexes are the same.
 */
async function seedGrowth(env, { userId, passwordHash, log, scale = 1 }) {
  const count = Math.round(100_000 * scale);
  const services = await openServices(env);
  try {
    log(`growth: importing ${count} users…`);
    await importUsers(services, 'grow', count, passwordHash);
    log(`growth: ${count} sessions…`);
    const kid = services.tokens.currentKid();
    await inParallel(count, 32, async () => {
      const now = Date.now();
      await services.sessions.create({
        id: crypto.randomUUID(),
        userId,
        clientId: 'bench-web',
        scopes: ['read'],
        createdAt: new Date(now),
        expiresAt: new Date(now + 86400_000 * 30),
        ip: null,
        userAgent: 'bench-growth',
        assurance: passwordAssurance(now),
        firstToken: { jti: crypto.randomUUID(), kid, issuedAt: new Date(now), expiresAt: new Date(now + 86400_000) },
      });
    });
    log(`growth: ${count * 9} spent refresh tokens…`);
    // One long statement: a plain client, without authd's per-query timeout.
    const bulk = new Client({ connectionString: env.DATABASE_URL });
    await bulk.connect();
    try {
      await bulk.query(
        `INSERT INTO refresh_tokens (jti, session_id, kid, issued_at, expires_at, consumed_at, parent_jti)
         SELECT gen_random_uuid(), s.id, $1, now() - interval '1 hour', now() + interval '1 day', now() - interval '1 hour', gen_random_uuid()
         FROM sessions s CROSS JOIN generate_series(1, 9) WHERE s.user_agent = 'bench-growth'`,
        [kid],
      );
      // A long-lived table is vacuumed and frozen; a fresh bulk insert would otherwise leave every page to set hint bits on first read.
      await bulk.query('VACUUM (ANALYZE, FREEZE)');
    } finally {
      await bulk.end();
    }
    const [{ n }] = await services.db.query('SELECT count(*)::int AS n FROM refresh_tokens');
    const [{ u }] = await services.db.query('SELECT count(*)::int AS u FROM users');
    return { refreshTokens: n, users: u };
  } finally {
    await services.close();
  }
}

/**
 * Starts authd (workers: '1' or 'auto'); `refreshRuns` is how many refresh scenarios will run
 * (each needs its own token families: a pool dies with the load generator that held it).
 */
async function startAuthd({
  key,
  label,
  adminUrl,
  redisUrl,
  workers,
  clientCacheTtl,
  pgPrepared,
  extraEnv,
  cpuProfDir,
  connections,
  refreshRuns,
  passwordHash,
  log,
}) {
  const db = await scratchDatabase(adminUrl);
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authd-bench-keys-'));
  const cleanup = async () => {
    await db.drop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    const env = authdEnv({
      databaseUrl: db.url,
      redisUrl,
      keysDir,
      port,
      workers,
      clientCacheTtl,
      pgPrepared,
      extraEnv,
    });
    const pools = await seed(env, {
      users: 1000,
      familySets: refreshRuns,
      familiesPerSet: connections * 4,
      accessTokens: 2000,
      passwordHash,
    });
    // Cluster workers inherit the flag: one profile per process, written when it exits.
    const profDir = cpuProfDir ?? process.env.BENCH_CPU_PROF;
    const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const proc = await startProcess(process.execPath, [...nodeArgs, 'dist/src/cli/main.js', 'serve'], env, port);
    const token = '/oauth/token';
    const scenarios = {
      password: () => ({ kind: 'cycle', path: token, headers: form(), lines: passwordLines() }),
      refresh_token: () => ({
        kind: 'refresh',
        path: token,
        headers: form(),
        body: 'grant_type=refresh_token&client_id=bench-web&refresh_token=',
        lines: pools.refreshSets.shift(),
      }),
      client_credentials: () => ({
        kind: 'static',
        method: 'POST',
        path: token,
        headers: form({ authorization: basic('bench-machine', pools.machineSecret) }),
        body: 'grant_type=client_credentials',
      }),
      JWKS: () => ({ kind: 'static', method: 'GET', path: '/.well-known/jwks.json' }),
      discovery: () => ({ kind: 'static', method: 'GET', path: '/.well-known/openid-configuration' }),
      introspection: () => ({
        kind: 'cycle',
        path: '/oauth/introspect',
        headers: form({ authorization: basic('bench-rs', pools.rsSecret) }),
        lines: pools.accessTokens.map((t) => `token=${t}`),
      }),
      revocation: () => ({
        kind: 'cycle',
        path: '/oauth/revoke',
        headers: form(),
        lines: pools.accessTokens.map((t) => `client_id=bench-web&token=${t}`),
      }),
    };
    return {
      key,
      label,
      authd: true,
      workers,
      pid: proc.pid,
      output: proc.output,
      database: db.name,
      url: `http://127.0.0.1:${port}`,
      scenario: async (name) => scenarios[name]?.(),
      growth: (scale) => seedGrowth(env, { userId: pools.userId, passwordHash, log, scale }),
      stop: async () => {
        await proc.stop();
        await cleanup();
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

module.exports = { startAuthd, authdArgon2, authdEnv, PASSWORD };
