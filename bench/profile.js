#!/usr/bin/env node
'use strict';
// node bench/profile.js <dir or .cpuprofile files> [--top 25] [--skip-seconds 3]
// Where a server's JavaScript thread spent its time, from `node --cpu-prof` profiles (the bench's
// `--cpu-prof <dir>`): the top functions by self time and the same time grouped by where the code
// lives (a package, a node: module, an authd file, GC, idle), as shares of the samples.
// --skip-seconds leaves out the start of each profile (the server starting, the warm-up).
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, 'skip-seconds': { type: 'string', default: '0' } },
});

/** Where a frame's code lives: a package, a node: module, an authd source file, or a V8 pseudo-frame. */
function areaOf({ url, functionName }) {
  if (!url) return functionName || '(anonymous)';
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return url;
  const own = url.match(/\/dist\/(?:src|packages)\/(.*)\.js$/);
  if (own) return `authd ${own[1]}`;
  return path.basename(url);
}

/** Self time in ms per function and per area, and the total, over one profile. */
function selfTimes(profile, skipMs) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map();
  const byArea = new Map();
  let total = 0;
  let elapsed = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample; it belongs to the sample it ends.
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    elapsed += delta;
    if (elapsed < skipMs) continue;
    const { callFrame } = nodes.get(profile.samples[i]);
    const where = callFrame.url ? `${areaOf(callFrame)}:${callFrame.lineNumber + 1}` : '';
    const name = `${callFrame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    const area = areaOf(callFrame);
    byArea.set(area, (byArea.get(area) ?? 0) + delta);
    total += delta;
  }
  return { byFunction, byArea, total };
}

function files(args) {
  return args.flatMap((arg) =>
    fs.statSync(arg).isDirectory()
      ? fs
          .readdirSync(arg)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => path.join(arg, f))
      : [arg],
  );
}

function table(title, counts, total, top) {
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `| ${title} | ms | share |`,
    '|---|---:|---:|',
    ...rows.map(([name, ms]) => `| \`${name}\` | ${ms.toFixed(0)} | ${((ms / total) * 100).toFixed(1)}% |`),
  ].join('\n');
}

function main() {
  const list = files(positionals);
  if (!list.length) throw new Error('usage: node bench/profile.js <dir or .cpuprofile files>');
  const top = Number(opts.top);
  const skipMs = Number(opts['skip-seconds']) * 1000;
  for (const file of list) {
    const { byFunction, byArea, total } = selfTimes(JSON.parse(fs.readFileSync(file, 'utf8')), skipMs);
    process.stdout.write(
      `## ${path.basename(file)}: ${(total / 1000).toFixed(1)} s sampled\n\n${table('function (self time)', byFunction, total, top)}\n\n${table('where the code lives', byArea, total, top)}\n\n`,
    );
  }
}

main();
