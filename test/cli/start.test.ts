import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../support/backends';
import { ROOT, startServerProcess } from '../support/processes';
import { scaled } from '../support/timing';

/** What a developer sees across starts of the built server on one embedded data directory. */

jest.setTimeout(scaled(180_000));

const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const FRESHNESS = path.join(ROOT, 'scripts/build-if-stale.js');

describe('starting authd on the embedded database in development', () => {
  let root: string;
  let env: Record<string, string>;
  beforeAll(() => {
    root = tempDir('authd-start-');
    env = {
      NODE_ENV: 'development',
      AUTHD_LOG_LEVEL: 'warn',
      AUTHD_DATA_DIR: path.join(root, 'data'),
      AUTHD_KEYS_DIR: path.join(root, 'keys'),
      AUTHD_ARGON2_MEMORY_KIB: '8192',
      AUTHD_ARGON2_TIME_COST: '1',
    };
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('shows the demo password once; a second start on the locked database says so at once; a restart says how to set a new password', async () => {
    const first = await startServerProcess(env);
    try {
      expect(first.output()).toMatch(/username: demo {3}password: \S{16}/);

      const started = Date.now();
      const second = spawnSync(process.execPath, [MAIN, 'serve'], {
        encoding: 'utf8',
        timeout: scaled(60_000),
        env: { PATH: process.env.PATH ?? '', ...env, PORT: '0', AUTHD_METRICS_PORT: '0' },
      });
      const ms = Date.now() - started;
      process.stderr.write(`a second start on the locked database refused in ${ms} ms\n`);
      expect({ status: second.status, stdout: second.stdout, stderr: second.stderr }).toEqual({
        status: 1,
        stdout: '',
        stderr: `authd: the embedded database in ${env.AUTHD_DATA_DIR} is in use by another authd process (pid ${first.child.pid}); stop it first, or run authd on PostgreSQL (DATABASE_URL) to share one database between processes\n`,
      });
      // Refused by the lock file, before PGlite opens the database (no time bound: a busy machine
      // stretches node's own start-up too; the time is in the log above).
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const restarted = await startServerProcess(env);
    try {
      expect(restarted.output()).not.toMatch(/password: \S{16}/);
      expect(restarted.output()).toContain(
        'the demo user "demo" (client_id demo-cli) exists; its password was shown at the first start only.\n' +
          'To set a new one, stop this server (Ctrl-C) and run:\n  node dist/src/cli/main.js users set-password demo --generate-password\n',
      );
    } finally {
      await restarted.stop();
    }
  });
});

describe('npm start compiles only when a source changed (scripts/build-if-stale.js)', () => {
  let project: string;
  const built = () => path.join(project, 'dist/src/cli/main.js');
  const check = () =>
    new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) => {
      const started = Date.now();
      const child = spawn(process.execPath, [FRESHNESS, project], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.once('exit', (code) => resolve({ code, stderr, ms: Date.now() - started }));
    });

  beforeAll(() => {
    // A project of one file with authd's layout, compiled by this repository's TypeScript.
    project = tempDir('authd-fresh-');
    fs.mkdirSync(path.join(project, 'src/cli'), { recursive: true });
    fs.writeFileSync(path.join(project, 'src/cli/main.ts'), 'export const answer: number = 42;\n');
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { outDir: 'dist', rootDir: '.', module: 'commonjs', types: [] } }),
    );
    fs.writeFileSync(
      path.join(project, 'tsconfig.build.json'),
      JSON.stringify({ extends: './tsconfig.json', include: ['src'] }),
    );
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'fresh', private: true, scripts: { build: 'tsc -p tsconfig.build.json' } }),
    );
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'));
  });
  afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

  it('builds when there is no build, skips when it is current, rebuilds after a change', async () => {
    expect(await check()).toMatchObject({ code: 0, stderr: expect.stringContaining('compiling') });
    expect(fs.readFileSync(built(), 'utf8')).toContain('answer = 42');

    const builtAt = fs.statSync(built()).mtimeMs;
    const fresh = await check();
    process.stderr.write(`the freshness check took ${fresh.ms} ms\n`);
    expect(fresh).toMatchObject({ code: 0, stderr: '' });
    expect(fs.statSync(built()).mtimeMs).toBe(builtAt);

    fs.writeFileSync(path.join(project, 'src/cli/main.ts'), 'export const answer: number = 43;\n');
    const future = new Date(Date.now() + 2000);
    fs.utimesSync(path.join(project, 'src/cli/main.ts'), future, future);
    expect(await check()).toMatchObject({ code: 0, stderr: expect.stringContaining('compiling') });
    expect(fs.readFileSync(built(), 'utf8')).toContain('answer = 43');
  });

  it('a failed build is stale: the next start compiles again', async () => {
    fs.writeFileSync(path.join(project, 'src/cli/main.ts'), 'export const answer: number = "not a number";\n');
    const future = new Date(Date.now() + 4000);
    fs.utimesSync(path.join(project, 'src/cli/main.ts'), future, future);
    expect((await check()).code).not.toBe(0);
    expect((await check()).stderr).toContain('compiling');
  });
});
