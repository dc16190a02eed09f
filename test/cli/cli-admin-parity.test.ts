import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { backends, openStack, type TestStack } from '../support/backends';
import { useCli, type CliResult } from '../support/cli';
import { token } from '../support/fixtures';
import { scaled } from '../support/timing';

/**
 * Every CLI command the admin API also has goes through the same service and gives the same
 * result: each operation runs once through the CLI (on a database of its own) and once through
 * /admin, and what each side then shows of the record must be equal.
 */

jest.setTimeout(scaled(120_000));

const ISSUER = 'https://authd.test';
const AUDIENCE = 'https://api.example.test';
const ADMIN_PASSWORD = 'the root of all administration';
const USER_PASSWORD = 'a long and lovely passphrase';

/** What both sides show, less what differs by nature (generated ids, timestamps). */
const comparable = (record: Record<string, unknown>) => {
  const { created_at: _c, updated_at: _u, id: _i, ...rest } = record;
  return rest;
};

describe.each(backends())('CLI and admin API agree on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let adminToken: string;
  // The CLI's own database of the same kind.
  const { run: cli } = useCli(backend, { AUTHD_ISSUER: ISSUER, AUTHD_LOG_LEVEL: undefined });

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_ISSUER: ISSUER });
    app = createApp(stack.config, stack.services);
    await stack.services.clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: ISSUER,
    });
    await stack.services.users.create({
      username: 'root@example.com',
      password: ADMIN_PASSWORD,
      scopes: ['authd:admin'],
    });
    const login = await token(app, {
      grant_type: 'password',
      client_id: 'admin-cli',
      username: 'root@example.com',
      password: ADMIN_PASSWORD,
    });
    expect(login.status).toBe(200);
    adminToken = login.body.access_token;
  });

  afterAll(async () => {
    await stack?.close();
  });

  const api = {
    get: (url: string) => request(app).get(url).set('Authorization', `Bearer ${adminToken}`),
    post: (url: string, body?: object) =>
      request(app).post(url).set('Authorization', `Bearer ${adminToken}`).send(body),
    patch: (url: string, body: object) =>
      request(app).patch(url).set('Authorization', `Bearer ${adminToken}`).send(body),
    delete: (url: string) => request(app).delete(url).set('Authorization', `Bearer ${adminToken}`),
  };

  async function cliJson(...args: string[]): Promise<Record<string, unknown>> {
    const result = await cli(...args, '--json');
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(result.stdout);
  }

  /** The CLI's refusal and the API's: the same message, exit 1 and a 4xx. */
  function expectSameRefusal(cli: CliResult, res: request.Response, status: number): void {
    expect({ code: cli.code, stdout: cli.stdout, stderr: cli.stderr, status: res.status }).toEqual({
      code: 1,
      stdout: '',
      stderr: `authd: ${res.body.error_description}\n`,
      status,
    });
  }

  const spa = {
    cli: [
      '--name',
      'Web app',
      '--public',
      '--first-party',
      '--grant',
      'password,refresh_token',
      '--scope',
      'profile,read',
      '--default-scope',
      'profile',
      '--audience',
      AUDIENCE,
      '--cookie-mode',
      '--allowed-origins',
      'https://app.example.test',
    ],
    api: {
      name: 'Web app',
      type: 'public',
      first_party: true,
      grant_types: ['password', 'refresh_token'],
      scopes: ['profile', 'read'],
      default_scopes: ['profile'],
      audience: AUDIENCE,
      cookie_mode: true,
      allowed_origins: ['https://app.example.test'],
    },
  };

  it('creates a browser app in cookie mode with its allowed origins (clients create / POST /admin/clients)', async () => {
    const created = await cliJson('clients', 'create', '--id', 'spa', ...spa.cli);
    expect(created).toMatchObject({
      client_id: 'spa',
      cookie_mode: true,
      allowed_origins: ['https://app.example.test'],
    });
    expect((await api.post('/admin/clients', { client_id: 'spa', ...spa.api })).status).toBe(201);
    const shown = await cliJson('clients', 'show', 'spa');
    expect(comparable(shown)).toEqual(comparable((await api.get('/admin/clients/spa')).body));
    expect(shown).toMatchObject({ cookie_mode: true, allowed_origins: ['https://app.example.test'], type: 'public' });
  });

  it('refuses cookie mode without allowed origins with the same message', async () => {
    const { allowed_origins: _o, ...withoutOrigins } = spa.api;
    const cliArgs = spa.cli.slice(0, spa.cli.indexOf('--allowed-origins'));
    expectSameRefusal(
      await cli('clients', 'create', '--id', 'spa2', ...cliArgs),
      await api.post('/admin/clients', { client_id: 'spa2', ...withoutOrigins }),
      400,
    );
  });

  it('updates only what is given (clients update / PATCH /admin/clients/:id)', async () => {
    await cliJson(
      'clients',
      'update',
      'spa',
      '--scope',
      'profile,read,write',
      '--access-token-ttl',
      '5m',
      '--name',
      'Renamed',
      '--allowed-origins',
      'https://app.example.test,https://admin.example.test',
    );
    const patched = await api.patch('/admin/clients/spa', {
      scopes: ['profile', 'read', 'write'],
      access_token_ttl: 300,
      name: 'Renamed',
      allowed_origins: ['https://app.example.test', 'https://admin.example.test'],
    });
    expect(patched.status).toBe(200);
    const shown = await cliJson('clients', 'show', 'spa');
    expect(comparable(shown)).toEqual(comparable(patched.body));
    expect(shown).toMatchObject({
      name: 'Renamed',
      access_token_ttl: 300,
      cookie_mode: true,
      default_scopes: ['profile'],
      audience: AUDIENCE,
    });

    expectSameRefusal(
      await cli('clients', 'update', 'spa', '--grant', 'refresh_token'),
      await api.patch('/admin/clients/spa', { grant_types: ['refresh_token'] }),
      400,
    );
  });

  it("rotates a confidential client's secret, and refuses for a public one (clients rotate-secret)", async () => {
    const job = ['--name', 'Job', '--grant', 'client_credentials', '--scope', 'jobs:run', '--audience', AUDIENCE];
    await cliJson('clients', 'create', '--id', 'job', ...job);
    expect(
      (
        await api.post('/admin/clients', {
          client_id: 'job',
          name: 'Job',
          type: 'confidential',
          grant_types: ['client_credentials'],
          scopes: ['jobs:run'],
          audience: AUDIENCE,
        })
      ).status,
    ).toBe(201);
    const viaCli = await cliJson('clients', 'rotate-secret', 'job');
    const viaApi = (await api.post('/admin/clients/job/rotate-secret')).body;
    for (const answer of [viaCli, viaApi])
      expect(answer).toEqual({ client_id: 'job', client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43,}$/) });
    // The new secret works, the old one no longer does (checked on the API side's server).
    expect(
      (
        await token(app, {
          grant_type: 'client_credentials',
          client_id: 'job',
          client_secret: viaApi.client_secret as string,
        })
      ).status,
    ).toBe(200);

    expectSameRefusal(
      await cli('clients', 'rotate-secret', 'spa'),
      await api.post('/admin/clients/spa/rotate-secret'),
      400,
    );
  });

  it('deletes a client; then both sides know it no more (clients delete / DELETE)', async () => {
    expect(await cliJson('clients', 'delete', 'job')).toEqual({ client_id: 'job', deleted: true });
    expect((await api.delete('/admin/clients/job')).status).toBe(204);
    expectSameRefusal(await cli('clients', 'show', 'job'), await api.get('/admin/clients/job'), 404);
    expectSameRefusal(await cli('clients', 'delete', 'job'), await api.delete('/admin/clients/job'), 404);
  });

  it("requires a second factor of a client's users alike (clients create|update --require-mfa / require_mfa)", async () => {
    const app2 = [
      '--name',
      'Bank',
      '--public',
      '--first-party',
      '--grant',
      'password',
      '--scope',
      'read',
      '--audience',
      AUDIENCE,
      '--require-mfa',
    ];
    expect(await cliJson('clients', 'create', '--id', 'bank', ...app2)).toMatchObject({ client_id: 'bank' });
    const posted = await api.post('/admin/clients', {
      client_id: 'bank',
      name: 'Bank',
      type: 'public',
      first_party: true,
      grant_types: ['password'],
      scopes: ['read'],
      audience: AUDIENCE,
      require_mfa: true,
    });
    expect(posted.status).toBe(201);
    const shown = await cliJson('clients', 'show', 'bank');
    expect(comparable(shown)).toEqual(comparable((await api.get('/admin/clients/bank')).body));
    expect(shown.require_mfa).toBe(true);

    await cliJson('clients', 'update', 'bank', '--no-require-mfa');
    const patched = await api.patch('/admin/clients/bank', { require_mfa: false });
    expect(comparable(await cliJson('clients', 'show', 'bank'))).toEqual(comparable(patched.body));
    expect(patched.body.require_mfa).toBe(false);
  });

  it("resets a user's second factor alike (users mfa-reset / POST /admin/users/:id/mfa/reset)", async () => {
    await cliJson('users', 'create', 'carol', '--generate-password');
    const posted = await api.post('/admin/users', { username: 'carol', password: USER_PASSWORD });
    expect(posted.status).toBe(201);
    const viaCli = await cliJson('users', 'mfa-reset', 'carol');
    const viaApi = await api.post(`/admin/users/${posted.body.id}/mfa/reset`);
    expect(viaApi.status).toBe(200);
    expect({ removed: viaCli.removed, username: viaCli.username }).toEqual({
      removed: viaApi.body.removed,
      username: 'carol',
    });
    expect(viaCli.removed).toBe(false);
    const unknown = await cli('users', 'mfa-reset', 'nobody');
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({
      code: 1,
      stderr: 'authd: No user named "nobody".\n',
    });
  });

  it('creates, changes, shows and deletes users alike (users create|set-roles|set-scopes|disable|show|delete)', async () => {
    const created = await cliJson(
      'users',
      'create',
      'Bob@Example.com',
      '--generate-password',
      '--role',
      'user',
      '--scope',
      'read',
    );
    const posted = await api.post('/admin/users', {
      username: 'Bob@Example.com',
      password: USER_PASSWORD,
      roles: ['user'],
      scopes: ['read'],
    });
    expect(posted.status).toBe(201);
    expect(comparable(await cliJson('users', 'show', 'bob@example.com'))).toEqual(comparable(posted.body));
    expect(created).toMatchObject({ username: 'Bob@Example.com', roles: ['user'], scopes: ['read'] });

    await cliJson('users', 'set-roles', 'bob@example.com', 'user,editor');
    await cliJson('users', 'set-scopes', 'bob@example.com', 'read', 'write');
    await cliJson('users', 'disable', 'bob@example.com');
    const patched = await api.patch(`/admin/users/${posted.body.id}`, {
      roles: ['user', 'editor'],
      scopes: ['read', 'write'],
      disabled: true,
    });
    expect(patched.status).toBe(200);
    const shown = await cliJson('users', 'show', 'bob@example.com');
    expect(comparable(shown)).toEqual(comparable(patched.body));
    expect(shown).toMatchObject({ roles: ['user', 'editor'], scopes: ['read', 'write'], disabled: true });

    const revoked = await cliJson('users', 'revoke-sessions', 'bob@example.com');
    expect(revoked.revoked_sessions).toBe(
      (await api.post(`/admin/users/${posted.body.id}/revoke-sessions`)).body.revoked_sessions,
    );

    expect(await cliJson('users', 'delete', 'bob@example.com')).toEqual({
      id: created.id,
      username: 'Bob@Example.com',
      deleted: true,
    });
    expect((await api.delete(`/admin/users/${posted.body.id}`)).status).toBe(204);
    const gone = await cli('users', 'show', 'bob@example.com');
    expect({ code: gone.code, stderr: gone.stderr }).toEqual({
      code: 1,
      stderr: 'authd: No user named "bob@example.com".\n',
    });
    expect((await api.get(`/admin/users/${posted.body.id}`)).status).toBe(404);
  });
});
