#!/usr/bin/env node
'use strict';
// npm run bench [-- --seconds 10 --connections 16 --smoke --growth]
// Measures authd against the ceilings of its unavoidable work and against a peer, in one run on
// one machine, and writes the table (Markdown, JSON, SVG) to bench/results/. Never a pass/fail.
process.env.UV_THREADPOOL_SIZE ??= String(require('node:os').availableParallelism() + 4);

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { Client } = require('pg');
const { argon2VerifyCeiling, rs256Ceilings, postgresUpdateCeiling } = require('./ceilings');
const { load } = require('./load');
const { writeResults } = require('./report');
const { scratchDatabase } = require('./scratch-database');

const ROOT = path.resolve(__dirname, '..');
const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    smoke: { type: 'boolean', default: false },
    growth: { type: 'boolean', default: false },
    'no-peer': { type: 'boolean', default: false },
    // Levers, for before/after rows in one session (see bench/README.md).
    workers: { type: 'string', default: '1' },
    'client-cache-ttl': { type: 'string', default: '5' },
    only: { type: 'string' },
    label: { type: 'string' },
  },
});
const ONLY = opts.only ? new Set(opts.only.split(',')) : undefined;
const wanted = (name) => !ONLY || ONLY.has(name);
const SECONDS = opts.smoke ? 1 : Number(opts.seconds);
const CONNECTIONS = Number(opts.connections);
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PASSWORD = 'correct horse battery staple';
const ARGON2 = { memoryKiB: 19456, timeCost: 2, parallelism: 1 };
const CORES = os.availableParallelism();

const log = (message) => process.stderr.write(`[bench] ${message}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

async function waitForPort(port, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1').once('connect', () => { socket.destroy(); resolve(true); }).once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${port}`);
}

/** CPU seconds (user + system) a process and its children (cluster workers) have used, from /proc. */
function cpuSeconds(pid) {
  const own = (p) => {
    try {
      const fields = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
    } catch {
      return 0;
    }
  };
  let children = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    children = [];
  }
  return own(pid) + children.reduce((sum, child) => sum + own(child), 0);
}

function peakRssMb(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** authd's environment for the run: production mode, real Postgres and Redis, quiet logs. */
function authdEnv(databaseUrl, keysDir, port) {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    AUTHD_ISSUER: `http://127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    AUTHD_REDIS_PREFIX: `authd-bench-${crypto.randomBytes(3).toString('hex')}:`,
    AUTHD_KEYS_DIR: keysDir,
    AUTHD_LOG_LEVEL: 'warn',
    AUTHD_METRICS_PORT: '0',
    AUTHD_HOSTED_PAGES: 'false',
    // One client IP sends everything here: the brute-force ceilings must not be what we measure.
    AUTHD_LOGIN_MAX_FAILURES_PER_IP: '1000000',
    AUTHD_LOGIN_MAX_FAILURES_PER_USER: '1000000',
    AUTHD_WORKERS: opts.workers,
    AUTHD_CLIENT_CACHE_TTL: opts['client-cache-ttl'],
  };
}

/** Seeds clients, users and token pools in-process through authd's own services. */
async function seed(env, { users, families, accessTokens }) {
  const { parseConfig } = require('../dist/src/config');
  const { openServices } = require('../dist/src/services');
  const pino = require('pino');
  const services = await openServices(parseConfig(env), { logger: pino({ level: 'silent' }) });
  try {
    await services.clientService.create({ id: 'bench-web', name: 'web', confidential: false, firstParty: true, grantTypes: ['password', 'refresh_token'], scopes: ['read', 'write'], defaultScopes: ['read'], audience: 'https://api.bench.test' });
    const machine = await services.clientService.create({ id: 'bench-machine', name: 'machine', confidential: true, grantTypes: ['client_credentials'], scopes: ['read'], defaultScopes: ['read'], audience: 'https://api.bench.test' });
    const rs = await services.clientService.create({ id: 'bench-rs', name: 'resource server', confidential: true, canIntrospect: true, grantTypes: [], audience: 'https://api.bench.test' });
    const hash = await require('argon2').hash(PASSWORD, { type: 2, memoryCost: ARGON2.memoryKiB, timeCost: ARGON2.timeCost, parallelism: ARGON2.parallelism });
    await services.db.query(
      `INSERT INTO users (id, username, username_normalized, password_hash, roles, scopes, created_at, updated_at)
       SELECT gen_random_uuid(), 'user' || g, 'user' || g, $2, '{}', '{read,write}', now(), now() FROM generate_series(1, $1) g`,
      [users, hash],
    );
    const [{ id: userId }] = await services.db.query("SELECT id FROM users WHERE username_normalized = 'user1'");
    const refreshTokens = [];
    for (let i = 0; i < families; i++) {
      const sessionId = crypto.randomUUID();
      const now = Date.now();
      const record = { jti: crypto.randomUUID(), kid: services.tokens.currentKid(), issuedAt: new Date(now), expiresAt: new Date(now + 86400_000) };
      await services.sessions.create({ id: sessionId, userId, clientId: 'bench-web', scopes: ['read'], createdAt: new Date(now), expiresAt: new Date(now + 86400_000 * 30), ip: null, userAgent: 'bench', firstToken: record });
      refreshTokens.push(await services.tokens.signRefreshToken(record, { userId, clientId: 'bench-web', sessionId }));
    }
    const access = [];
    for (let i = 0; i < accessTokens; i++) {
      access.push((await services.tokens.issueAccessToken({ subject: userId, clientId: 'bench-web', audience: env.AUTHD_ISSUER, scopes: ['read'], roles: [], sessionId: crypto.randomUUID(), ttlSeconds: 900 })).token);
    }
    return { machineSecret: machine.secret, rsSecret: rs.secret, refreshTokens, accessTokens: access, userId };
  } finally {
    await services.close();
  }
}

/** Fills the database to the growth target: 100,000 users and 1,000,000 refresh tokens. */
async function seedGrowth(databaseUrl, userId) {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query(`INSERT INTO users (id, username, username_normalized, password_hash, created_at, updated_at)
    SELECT gen_random_uuid(), 'grow' || g, 'grow' || g, 'x', now(), now() FROM generate_series(1, 100000) g`);
  await c.query(`INSERT INTO sessions (id, user_id, client_id, scopes, created_at, last_used_at, expires_at)
    SELECT gen_random_uuid(), $1, 'bench-web', '{read}', now(), now(), now() + interval '30 days' FROM generate_series(1, 100000)`, [userId]);
  await c.query(`INSERT INTO refresh_tokens (jti, session_id, kid, issued_at, expires_at, consumed_at)
    SELECT gen_random_uuid(), s.id, 'x', now(), now() + interval '14 days', CASE WHEN g < 10 THEN now() END
    FROM sessions s CROSS JOIN generate_series(1, 10) g WHERE s.client_id = 'bench-web' AND s.user_agent IS NULL`);
  await c.query('ANALYZE');
  const [{ n }] = (await c.query('SELECT count(*)::int AS n FROM refresh_tokens')).rows;
  await c.end();
  return n;
}

function startProcess(command, args, env, port) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  return waitForPort(port, child).then(() => ({
    child,
    output: () => output,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    }),
  }));
}

async function measure(name, target, pid, scenario) {
  if (!wanted(name)) return undefined;
  // Warm-up, not measured: connection pools fill, the JIT settles.
  if (!opts.smoke) await load({ url: target, connections: CONNECTIONS, seconds: 2, ...scenario });
  const cpuBefore = cpuSeconds(pid);
  const started = Date.now();
  const result = await load({ url: target, connections: CONNECTIONS, seconds: SECONDS, ...scenario });
  const cpu = (cpuSeconds(pid) - cpuBefore) / ((Date.now() - started) / 1000);
  log(`${name}${opts.label ? ` [${opts.label}]` : ''}: ${result.rps.toFixed(0)}/s ok, p50 ${result.p50} ms, p99 ${result.p99} ms, errors ${result.errors} ${JSON.stringify(result.statusCounts)}, server CPU ${(cpu * 100).toFixed(0)}%`);
  return { name, ...result, serverCpu: cpu };
}

const basic = (id, secret) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64');
const formHeaders = (extra = {}) => ({ 'content-type': 'application/x-www-form-urlencoded', ...extra });

async function main() {
  const started = new Date();
  log(`machine: ${CORES} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ${SECONDS}s per scenario, ${CONNECTIONS} connections`);

  // 1. Ceilings, in-process.
  log('ceilings…');
  const ceilingSeconds = ONLY ? Math.min(SECONDS, 3) : SECONDS;
  const argon2Ceiling = await argon2VerifyCeiling({ ...ARGON2, concurrency: CORES, seconds: ceilingSeconds });
  const { signRate, verifyRate } = await rs256Ceilings({ concurrency: CONNECTIONS, seconds: ceilingSeconds });
  const pgCeiling = await postgresUpdateCeiling({ databaseUrl: DATABASE_URL, concurrency: CONNECTIONS, seconds: ceilingSeconds });
  const ceilings = { argon2Verify: argon2Ceiling, rs256Sign: signRate, rs256PairSign: signRate / 2, rs256Verify: verifyRate, postgresUpdate: pgCeiling };
  log(`argon2 verify ${argon2Ceiling.toFixed(1)}/s, RS256 sign ${signRate.toFixed(0)}/s, verify ${verifyRate.toFixed(0)}/s, pg update ${pgCeiling.toFixed(0)}/s`);

  // 2. authd on real Postgres and Redis.
  const db = await scratchDatabase(DATABASE_URL);
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authd-bench-keys-'));
  const port = await freePort();
  const env = authdEnv(db.url, keysDir, port);
  const results = [];
  let memory;
  let growth;
  try {
    const pools = await seed(env, { users: 1000, families: CONNECTIONS * 4, accessTokens: 2000 });
    const nodeArgs = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    const authd = await startProcess(process.execPath, [...nodeArgs, 'dist/src/cli/main.js', 'serve'], env, port);
    const pid = authd.child.pid;
    const url = `http://127.0.0.1:${port}`;
    try {
      let userIndex = 0;
      const push = (result) => result && results.push(result);
      push(await measure('password grant', url, pid, {
        next: () => ({ method: 'POST', path: '/oauth/token', headers: formHeaders(), body: `grant_type=password&client_id=bench-web&username=user${1 + (userIndex++ % 1000)}&password=${encodeURIComponent(PASSWORD)}` }),
      }));
      memory = { peakRssMb: peakRssMb(pid), argon2BudgetMb: 256 };

      const overload = wanted('password grant') && await load({
        url, connections: CORES * 16, seconds: SECONDS,
        next: () => ({ method: 'POST', path: '/oauth/token', headers: formHeaders(), body: `grant_type=password&client_id=bench-web&username=user${1 + (userIndex++ % 1000)}&password=${encodeURIComponent(PASSWORD)}` }),
      });
      if (overload) log(`password overload (${CORES * 16} connections): ${overload.rps.toFixed(0)}/s admitted, admitted p99 ${overload.okP99?.toFixed(0)} ms, refused p99 ${overload.refusedP99?.toFixed(0)} ms, ${JSON.stringify(overload.statusCounts)}`);

      // Each family's newest refresh token waits in the pool while no request holds it; every
      // answer's new token goes back (autocannon resets per-request context, so no state there).
      const chains = pools.refreshTokens.slice();
      const refreshScenario = {
        next: () => ({ method: 'POST', path: '/oauth/token', headers: formHeaders(), body: `grant_type=refresh_token&client_id=bench-web&refresh_token=${chains.shift()}` }),
        onResponse: (status, body) => {
          if (status === 200) chains.push(JSON.parse(body).refresh_token);
        },
      };
      push(await measure('refresh grant', url, pid, refreshScenario));
      push(await measure('client_credentials', url, pid, {
        next: () => ({ method: 'POST', path: '/oauth/token', headers: formHeaders({ authorization: basic('bench-machine', pools.machineSecret) }), body: 'grant_type=client_credentials' }),
      }));
      push(await measure('JWKS', url, pid, { next: () => ({ method: 'GET', path: '/.well-known/jwks.json' }) }));
      let tokenIndex = 0;
      push(await measure('introspection', url, pid, {
        next: () => ({ method: 'POST', path: '/oauth/introspect', headers: formHeaders({ authorization: basic('bench-rs', pools.rsSecret) }), body: `token=${pools.accessTokens[tokenIndex++ % pools.accessTokens.length]}` }),
      }));
      push(await measure('revocation', url, pid, {
        next: () => ({ method: 'POST', path: '/oauth/revoke', headers: formHeaders(), body: `client_id=bench-web&token=${pools.accessTokens[tokenIndex++ % pools.accessTokens.length]}` }),
      }));
      const password = results.find((r) => r.name === 'password grant');
      if (password) password.overload = overload;

      if (opts.growth && !opts.smoke) {
        log('growth: seeding 100,000 users and 1,000,000 refresh tokens…');
        const rows = await seedGrowth(db.url, pools.userId);
        const grown = await measure('refresh grant, 1M tokens', url, pid, refreshScenario);
        growth = { rows, before: results.find((r) => r.name === 'refresh grant').rps, after: grown.rps };
        results.push(grown);
      }
    } finally {
      await authd.stop();
    }
  } finally {
    await db.drop();
    fs.rmSync(keysDir, { recursive: true, force: true });
  }

  // 3. The peer.
  const peer = {};
  if (!opts['no-peer'] && (wanted('client_credentials') || wanted('JWKS'))) {
    const peerPort = await freePort();
    const secret = crypto.randomBytes(32).toString('base64url');
    const proc = await startProcess(process.execPath, ['bench/peer.mjs'], { PATH: process.env.PATH, PORT: String(peerPort), PEER_CLIENT_SECRET: secret, NODE_ENV: 'production' }, peerPort);
    try {
      const url = `http://127.0.0.1:${peerPort}`;
      peer.clientCredentials = await measure('peer client_credentials', url, proc.child.pid, {
        next: () => ({ method: 'POST', path: '/token', headers: formHeaders({ authorization: basic('bench-machine', secret) }), body: 'grant_type=client_credentials&scope=read' }),
      });
      peer.jwks = await measure('peer JWKS', url, proc.child.pid, { next: () => ({ method: 'GET', path: '/jwks' }) });
    } finally {
      await proc.stop();
    }
  }

  const files = writeResults({ label: opts.label, workers: opts.workers, started, seconds: SECONDS, connections: CONNECTIONS, cores: CORES, ceilings, results, peer, memory, growth, smoke: opts.smoke });
  log(`written: ${files.join(', ')}`);
}

main().catch((error) => {
  process.stderr.write(`[bench] failed: ${error.stack ?? error}\n`);
  process.exit(1);
});
