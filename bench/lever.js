#!/usr/bin/env node
'use strict';
// node bench/lever.js --name prepared --after=--pg-prepared [--before=...] [--rounds 2] -- <run.js options>
// (a side's options after "=", since they start with a dash)
// One lever as before/after pairs in one session, alternating A B A B (the machine is shared, so
// a pair run back to back is the only comparison that means anything). Each run is bench/run.js
// with the common options plus its side's own, labelled lever-<name>-before-<i> / -after-<i>;
// then bench/results/lever-<name>.md gets one row per pair, scenario and server: both rates, the
// ratio, the server's and PostgreSQL's CPU per request on each side (they move less with the
// machine's load than rates do), and the load average around the pair.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values: opts, positionals: common } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    before: { type: 'string', default: '' },
    after: { type: 'string', default: '' },
    rounds: { type: 'string', default: '2' },
    out: { type: 'string', default: path.join(__dirname, 'results') },
    // Only rewrite lever-<name>.md from the runs' JSON files already there.
    'report-only': { type: 'boolean', default: false },
  },
});
if (!opts.name || !/^[\w-]+$/.test(opts.name)) throw new Error('--name <lever> (letters, digits, - and _)');
const OUT = path.resolve(opts.out);
const words = (s) => s.split(/\s+/).filter(Boolean);

function run(label, extra) {
  if (opts['report-only']) return JSON.parse(fs.readFileSync(path.join(OUT, `${label}.json`), 'utf8'));
  const args = [path.join(__dirname, 'run.js'), ...common, ...extra, '--label', label, '--out', OUT];
  process.stderr.write(`[lever] ${label}: node ${args.slice(1).join(' ')}\n`);
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`${label} failed (exit ${result.status})`);
  return JSON.parse(fs.readFileSync(path.join(OUT, `${label}.json`), 'utf8'));
}

const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const msPerRequest = (r, cpu = r.serverCpu) => (r.rps > 0 && cpu !== null ? (cpu * 1000) / r.rps : Number.NaN);

function main() {
  const rows = [];
  const pairs = [];
  for (let i = 1; i <= Number(opts.rounds); i++) {
    const before = run(`lever-${opts.name}-before-${i}`, words(opts.before));
    const after = run(`lever-${opts.name}-after-${i}`, words(opts.after));
    pairs.push({ i, before, after });
    for (const [server, entry] of Object.entries(before.servers)) {
      for (const [scenario, b] of Object.entries(entry.scenarios)) {
        const a = after.servers[server]?.scenarios[scenario];
        if (!a) continue;
        rows.push(
          `| ${i} | ${scenario} | ${entry.label} | ${fmt(b.rps)} | ${fmt(a.rps)} | **${fmt(a.rps / b.rps, 2)}×** | ${fmt(msPerRequest(b), 2)} | ${fmt(msPerRequest(a), 2)} | ${fmt(msPerRequest(b, b.postgresCpu), 2)} | ${fmt(msPerRequest(a, a.postgresCpu), 2)} | ${fmt(b.p99, 1)} / ${fmt(a.p99, 1)} | ${fmt(before.machine.loadBefore[0], 1)} → ${fmt(after.machine.loadAfter[0], 1)} |`,
        );
      }
    }
  }
  const md = [
    `# Lever: ${opts.name}`,
    '',
    `Before: \`${[...common, ...words(opts.before)].join(' ')}\`; after: \`${[...common, ...words(opts.after)].join(' ')}\`.`,
    `Run as pairs, alternating before and after (${pairs.map((p) => `${p.before.label}, ${p.after.label}`).join('; ')}), ${pairs[0].before.started} to ${pairs.at(-1).after.finished}.`,
    '',
    '| pair | scenario | server | before rps | after rps | ratio | server CPU ms/request before | after | Postgres CPU ms/request before | after | p99 ms before / after | load average (1 min) |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(OUT, `lever-${opts.name}.md`), md);
  process.stdout.write(md);
}

main();
