import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './processes';
import { tempDir } from './backends';

/**
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl, loopback, a free port), for what the
 * shared server cannot show: it trusts every local connection, so a wrong password or a
 * TLS-only pg_hba.conf needs a server whose authentication the test chooses.
 */
export interface PrivatePostgres {
  port: number;
  stop(): void;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const version = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))[0];
  return version && path.join(root, version, 'bin');
}

/** Why a private cluster cannot start here, or undefined when it can (needs Debian's server binaries, run as root). */
export function privatePostgresMissing(): string | undefined {
  if (!binDir()) return 'PostgreSQL server binaries (initdb) are not installed';
  if (process.getuid?.() !== 0) return 'a private PostgreSQL cluster needs root (to run it as the postgres user)';
  if (spawnSync('id', ['postgres']).status !== 0) return 'there is no postgres user';
  return undefined;
}

/** `hba` replaces pg_hba.conf; each `setupSql` statement runs once as the superuser over the local socket. */
export async function startPrivatePostgres(hba: string, setupSql: string[] = []): Promise<PrivatePostgres> {
  const bin = binDir()!;
  const dir = tempDir('authd-pg-');
  fs.chownSync(
    dir,
    Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout),
    Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout),
  );
  const asPostgres = (command: string, ...args: string[]) => {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, command), ...args], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout}`);
  };
  const data = path.join(dir, 'data');
  const port = await freePort();
  let started = false;
  const stop = () => {
    if (started)
      spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], {
        timeout: 60_000,
      });
    started = false;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  try {
    asPostgres('initdb', '-D', data, '-U', 'postgres', '--auth=trust', '--no-sync');
    fs.writeFileSync(path.join(data, 'pg_hba.conf'), `local all postgres trust\n${hba}\n`);
    asPostgres(
      'pg_ctl',
      '-D',
      data,
      '-w',
      '-t',
      '90',
      '-l',
      path.join(dir, 'log'),
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=20 -c shared_buffers=16MB`,
      'start',
    );
    started = true;
    for (const sql of setupSql)
      asPostgres('psql', '-h', dir, '-p', String(port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql);
  } catch (error) {
    stop();
    throw error;
  }
  return { port, stop };
}
