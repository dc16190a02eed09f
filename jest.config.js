const os = require('node:os');

// How much slower than a quiet machine this run may be: 1 on four cores or more at rest, up to 4
// on a busy 2-core one. Timeouts (testTimeout here, scaled() in test/support/timing.ts) stretch by
// it, so a loaded machine makes the suite slower, not red. TEST_TIME_FACTOR sets it by hand.
const cores = os.availableParallelism();
const load = os.loadavg()[0] / cores;
const factor =
  Number(process.env.TEST_TIME_FACTOR) || Math.min(4, Math.max(1, (cores <= 2 ? 2 : 1) * Math.max(1, load)));
process.env.TEST_TIME_FACTOR = String(Math.round(factor * 10) / 10); // the workers inherit it

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/packages/verifier/test'],
  testMatch: ['**/*.test.ts'],
  // jose is ESM-only; ts-jest turns it into CommonJS for jest's module loader.
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true } }] },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  testTimeout: Math.round(30000 * factor),
  // One worker per core, at least two and at most four. The suite is CPU-bound: a run costs jest
  // and its child processes about 1,300 CPU-seconds (/usr/bin/time, 2026-12), PostgreSQL's not
  // counted, and took 840 s on the idle 2-core machine, so both cores were already busy most of
  // the time; a worker beyond the cores would only take turns on them (the suites that mostly wait
  // — faults, topology, browser — are too few to keep a third one busy), and more than four would
  // crowd the database's connections (each suite opens small pools of its own).
  maxWorkers: Math.min(4, Math.max(2, cores)),
  // Printed once per run, not once per suite (test/support/backends.ts used to).
  globalSetup: '<rootDir>/test/support/global-setup.js',
  // Kills any server a force-exited worker left running (test/topology/processes.ts records them).
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
};
