#!/usr/bin/env node
// `npm start` runs this before the server: it compiles only when a source is newer than the
// build, so a restart takes the server's own start-up time instead of a full tsc run.
// tsc rewrites every output file on each build, so the entry point's mtime is the build's time.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

// The workspace packages (packages/*/src: the verifier kit) are built first by `npm run build`.
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json', ...workspaceSources()];
const OUTPUT = path.join('dist', 'src', 'cli', 'main.js');

function workspaceSources(root = path.resolve(__dirname, '..')) {
  const dir = path.join(root, 'packages');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .flatMap((name) => [path.join('packages', name, 'src'), path.join('packages', name, 'tsconfig.json')]);
}

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
  const status = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 2, 2] }).status ?? 1;
  // tsc emits even when it reports errors: mark such a build stale, so the next start compiles again.
  if (status !== 0 && fs.existsSync(path.join(root, OUTPUT))) fs.utimesSync(path.join(root, OUTPUT), 0, 0);
  return status;
}

module.exports = { isStale, buildIfStale };

if (require.main === module) process.exitCode = buildIfStale(process.argv[2] ?? path.resolve(__dirname, '..'));
