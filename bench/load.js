'use strict';
// Load generation over loopback. wrk (a C load generator, in its own process) when it is
// installed or can be installed; autocannon, in the harness process, as the fallback. Both take
// the same scenario description:
//   { kind: 'static', method, path, headers, body }        one fixed request
//   { kind: 'cycle', path, headers, lines }                 POST, bodies cycling through lines
//   { kind: 'refresh', path, headers, body, lines }         POST body + token; each 200's refresh_token goes back
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const { cpuSecondsOf } = require('./proc');

const WRK_DIR = path.join(__dirname, 'wrk');
const have = (command) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Debian's wrk: found, or installed with apt-get as root or with sudo -n; 'autocannon' otherwise. */
function chooseGenerator(log) {
  if (have('wrk')) return 'wrk';
  const asRoot = process.getuid?.() === 0 ? [] : have('sudo') ? ['sudo', '-n'] : undefined;
  if (asRoot) {
    log('wrk is missing: installing it with apt-get');
    const run = (args) => {
      const [command, ...rest] = [...asRoot, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
      execFileSync(command, rest, { stdio: ['ignore', 'ignore', 'inherit'] });
    };
    try {
      try {
        run(['install', '-y', '-q', 'wrk']);
      } catch {
        run(['update', '-q']);
        run(['install', '-y', '-q', 'wrk']);
      }
      if (have('wrk')) return 'wrk';
    } catch {
      // fall through to autocannon
    }
  }
  log('wrk is not available: falling back to autocannon (in the harness process, it takes CPU from the servers)');
  return 'autocannon';
}

const headerLines = (headers = {}) =>
  Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');

async function wrkLoad({ url, connections, seconds, threads, timeoutSeconds, scenario }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authd-bench-wrk-'));
  try {
    const linesFile = path.join(dir, 'lines');
    fs.writeFileSync(linesFile, (scenario.lines ?? ['']).join('\n') + '\n');
    const env = {
      PATH: process.env.PATH,
      BENCH_WRK_DIR: WRK_DIR,
      BENCH_THREADS: String(threads),
      BENCH_LINES: linesFile,
      BENCH_METHOD: scenario.method ?? 'POST',
      BENCH_PATH: scenario.path,
      BENCH_BODY: scenario.body ?? '',
      BENCH_HEADERS: headerLines(scenario.headers),
    };
    const script = path.join(WRK_DIR, `${scenario.kind}.lua`);
    const args = [
      '-t',
      String(threads),
      '-c',
      String(connections),
      '-d',
      `${seconds}s`,
      '--timeout',
      `${timeoutSeconds}s`,
      '-s',
      script,
      url,
    ];
    let generatorCpu = null;
    const output = await new Promise((resolve, reject) => {
      const child = spawn('wrk', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      // wrk's own CPU, sampled from /proc until it exits (the last half second is missed).
      const startedAt = process.hrtime.bigint();
      const sample = setInterval(() => {
        const cpu = cpuSecondsOf(child.pid);
        if (cpu !== undefined) generatorCpu = cpu / (Number(process.hrtime.bigint() - startedAt) / 1e9);
      }, 500);
      child.once('exit', () => clearInterval(sample));
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}: ${out}`))));
    });
    const line = output.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    if (!line) throw new Error(`wrk printed no result: ${output}`);
    const r = JSON.parse(line.slice('BENCH_RESULT '.length));
    const duration = r.duration_us / 1e6;
    const ok = r.requests - r.status;
    const statusCounts = {};
    for (const entry of r.statuses)
      for (const [code, n] of Object.entries(entry)) statusCounts[code] = (statusCounts[code] ?? 0) + n;
    return {
      rps: ok / duration,
      p50: r.p50_us / 1000,
      p99: r.p99_us / 1000,
      errors: r.status + r.connect + r.read + r.write + r.timeout,
      statusCounts: Object.keys(statusCounts).length ? statusCounts : { ok, 'status >= 400': r.status },
      socketErrors: { connect: r.connect, read: r.read, write: r.write, timeout: r.timeout },
      generatorCpu,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The scenario as autocannon's next()/onResponse (one pool shared by all connections). */
function autocannonRequests(scenario) {
  const base = { method: scenario.method ?? 'POST', path: scenario.path, headers: scenario.headers ?? {} };
  if (scenario.kind === 'static') return { next: () => ({ ...base, body: scenario.body || undefined }) };
  const lines = scenario.lines.slice();
  if (scenario.kind === 'cycle') {
    let i = 0;
    return { next: () => ({ ...base, body: lines[i++ % lines.length] }) };
  }
  return {
    next: () => ({ ...base, body: scenario.body + (lines.shift() ?? '') }),
    onResponse: (status, body) => {
      if (status === 200) lines.push(JSON.parse(body).refresh_token);
    },
  };
}

/**
 * autocannon run. Latencies of successful and refused (503) answers are also kept apart, which
 * wrk cannot do: the password overload run uses this whichever generator the bench has.
 */
async function autocannonLoad({ url, connections, seconds, timeoutSeconds, scenario }) {
  const { next, onResponse } = autocannonRequests(scenario);
  const okLatencies = [];
  const refusedLatencies = [];
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    pipelining: 1,
    timeout: timeoutSeconds,
    requests: [
      {
        setupRequest(request, context) {
          context.sentAt = process.hrtime.bigint();
          return { ...request, ...next() };
        },
        onResponse(status, body, context) {
          const ms = Number(process.hrtime.bigint() - context.sentAt) / 1e6;
          (status === 503 ? refusedLatencies : status < 400 ? okLatencies : []).push(ms);
          onResponse?.(status, body);
        },
      },
    ],
  });
  const statusCounts = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, v]) => [code, v.count]),
  );
  const ok = Object.entries(statusCounts)
    .filter(([code]) => Number(code) < 400)
    .reduce((n, [, count]) => n + count, 0);
  return {
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + (result.requests.total - ok),
    statusCounts,
    okP99: percentile(okLatencies, 99),
    refusedP99: percentile(refusedLatencies, 99),
  };
}

function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs one scenario with the chosen generator. */
function load(generator, options) {
  return generator === 'wrk' ? wrkLoad(options) : autocannonLoad(options);
}

module.exports = { chooseGenerator, load, autocannonLoad };
