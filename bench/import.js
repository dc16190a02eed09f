#!/usr/bin/env node
'use strict';
// npm run bench:import [-- --users 100000 --only embedded|postgres]
// Times `authd users import` of a generated JSON Lines file (bcrypt, passlib PBKDF2 and scrypt
// hashes, emails, roles, metadata) on a fresh embedded data directory and a scratch PostgreSQL
// database, then a second run of the same file (every row skipped). Reports wall time, rows per
// second and the importing process's peak RSS. Never a pass/fail.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { scratchDatabase } = require('./scratch-database');

const ROOT = path.resolve(__dirname, '..');

// Child mode (--child FILE): run the real CLI in this process and report its peak memory.
const CHILD = process.argv[2] === '--child';

const { values: opts } = parseArgs({
  args: CHILD ? [] : process.argv.slice(2),
  options: { users: { type: 'string', default: '100000' }, only: { type: 'string' } },
});
const USERS = Number(opts.users);
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

// Real hashes (passlib 1.7.4, password "pässwörd from passlib"); the import parses every one.
const HASHES = [
  '$2b$05$luqDlnXG8e9dmaIa5mXTQO8dRsQwMtr7uNaFE/Ubv1xGa916Pcauq',
  '$pbkdf2-sha256$29000$ZgzBOEdo7b33HkMopTSGMA$iG.RTxBQ9lcHVlSkStP/SW5zNi7EswM9MOcBpt6JKuU',
  '$scrypt$ln=10,r=8,p=1$AYDwvpdy7h3j/F8rZSwlZA$JgeXOlyNYO9CfamUXGjhdPV/TMZwTUJjS8QqcFacB9k',
];

function writeUsers(file) {
  const out = fs.openSync(file, 'w');
  let chunk = '';
  for (let i = 0; i < USERS; i++) {
    chunk += `${JSON.stringify({
      username: `user${i}@example.com`,
      email: `user${i}@example.com`,
      email_verified: i % 3 === 0,
      password_hash: HASHES[i % HASHES.length],
      roles: ['user'],
      scopes: ['profile', 'read'],
      metadata: { org_id: `org-${i % 1000}`, plan: i % 10 ? 'free' : 'pro' },
    })}\n`;
    if (chunk.length > 1 << 20) {
      fs.writeSync(out, chunk);
      chunk = '';
    }
  }
  fs.writeSync(out, chunk);
  fs.closeSync(out);
}

function runImport(file, env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [__filename, '--child', file], {
      env: { ...process.env, ...env },
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
    child.on('error', reject);
    child.on('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`import exited ${code}: ${stderr}`));
      const summary = JSON.parse(stdout);
      resolve({ seconds, summary, maxRssMiB: Number(/maxrss_kib=(\d+)/.exec(stderr)[1]) / 1024 });
    });
  });
}

async function scratchPostgres() {
  const db = await scratchDatabase(DATABASE_URL, 'authd_bench_import');
  return { env: { DATABASE_URL: db.url, REDIS_URL: '' }, drop: db.drop };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authd-bench-import-'));
  const file = path.join(dir, 'users.jsonl');
  try {
    writeUsers(file);
    process.stdout.write(
      `${USERS.toLocaleString('en-US')} users, ${(fs.statSync(file).size / 1048576).toFixed(1)} MiB of JSON Lines, on ${os.availableParallelism()} cores (load ${os.loadavg()[0].toFixed(1)})\n\n`,
    );
    process.stdout.write(
      '| database | run | rows/s | seconds | created | skipped | peak RSS |\n|---|---|---:|---:|---:|---:|---:|\n',
    );
    const targets = [
      {
        name: 'embedded',
        open: async () => ({
          env: { DATABASE_URL: '', REDIS_URL: '', AUTHD_DATA_DIR: path.join(dir, 'data') },
          drop: async () => {},
        }),
      },
      { name: 'postgres', open: scratchPostgres },
    ].filter((t) => !opts.only || opts.only === t.name);
    for (const target of targets) {
      const db = await target.open();
      const env = {
        ...db.env,
        AUTHD_KEYS_DIR: path.join(dir, `keys-${target.name}`),
        AUTHD_LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        AUTHD_ISSUER: 'https://authd.bench',
      };
      try {
        for (const run of ['first', 'again']) {
          const { seconds, summary, maxRssMiB } = await runImport(file, env);
          process.stdout.write(
            `| ${target.name} | ${run} | ${Math.round(USERS / seconds).toLocaleString('en-US')} | ${seconds.toFixed(1)} | ${summary.created} | ${summary.skipped} | ${maxRssMiB.toFixed(0)} MiB |\n`,
          );
        }
      } finally {
        await db.drop();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (CHILD) {
  const { runCli } = require(path.join(ROOT, 'dist/src/cli/main.js'));
  runCli(['node', 'authd', 'users', 'import', process.argv[3], '--json']).then((code) => {
    process.stderr.write(`maxrss_kib=${process.resourceUsage().maxRSS}\n`);
    process.exitCode = code;
  });
} else {
  main().catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
  });
}
