import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config';
import { openServices } from '../../src/services';
import { createScratchDatabase, FAST_ARGON2, silentLogger, tempDir } from '../support/backends';
import { freePort, portAnswers, ROOT, waitFor } from '../support/processes';
import { seedDataDir } from '../support/templates';

/*
 * The built server (dist/) as its own process for the browser tests. Unlike startServerProcess it
 * knows its port before it starts, so AUTHD_ISSUER can be http://localhost:<port>: the issuer's
 * origin is the only one the hosted-pages client accepts, and plain-http localhost is what lets
 * the refresh cookie drop `Secure`.
 */

const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export interface BrowserServer {
  /** http://localhost:<port>, the issuer and the origin to browse. */
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface Backend {
  name: 'embedded' | 'postgres+redis';
  /** The env every process of this run gets (server and CLI), without PORT and AUTHD_ISSUER. */
  env: Record<string, string>;
  /** Creates users before the server starts (the embedded data directory is locked while it runs); an email is set verified. */
  createUsers(users: Array<{ username: string; password: string; email?: string }>, issuer: string): Promise<void>;
  cleanup(): Promise<void>;
}

const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  NODE_ENV: 'test',
  AUTHD_LOG_LEVEL: 'warn',
  AUTHD_METRICS_PORT: '0',
  AUTHD_DEV_BOOTSTRAP: 'false',
  AUTHD_ACCESS_TOKEN_TTL: '6',
  ...FAST_ARGON2,
});

/** Runs `authd <args>` from dist/ with `input` on stdin; rejects with its output when it fails. */
function runCli(env: Record<string, string>, args: string[], input: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => {
      output += d;
    });
    child.stderr!.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`authd ${args.join(' ')} exited with ${code ?? signal}: ${output}`));
    });
    child.stdin!.end(input);
  });
}

/**
 * Postgres (a scratch database) + Redis (a private key prefix) when DATABASE_URL and REDIS_URL
 * are set, else the embedded database in a temporary data directory. Keys always in a temp dir.
 */
export async function prepareBackend(): Promise<Backend> {
  const root = tempDir('authd-browser-');
  const keysDir = path.join(root, 'keys');
  const { DATABASE_URL, REDIS_URL } = process.env;

  if (DATABASE_URL && REDIS_URL) {
    const scratch = await createScratchDatabase();
    const env = {
      ...baseEnv(),
      AUTHD_KEYS_DIR: keysDir,
      DATABASE_URL: scratch.url,
      REDIS_URL,
      AUTHD_REDIS_PREFIX: `authd-browser:${crypto.randomBytes(4).toString('hex')}:`,
    };
    return {
      name: 'postgres+redis',
      env,
      async createUsers(users, issuer) {
        const services = await openServices(parseConfig({ ...env, AUTHD_ISSUER: issuer }), { logger: silentLogger });
        try {
          for (const { email, ...user } of users) {
            const created = await services.users.create(user);
            if (email) await services.users.setEmail({ id: created.id }, email, { verified: true });
          }
        } finally {
          await services.close();
        }
      },
      async cleanup() {
        await scratch.drop();
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  }

  seedDataDir(path.join(root, 'data')); // the pages are the subject here, not a first start's initdb
  const env = { ...baseEnv(), AUTHD_KEYS_DIR: keysDir, AUTHD_DATA_DIR: path.join(root, 'data') };
  return {
    name: 'embedded',
    env,
    async createUsers(users, issuer) {
      // One at a time: each command owns the data directory while it runs.
      for (const user of users) {
        await runCli(
          { ...env, AUTHD_ISSUER: issuer },
          ['users', 'create', user.username, '--password-stdin'],
          user.password,
        );
        if (user.email)
          await runCli(
            { ...env, AUTHD_ISSUER: issuer },
            ['users', 'set-email', user.username, user.email, '--verified'],
            '',
          );
      }
    },
    async cleanup() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A port for the server, chosen up front so the issuer can name it. */
export async function chooseIssuer(): Promise<{ port: number; issuer: string }> {
  const port = await freePort();
  return { port, issuer: `http://localhost:${port}` };
}

/** `authd serve` from dist/, listening on 127.0.0.1:<port> with AUTHD_ISSUER http://localhost:<port>. */
export async function startBrowserServer(
  env: Record<string, string>,
  port: number,
  timeoutMs = 60_000,
): Promise<BrowserServer> {
  let output = '';
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', AUTHD_ISSUER: `http://localhost:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output}`);
        return portAnswers(port);
      },
      `authd on ${port}`,
      timeoutMs,
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url: `http://localhost:${port}`,
    port,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(force);
    },
  };
}
