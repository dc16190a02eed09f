/**
 * examples/protected-api end to end, as a user would run it: authd as its own process (the built
 * server; Postgres + Redis when DATABASE_URL and REDIS_URL are set, otherwise the embedded
 * database in a temporary data directory), a client and users made with the CLI, and the example
 * service as a second process that loads the kit by its package name, `@authd/verifier`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createScratchDatabase, FAST_ARGON2, tempDir } from '../support/backends';
import { PASSWORD } from '../support/fixtures';
import { freePort, ROOT, startServerProcess, type ServerProcess } from '../support/processes';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(120_000));

const AUDIENCE = 'https://notes.test';
const { DATABASE_URL, REDIS_URL } = process.env;
const onPostgres = Boolean(DATABASE_URL && REDIS_URL);

/** Runs `authd <args>` (the built CLI) as a child process, with a password on stdin if given. */
function cli(env: Record<string, string>, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/cli/main.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(stdin ?? '');
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`authd ${args.join(' ')} exited with ${code}: ${stderr}${stdout}`)),
    );
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe(`examples/protected-api against authd as a process (${onPostgres ? 'Postgres + Redis' : 'embedded database'})`, () => {
  let authd: ServerProcess | undefined;
  let api: ChildProcess | undefined;
  let apiOutput = '';
  let apiUrl: string;
  let issuer: string;
  const cleanups: Array<() => Promise<void> | void> = [];
  const userIds: Record<string, string> = {};

  beforeAll(async () => {
    const keysDir = tempDir('authd-example-keys-');
    cleanups.push(() => fs.rmSync(keysDir, { recursive: true, force: true }));
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      AUTHD_KEYS_DIR: keysDir,
      AUTHD_LOG_LEVEL: 'warn',
      ...FAST_ARGON2,
    };
    if (onPostgres) {
      const scratch = await createScratchDatabase();
      cleanups.push(() => scratch.drop());
      Object.assign(env, {
        DATABASE_URL: scratch.url,
        REDIS_URL: REDIS_URL!,
        AUTHD_REDIS_PREFIX: `authd-example:${crypto.randomBytes(4).toString('hex')}:`,
      });
    } else {
      // The embedded database is locked while the server runs: the CLI works on it before.
      const dataDir = tempDir('authd-example-data-');
      cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
      env.AUTHD_DATA_DIR = dataDir;
    }

    await cli(env, [
      'clients',
      'create',
      '--id',
      'notes-web',
      '--name',
      'Notes web',
      '--public',
      '--first-party',
      '--grant',
      'password,refresh_token',
      '--scope',
      'read,write',
      '--default-scope',
      'read',
      '--audience',
      AUDIENCE,
      '--json',
    ]);
    for (const [name, roles] of [
      ['writer', 'user'],
      ['boss', 'user,admin'],
    ]) {
      const created = JSON.parse(
        await cli(
          env,
          ['users', 'create', name, '--password-stdin', '--role', roles, '--scope', 'read,write', '--json'],
          PASSWORD,
        ),
      );
      userIds[name] = created.id;
    }

    authd = await startServerProcess(env);
    // No AUTHD_ISSUER: authd names itself http://localhost:<port>, and the service must use that name.
    issuer = `http://localhost:${authd.port}`;
    const metadata = (await (await fetch(`${authd.url}/.well-known/oauth-authorization-server`)).json()) as {
      issuer: string;
    };
    expect(metadata.issuer).toBe(issuer);

    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    api = spawn(process.execPath, [path.join(ROOT, 'examples/protected-api/server.js')], {
      cwd: ROOT,
      // ipv4first: "localhost" must reach authd, which listens on 127.0.0.1 only.
      env: {
        PATH: process.env.PATH ?? '',
        NODE_OPTIONS: '--dns-result-order=ipv4first',
        AUTHD_ISSUER: issuer,
        API_AUDIENCE: AUDIENCE,
        PORT: String(apiPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    api.stdout!.on('data', (d) => {
      apiOutput += d;
    });
    api.stderr!.on('data', (d) => {
      apiOutput += d;
    });
    const started = `protected-api on ${apiUrl} (issuer ${issuer}, audience ${AUDIENCE})`;
    const deadline = Date.now() + scaled(20_000);
    // The port can answer before the start line has come through the pipe: wait for both.
    while (!apiOutput.includes(started) || !(await portAnswers(apiPort))) {
      if (api.exitCode !== null) throw new Error(`protected-api exited with ${api.exitCode}: ${apiOutput}`);
      if (Date.now() > deadline) throw new Error(`protected-api did not come up: ${apiOutput}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(apiOutput).toContain(started);
  });

  afterAll(async () => {
    await stopChild(api);
    await authd?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function login(
    username: string,
    scope?: string,
  ): Promise<{ access_token: string; refresh_token: string; scope: string }> {
    const response = await fetch(`${authd!.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'notes-web',
        username,
        password: PASSWORD,
        ...(scope && { scope }),
      }).toString(),
    });
    const body = (await response.json()) as { access_token: string; refresh_token: string; scope: string };
    if (response.status !== 200) throw new Error(`login failed with ${response.status}: ${JSON.stringify(body)}`);
    return body;
  }

  const call = (method: string, route: string, token?: string) =>
    fetch(`${apiUrl}${route}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('serves /public and /health without a token', async () => {
    const res = await call('GET', '/public');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'hello, anyone' });
    expect((await call('GET', '/health')).status).toBe(200);
  });

  it('answers /me 401 with a Bearer challenge without a token, and who the caller is with one', async () => {
    const anonymous = await call('GET', '/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer realm="${AUDIENCE}"`);

    const { access_token: token } = await login('writer');
    const res = await call('GET', '/me', token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      sub: userIds.writer,
      client_id: 'notes-web',
      scopes: ['read'],
      roles: ['user'],
    });
  });

  it('refuses a refresh token at /me (401 invalid_token)', async () => {
    const { refresh_token: refresh } = await login('writer');
    const res = await call('GET', '/me', refresh);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${AUDIENCE}", error="invalid_token", error_description="The token is not an access token."`,
    );
  });

  it('answers POST /notes 403 insufficient_scope without the write scope, 201 with it', async () => {
    const readOnly = await login('writer');
    expect(readOnly.scope).toBe('read');
    const refused = await call('POST', '/notes', readOnly.access_token);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer realm="${AUDIENCE}", error="insufficient_scope", error_description="The token lacks the scope this resource needs.", scope="write"`,
    );

    const writer = await login('writer', 'read write');
    const created = await call('POST', '/notes', writer.access_token);
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ created_by: userIds.writer });
  });

  it('answers /admin/stats 403 to a user without the admin role, 200 to an admin', async () => {
    const user = await login('writer', 'read write');
    const refused = await call('GET', '/admin/stats', user.access_token);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('error="insufficient_scope"');

    const admin = await login('boss');
    const res = await call('GET', '/admin/stats', admin.access_token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ notes: 42 });
  });
});
