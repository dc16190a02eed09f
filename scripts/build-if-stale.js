#!/usr/bin/env node
// `npm start` runs this before the server: it compiles only when a source is newer than the
// build, so a restart takes the server's own start-up time instead of a full tsc run.
// tsc rewrites every output file on each build, so the entry point's mtime is the build's time.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
const OUTPUT = path.join('dist', 'src', 'cli', 'main.js');

function newestMtime(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted or renamed file changes its directory's mtime
  for (const entry of fs.readdirSync(file)) newest = Math.max(newest, newestMtime(path.join(file, entry)));
  return newest;
}

/** True when the build is missing or older than any of its inputs. */
function isStale(root) {
  let built;
  try {
    built = fs.statSync(path.join(root, OUTPUT)).mtimeMs;
  } catch {
    return true;
  }
  return INPUTS.some((input) => newestMtime(path.join(root, input)) > built);
}

function buildIfStale(root) {
  if (!isStale(root)) return 0;
  process.stderr.write('authd: sources changed since the last build; compiling (npm run build)…\n');
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  const status = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' }).status ?? 1;
  // tsc emits even when it reports errors: mark such a build stale, so the next start compiles again.
  if (status !== 0 && fs.existsSync(path.join(root, OUTPUT))) fs.utimesSync(path.join(root, OUTPUT), 0, 0);
  return status;
}

module.exports = { isStale, buildIfStale };

if (require.main === module) process.exitCode = buildIfStale(process.argv[2] ?? path.resolve(__dirname, '..'));
