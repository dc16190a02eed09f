import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createScratchDatabase, FAST_ARGON2, tempDir } from '../support/backends';
import { freePort, ROOT } from '../support/processes';

/**
 * A start that fails must end the process with a non-zero code and one line saying why, not
 * leave it hanging on the stores it had opened (a supervisor restarts or alerts on an exit; it
 * sees nothing of a hang). The built CLI, as production runs it.
 */

jest.setTimeout(400_000);
const { DATABASE_URL, REDIS_URL } = process.env;
const onPostgres = Boolean(DATABASE_URL && REDIS_URL);
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function storeEnv(): Promise<Record<string, string>> {
  if (onPostgres) {
    const scratch = await createScratchDatabase();
    cleanups.push(() => scratch.drop());
    return {
      DATABASE_URL: scratch.url,
      REDIS_URL: REDIS_URL!,
      AUTHD_REDIS_PREFIX: `authd-start:${crypto.randomBytes(4).toString('hex')}:`,
    };
  }
  const dataDir = tempDir('authd-start-data-');
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return { AUTHD_DATA_DIR: dataDir };
}

/** Runs `authd serve` from `root` until it exits; fails the test if it is still running after the limit. */
async function serveUntilExit(
  root: string,
  env: Record<string, string>,
  limitMs = 300_000,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'serve'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      AUTHD_LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      ...FAST_ARGON2,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const hung = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(hung);
  if (code === null) throw new Error(`authd serve was still running after ${limitMs} ms: ${stderr}`);
  return { code, stderr };
}

describe(`a failed start of the built server (${onPostgres ? 'Postgres + Redis' : 'embedded database'})`, () => {
  it('exits 1 with one line when a key file is readable by others', async () => {
    const keysDir = tempDir('authd-start-keys-');
    cleanups.push(() => fs.rmSync(keysDir, { recursive: true, force: true }));
    const file = path.join(keysDir, 'client-secret.key');
    fs.writeFileSync(file, crypto.randomBytes(32).toString('base64url') + '\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const result = await serveUntilExit(ROOT, { ...(await storeEnv()), AUTHD_KEYS_DIR: keysDir });
    expect(result).toEqual({
      code: 1,
      stderr: `authd: refusing key file ${file}: its mode 0644 gives group or others access; run chmod 600 ${file}\n`,
    });
  });

  // Several workers need PostgreSQL: on the embedded database this runs as one process, the case above.
  it(`exits 1 with AUTHD_WORKERS=${onPostgres ? '2 too: the primary does not restart workers that cannot start' : '1 (several workers need PostgreSQL)'}`, async () => {
    const keysDir = tempDir('authd-start-keys-');
    cleanups.push(() => fs.rmSync(keysDir, { recursive: true, force: true }));
    const file = path.join(keysDir, 'client-secret.key');
    fs.writeFileSync(file, crypto.randomBytes(32).toString('base64url') + '\n');
    fs.chmodSync(file, 0o640);
    const result = await serveUntilExit(ROOT, {
      ...(await storeEnv()),
      AUTHD_KEYS_DIR: keysDir,
      AUTHD_WORKERS: onPostgres ? '2' : '1',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `authd: refusing key file ${file}: its mode 0640 gives group or others access; run chmod 600 ${file}\n`,
    );
  });

  it('exits non-zero when a file it serves is missing (a package without pages/)', async () => {
    // A copy of the built package without pages/, as the Docker image was before it copied them.
    const copy = tempDir('authd-start-package-');
    cleanups.push(() => fs.rmSync(copy, { recursive: true, force: true }));
    for (const entry of ['package.json', 'dist', 'migrations'])
      fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    const keysDir = tempDir('authd-start-keys-');
    cleanups.push(() => fs.rmSync(keysDir, { recursive: true, force: true }));
    const result = await serveUntilExit(copy, { ...(await storeEnv()), AUTHD_KEYS_DIR: keysDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^authd: ENOENT: no such file or directory, open '.*pages\/.*'\n$/);
  });
});
