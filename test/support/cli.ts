import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { runCli as runAuthd } from '../../src/cli/main';
import { parseConfig } from '../../src/config';
import { openServices, type Services } from '../../src/services';
import type { Database } from '../../src/store/database';
import { FAST_ARGON2, silentLogger, tempDir, type Backend } from './backends';
import { seedDataDir } from './templates';

/**
 * The one way tests run `authd <args>`: in this process, on streams of their own (nothing spies on
 * process.stdout), with the environment given and, for a suite, one database shared by its commands
 * (opening an embedded data directory takes seconds; a suite runs dozens of commands). What only a
 * real process shows (exit status, the logger on fd 2, a locked data directory) is tested by spawning
 * dist/src/cli/main.js.
 */

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Env = Record<string, string | undefined>;

export interface RunCliOptions {
  /** The command's whole environment (default: process.env). */
  env?: Env;
  /** An open database for the command to use and leave open. */
  db?: Database;
  /** Standard input (default: empty, and not a terminal). */
  stdin?: string;
}

function collector(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const stdout = collector();
  const stderr = collector();
  const env = Object.fromEntries(
    Object.entries(options.env ?? process.env).filter(([, v]) => v !== undefined),
  ) as NodeJS.ProcessEnv;
  const io = {
    env,
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    stdout: stdout.stream,
    stderr: stderr.stream,
  };
  const code = await runAuthd(['node', 'authd', ...args], io, { ...(options.db && { db: options.db }) });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** The output of a command that must have succeeded, parsed. */
export function json<T = unknown>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`CLI failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface CliSuite {
  /** The environment every command of the suite runs with (set in beforeAll). */
  readonly env: Env;
  readonly db: Database;
  run(...args: string[]): Promise<CliResult>;
  /** Runs a command on the suite's database with more input or variables. */
  runWith(options: { env?: Env; stdin?: string }, ...args: string[]): Promise<CliResult>;
  /** The whole stack on the suite's database, as the server would open it; close it after use. */
  openServices(): Promise<Services>;
}

/**
 * For a describe block: a fresh database of the backend (not yet migrated), a keys directory and
 * the environment of a deployment on it; every command of the suite runs on that one database.
 */
export function useCli(backend: Backend, extraEnv: Env = {}): CliSuite {
  let opened: Awaited<ReturnType<Backend['openDatabase']>> | undefined;
  let keysDir: string | undefined;
  let env: Env = {};
  beforeAll(async () => {
    keysDir = tempDir('authd-cli-keys-');
    opened = await backend.openDatabase();
    env = {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      AUTHD_ISSUER: 'https://authd.test',
      AUTHD_KEYS_DIR: keysDir,
      AUTHD_LOG_LEVEL: 'silent',
      ...FAST_ARGON2,
      ...(opened.url && { DATABASE_URL: opened.url }),
      ...(backend.redisUrl && {
        REDIS_URL: backend.redisUrl,
        AUTHD_REDIS_PREFIX: `authd-test:${crypto.randomBytes(4).toString('hex')}:`,
      }),
      ...extraEnv,
    };
  });
  afterAll(async () => {
    await opened?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
  });
  const database = () => {
    if (!opened)
      throw new Error('useCli: the suite has not started (use it inside describe, run commands inside tests)');
    return opened.db;
  };
  const suite: CliSuite = {
    get env() {
      return env;
    },
    get db() {
      return database();
    },
    run: (...args) => runCli(args, { env, db: database() }),
    runWith: (options, ...args) =>
      runCli(args, {
        env: { ...env, ...options.env },
        db: database(),
        ...(options.stdin !== undefined && { stdin: options.stdin }),
      }),
    openServices: () => openServices(parseConfig(env), { db: database(), logger: silentLogger }),
  };
  return suite;
}

/**
 * An environment for commands on an embedded data directory of their own (each opens and releases
 * it), the directory already holding an empty cluster (seedDataDir: no initdb in the test).
 */
export function dataDirEnv(root: string): Env {
  seedDataDir(path.join(root, 'data'));
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    AUTHD_LOG_LEVEL: 'silent',
    ...FAST_ARGON2,
    AUTHD_DATA_DIR: path.join(root, 'data'),
    AUTHD_KEYS_DIR: path.join(root, 'keys'),
  };
}
