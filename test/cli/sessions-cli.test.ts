import request from 'supertest';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { backends } from '../support/backends';
import { json, useCli } from '../support/cli';
import { basic, decodeJwt } from '../support/fixtures';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(120_000));

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
const LOCALHOST = expect.stringMatching(/127\.0\.0\.1/);

describe.each(backends({ postgresWithoutRedis: true }))('users sessions / revoke-sessions CLI on $name', (backend) => {
  const suite = useCli(backend);
  const cli = suite.run;

  /** The whole stack on the CLI's database, as the server opens it. */
  async function withOpenServices<T>(
    fn: (services: Services, app: ReturnType<typeof createApp>) => Promise<T>,
  ): Promise<T> {
    const services = await suite.openServices();
    try {
      expect(services.db.kind).toBe(backend.name === 'embedded' ? 'embedded' : 'postgres');
      expect(services.redis !== undefined).toBe(backend.redisUrl !== undefined);
      return await fn(services, createApp(services.config, services));
    } finally {
      await services.close();
    }
  }

  it("lists a user's sessions with client, ip and user agent, and revokes them all", async () => {
    // A user and a first-party public client, by CLI.
    const user = json<{ id: string; username: string; roles: string[]; scopes: string[]; password: string }>(
      await cli(
        'users',
        'create',
        'bob@example.com',
        '--generate-password',
        '--role',
        'user',
        '--scope',
        'profile,read',
        '--json',
      ),
    );
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      username: 'bob@example.com',
      roles: ['user'],
      scopes: ['profile', 'read'],
      password: expect.any(String),
    });

    expect(
      json(
        await cli(
          'clients',
          'create',
          '--name',
          'Web login',
          '--id',
          'web',
          '--public',
          '--first-party',
          '--grant',
          'password,refresh_token',
          '--scope',
          'profile,read',
          '--default-scope',
          'profile',
          '--audience',
          'https://api.example.test',
          '--json',
        ),
      ),
    ).toEqual({
      client_id: 'web',
      name: 'Web login',
      type: 'public',
      first_party: true,
      introspection: false,
      grant_types: ['password', 'refresh_token'],
      scopes: ['profile', 'read'],
      default_scopes: ['profile'],
      audience: 'https://api.example.test',
    });
    const api = json<{ client_id: string; client_secret: string; introspection: boolean }>(
      await cli(
        'clients',
        'create',
        '--name',
        'API',
        '--id',
        'api',
        '--introspect',
        '--audience',
        'https://api.example.test',
        '--json',
      ),
    );
    expect(api).toEqual(
      expect.objectContaining({
        client_id: 'api',
        type: 'confidential',
        introspection: true,
        client_secret: expect.any(String),
      }),
    );

    // No session yet.
    expect(json(await cli('users', 'sessions', 'bob@example.com', '--json'))).toEqual([]);

    // Two logins from different user agents, through the real app.
    const logins = await withOpenServices(async (_services, app) => {
      const result: Array<{ accessToken: string; refreshToken: string; sid: string; userAgent: string }> = [];
      for (const userAgent of ['Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0', 'authd-test-cli/1.0']) {
        const res = await request(app)
          .post('/oauth/token')
          .type('form')
          .set('User-Agent', userAgent)
          .send({ grant_type: 'password', client_id: 'web', username: 'bob@example.com', password: user.password });
        expect(res.status).toBe(200);
        result.push({
          accessToken: res.body.access_token,
          refreshToken: res.body.refresh_token,
          sid: String(decodeJwt(res.body.access_token).payload.sid),
          userAgent,
        });
      }
      for (const login of result) {
        const res = await request(app)
          .post('/oauth/introspect')
          .type('form')
          .set('Authorization', basic('api', api.client_secret))
          .send({ token: login.accessToken });
        expect(res.body).toEqual(expect.objectContaining({ active: true, sid: login.sid }));
      }
      return result;
    });

    const listed = json<Array<Record<string, unknown>>>(await cli('users', 'sessions', 'bob@example.com', '--json'));
    expect(listed).toHaveLength(2);
    const byAgent = (rows: Array<Record<string, unknown>>) =>
      [...rows].sort((a, b) => String(a.user_agent).localeCompare(String(b.user_agent)));
    const expected = [...logins].sort((a, b) => a.userAgent.localeCompare(b.userAgent));
    expect(byAgent(listed)).toEqual(
      expected.map((login) => ({
        session: login.sid,
        client: 'web',
        created: ISO,
        last_used: ISO,
        expires: ISO,
        ip: LOCALHOST,
        user_agent: login.userAgent,
      })),
    );
    // Newest first.
    expect(listed.map((r) => r.session)).toEqual([logins[1].sid, logins[0].sid]);
    for (const row of listed) {
      expect(Date.parse(String(row.expires)) - Date.parse(String(row.created))).toBe(30 * 86_400_000);
    }

    // The table form names the same sessions.
    const table = await cli('users', 'sessions', 'bob@example.com');
    expect(table.code).toBe(0);
    const [header, ...lines] = table.stdout.trimEnd().split('\n');
    expect(header.split(/\s+/)).toEqual(['session', 'client', 'created', 'last_used', 'expires', 'ip', 'user_agent']);
    expect(lines).toHaveLength(2);
    for (const login of logins) expect(table.stdout).toContain(login.sid);

    // Sign bob out everywhere.
    const revoked = await cli('users', 'revoke-sessions', 'bob@example.com');
    expect(revoked).toEqual({
      code: 0,
      stdout: 'bob@example.com: 2 session(s) revoked; access tokens issued until now are revoked too\n',
      stderr: '',
    });

    expect(await cli('users', 'sessions', 'bob@example.com', '--json')).toEqual({
      code: 0,
      stdout: '[]\n',
      stderr: '',
    });
    expect(await cli('users', 'sessions', 'bob@example.com')).toEqual({ code: 0, stdout: '(none)\n', stderr: '' });

    const all = json<Array<Record<string, unknown>>>(
      await cli('users', 'sessions', 'bob@example.com', '--all', '--json'),
    );
    expect(byAgent(all)).toEqual(
      expected.map((login) => ({
        session: login.sid,
        client: 'web',
        created: ISO,
        last_used: ISO,
        expires: ISO,
        ip: LOCALHOST,
        user_agent: login.userAgent,
        revoked: ISO,
        reason: 'revoked_by_operator',
      })),
    );

    // A second run finds nothing left to revoke.
    expect((await cli('users', 'revoke-sessions', 'bob@example.com')).stdout).toBe(
      'bob@example.com: 0 session(s) revoked; access tokens issued until now are revoked too\n',
    );

    // What the CLI did holds for the server: the access tokens are inactive, the refresh tokens dead.
    await withOpenServices(async (_services, app) => {
      for (const login of logins) {
        const introspected = await request(app)
          .post('/oauth/introspect')
          .type('form')
          .set('Authorization', basic('api', api.client_secret))
          .send({ token: login.accessToken });
        expect(introspected.status).toBe(200);
        expect(introspected.body).toEqual({ active: false });
        const refreshed = await request(app)
          .post('/oauth/token')
          .type('form')
          .send({ grant_type: 'refresh_token', client_id: 'web', refresh_token: login.refreshToken });
        expect(refreshed.status).toBe(400);
        expect(refreshed.body).toEqual({
          error: 'invalid_grant',
          error_description: 'The refresh token is invalid, expired or revoked.',
        });
      }
    });
  });

  it('names an unknown user as such, with exit code 1', async () => {
    for (const command of [
      ['users', 'sessions', 'nobody@example.com', '--json'],
      ['users', 'revoke-sessions', 'nobody@example.com'],
    ]) {
      expect(await cli(...command)).toEqual({
        code: 1,
        stdout: '',
        stderr: 'authd: No user named "nobody@example.com".\n',
      });
    }
  });
});
