#!/usr/bin/env node
'use strict';
// npm run bench [-- --seconds 10 --connections 32 --smoke --growth --only a,b --servers x,y --label name
//                  --pg-prepared --authd-env NAME=VALUE --cpu-prof dir --skip-ceilings]
// Measures authd (1 worker and AUTHD_WORKERS=auto) and its peers scenario by scenario with one
// load generator, and the ceilings of the unavoidable work, in one run on one machine; writes
// one table (Markdown, JSON, SVG) to bench/results/<label>.*. Reports figures, never a pass/fail
// on speed: the only failure is a harness that got no successful answer from a scenario.
process.env.UV_THREADPOOL_SIZE ??= String(require('node:os').availableParallelism() + 4);

const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const argon2 = require('argon2');
const { argon2VerifyCeiling, rs256Ceilings, postgresUpdateCeiling } = require('./ceilings');
const { chooseGenerator, load, autocannonLoad } = require('./load');
const { tree, cpuMeter, resetPeakRss, peakRss, postgresBackends } = require('./proc');
const { writeResults } = require('./report');
const { startAuthd, authdArgon2, authdEnv, PASSWORD } = require('./servers/authd');
const { PEERS, startPeer } = require('./servers/peers');

const SERVERS = ['authd-1', 'authd-auto', ...Object.keys(PEERS)];
// Opt-in (--servers): one worker per core, what `auto` meant before it was measured (src/worker-count.ts).
const EXTRA_SERVERS = ['authd-cores'];
const SCENARIOS = [
  'client_credentials',
  'refresh_token',
  'password',
  'JWKS',
  'discovery',
  'introspection',
  'revocation',
];

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string' },
    threads: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    growth: { type: 'boolean', default: false },
    // A fraction of the growth target, to try the growth run quickly (the results say which).
    'growth-scale': { type: 'string', default: '1' },
    only: { type: 'string' },
    servers: { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    'client-cache-ttl': { type: 'string' },
    // authd with AUTHD_PG_PREPARED_STATEMENTS=true (named prepared statements).
    'pg-prepared': { type: 'boolean', default: false },
    // NAME=VALUE, repeatable: more environment for authd (a lever switch that is not a bench option).
    'authd-env': { type: 'string', multiple: true, default: [] },
    // authd under `node --cpu-prof`, one .cpuprofile per process in this directory (see profile.js).
    'cpu-prof': { type: 'string' },
    // A lever pair compares two runs of authd: the ceilings (a minute of CPU) add nothing to it.
    'skip-ceilings': { type: 'boolean', default: false },
    label: { type: 'string' },
    out: { type: 'string' },
  },
});
const list = (value, known, what) => {
  if (!value) return known;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return names;
};
const scenarios = list(opts.only, SCENARIOS, 'scenario');
const servers = (opts.servers ? list(opts.servers, [...SERVERS, ...EXTRA_SERVERS], 'server') : SERVERS).filter(
  (s) => !opts['no-peer'] || s.startsWith('authd'),
);
const AUTHD_EXTRA_ENV = Object.fromEntries(
  opts['authd-env'].map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--authd-env NAME=VALUE, not ${pair}`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }),
);
const SMOKE = opts.smoke;
const SECONDS = SMOKE ? 2 : Number(opts.seconds);
const WARMUP_SECONDS = SMOKE ? 0 : 2;
const CONNECTIONS = Number(opts.connections ?? (SMOKE ? 8 : 32));
const CORES = os.availableParallelism();
const THREADS = Number(opts.threads ?? Math.min(CORES, CONNECTIONS));
const ADMIN_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
// How many workers AUTHD_WORKERS=auto starts here (authd's own rule).
const AUTO_WORKERS = require('../dist/src/worker-count').autoWorkerCount(CORES, ADMIN_URL);
const AUTHD_WORKERS = { 'authd-1': '1', 'authd-auto': 'auto', 'authd-cores': String(CORES) };
const authdLabel = (key) =>
  ({
    'authd-1': 'authd, 1 worker',
    'authd-auto': `authd, AUTHD_WORKERS=auto (${AUTO_WORKERS})`,
    'authd-cores': `authd, ${CORES} workers`,
  })[key];
const LABEL = opts.label ?? (SMOKE ? 'smoke' : 'latest');
const OUT = path.resolve(opts.out ?? path.join(__dirname, 'results'));

const log = (message) => process.stderr.write(`[bench] ${message}\n`);

let ARGON2_CONCURRENCY = 1;

async function measure(generator, server, name) {
  const warmup = await server.scenario(name);
  if (!warmup) return undefined;
  // Smoke: password logins only as many at once as Argon2 slots, and for 6 s, so even a loaded
  // machine completes some (a refused or unfinished login is not what the smoke looks for).
  const connections = SMOKE && name === 'password' ? ARGON2_CONCURRENCY : CONNECTIONS;
  const seconds = SMOKE && name === 'password' ? 6 : SECONDS;
  const options = {
    url: server.url,
    connections,
    threads: Math.min(THREADS, connections),
    timeoutSeconds: name === 'password' ? 10 : 5,
  };
  // Warm-up, not measured: connection pools fill, the JIT settles (refresh: its own token families).
  if (WARMUP_SECONDS) await load(generator, { ...options, seconds: WARMUP_SECONDS, scenario: warmup });
  // Refresh: the measured run's families are taken only now. oidc-provider's memory adapter is an
  // LRU of 1,000 entries, so a warm-up's rotations evict families logged in before it, and every
  // measured refresh was a 400 (invalid_grant).
  const scenario = name === 'refresh_token' && WARMUP_SECONDS ? await server.scenario(name) : warmup;
  const serverCpu = cpuMeter(() => tree(server.pid));
  const postgresCpu = cpuMeter(() => (server.database ? postgresBackends(server.database) : []));
  resetPeakRss(tree(server.pid));
  serverCpu.start();
  postgresCpu.start();
  const result = await load(generator, { ...options, seconds, scenario });
  const measured = {
    ...result,
    serverCpu: serverCpu.stop(),
    postgresCpu: server.database ? postgresCpu.stop() : null,
    peakRssMb: peakRss(tree(server.pid)).totalMb,
  };
  log(
    `${server.key} ${name}: ${measured.rps.toFixed(0)}/s ok, p50 ${measured.p50.toFixed(1)} ms, p99 ${measured.p99.toFixed(1)} ms, errors ${measured.errors} ${JSON.stringify(measured.statusCounts)}, server CPU ${(measured.serverCpu * 100).toFixed(0)}%, Postgres CPU ${measured.postgresCpu === null ? '–' : `${(measured.postgresCpu * 100).toFixed(0)}%`}, peak RSS ${measured.peakRssMb.toFixed(0)} MB`,
  );
  return measured;
}

const NO_CEILINGS = {
  argon2Verify: Number.NaN,
  signOneCore: Number.NaN,
  signConcurrent: Number.NaN,
  verifyOneCore: Number.NaN,
  rs256PairSign: Number.NaN,
  postgresUpdate: Number.NaN,
};

async function measureCeilings(argon2Config) {
  if (opts['skip-ceilings']) return { ...NO_CEILINGS, argon2Concurrency: argon2Config.concurrency };
  log('ceilings…');
  const seconds = SMOKE ? 0.3 : Math.min(SECONDS, 5);
  const argon2Verify = await argon2VerifyCeiling({ ...argon2Config, seconds });
  const rs256 = await rs256Ceilings({ concurrency: CONNECTIONS, seconds });
  const postgresUpdate = await postgresUpdateCeiling({ databaseUrl: ADMIN_URL, concurrency: 32, seconds });
  log(
    `Argon2id verify ${argon2Verify.toFixed(1)}/s at ${argon2Config.concurrency}; RS256 sign ${rs256.signOneCore.toFixed(0)}/s one core, ${rs256.signConcurrent.toFixed(0)}/s jose concurrent; verify ${rs256.verifyOneCore.toFixed(0)}/s one core; pg UPDATE ${postgresUpdate.toFixed(0)}/s`,
  );
  return {
    argon2Verify,
    argon2Concurrency: argon2Config.concurrency,
    ...rs256,
    rs256PairSign: rs256.signConcurrent / 2,
    postgresUpdate,
  };
}

/** The password grant at 4× the connections: admitted and refused latencies apart (autocannon). */
async function overload(server) {
  const scenario = await server.scenario('password');
  const connections = CONNECTIONS * 4;
  const result = await autocannonLoad({ url: server.url, connections, seconds: SECONDS, timeoutSeconds: 10, scenario });
  log(
    `${server.key} password overload (${connections} connections): ${result.rps.toFixed(0)}/s admitted, admitted p99 ${result.okP99?.toFixed(0) ?? '–'} ms, refused p99 ${result.refusedP99?.toFixed(0) ?? '–'} ms, ${JSON.stringify(result.statusCounts)}`,
  );
  return { connections, ...result };
}

async function main() {
  const started = new Date();
  const loadBefore = os.loadavg();
  const generator = chooseGenerator(log);
  log(
    `machine: ${CORES} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}; ${generator}, ${THREADS} threads, ${CONNECTIONS} connections, ${SECONDS}s per scenario`,
  );

  const argon2Config = authdArgon2(
    authdEnv({ databaseUrl: ADMIN_URL, redisUrl: REDIS_URL, keysDir: os.tmpdir(), port: 1, workers: '1' }),
  );
  ARGON2_CONCURRENCY = argon2Config.concurrency;
  const passwordHash = await argon2.hash(PASSWORD, {
    type: argon2.argon2id,
    memoryCost: argon2Config.memoryKiB,
    timeCost: argon2Config.timeCost,
    parallelism: argon2Config.parallelism,
  });

  // Ceilings before and after the servers: on a shared machine the load changes over the run;
  // each ratio uses the larger of the two (the harder target).
  const ceilingsBefore = await measureCeilings(argon2Config);
  const results = {};
  for (const key of servers) {
    log(`${key}: starting…`);
    const common = { key, adminUrl: ADMIN_URL, connections: CONNECTIONS, passwordHash, log };
    const server = key.startsWith('authd')
      ? await startAuthd({
          ...common,
          label: authdLabel(key),
          redisUrl: REDIS_URL,
          workers: AUTHD_WORKERS[key],
          clientCacheTtl: opts['client-cache-ttl'],
          pgPrepared: opts['pg-prepared'],
          extraEnv: AUTHD_EXTRA_ENV,
          cpuProfDir: opts['cpu-prof'] && path.resolve(opts['cpu-prof']),
          refreshRuns: (WARMUP_SECONDS ? 2 : 1) * (opts.growth && key === 'authd-1' ? 3 : 1),
        })
      : await startPeer(common);
    const entry = {
      label: server.label,
      workers: server.authd ? (server.workers === 'auto' ? AUTO_WORKERS : Number(server.workers)) : null,
      scenarios: {},
    };
    results[key] = entry;
    try {
      for (const name of scenarios) {
        let measured;
        try {
          measured = await measure(generator, server, name);
        } catch (error) {
          throw new Error(`${key} ${name}: ${error.message}\n${key}'s output:\n${server.output().slice(-4000)}`);
        }
        if (measured) entry.scenarios[name] = measured;
      }
      if (server.authd && scenarios.includes('password')) entry.overload = await overload(server);
      if (server.authd && key === 'authd-1' && opts.growth && !SMOKE && scenarios.includes('refresh_token')) {
        // Its baseline is measured again right before the seed: the run's first refresh row can be
        // many minutes (and a different machine load) away from the growth row.
        const base = await measure(generator, server, 'refresh_token');
        const grown = await server.growth(Number(opts['growth-scale']));
        const measured = await measure(generator, server, 'refresh_token');
        entry.growth = { ...grown, rps: measured.rps, baseRps: base.rps, baseResult: base, result: measured };
        log(
          `growth: ${grown.refreshTokens} refresh tokens, ${grown.users} users: refresh ${measured.rps.toFixed(0)}/s vs ${entry.growth.baseRps.toFixed(0)}/s`,
        );
      }
    } finally {
      await server.stop();
    }
  }

  const ceilingsAfter = SMOKE ? ceilingsBefore : await measureCeilings(argon2Config);
  const ceilings = Object.fromEntries(
    Object.keys(ceilingsBefore).map((k) => [k, Math.max(ceilingsBefore[k], ceilingsAfter[k])]),
  );
  const run = {
    label: LABEL,
    started,
    finished: new Date(),
    smoke: SMOKE,
    generator,
    threads: THREADS,
    connections: CONNECTIONS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    // What authd was run with, beyond its defaults (a lever's before/after differ here).
    authdOptions: {
      pgPrepared: opts['pg-prepared'],
      ...(opts['client-cache-ttl'] !== undefined && { clientCacheTtl: opts['client-cache-ttl'] }),
      ...(opts['authd-env'].length && { env: AUTHD_EXTRA_ENV }),
      ...(opts['cpu-prof'] && { cpuProfile: true }),
    },
    machine: {
      cores: CORES,
      memoryGiB: os.totalmem() / 2 ** 30,
      node: process.version,
      loadBefore,
      loadAfter: os.loadavg(),
    },
    argon2: argon2Config,
    ceilings,
    ceilingsBefore,
    ceilingsAfter,
    servers: results,
  };
  const files = writeResults(run, OUT);
  log(`written: ${files.join(', ')}`);

  const empty = Object.entries(results).flatMap(([key, r]) =>
    Object.entries(r.scenarios)
      .filter(([, s]) => !(s.rps > 0))
      .map(([name]) => `${key} ${name}`),
  );
  if (empty.length) {
    log(`no successful answer in: ${empty.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  process.stderr.write(`[bench] failed: ${error.stack ?? error}\n`);
  process.exit(1);
});
