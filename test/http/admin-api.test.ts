import type { Express } from 'express';
import request from 'supertest';
import { rotateSigningKey } from '../../src/tokens/key-management';
import { expectError } from './expect-error';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/** /admin: users, clients, keys and the audit trail, for access tokens with aud = issuer and the admin scope. */

type Response = request.Response;

const ISSUER = 'https://authd.test';
const ADMIN_PASSWORD = 'the root of all administration';
const NEW_PASSWORD = 'an entirely different passphrase';
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 86400 * SECOND;
const LOCAL_IP = expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
const UUID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const UA = 'admin-api-test/1.0';

const INVALID_GRANT_LOGIN = { error: 'invalid_grant', error_description: 'Invalid username or password.' };
const INVALID_GRANT_REFRESH = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed.' };
const REVOKED = { error: 'invalid_token', error_description: 'The token has been revoked.' };
const NO_SUCH_USER = { error: 'invalid_request', code: 'user_not_found', error_description: expect.any(String) };

/** An access token's identity, as the revocation store sees it. */
function identity(accessToken: string) {
  const { payload } = decodeJwt(accessToken);
  return {
    jti: String(payload.jti),
    sub: String(payload.sub),
    iat: Number(payload.iat),
    ...(payload.sid !== undefined && { sid: String(payload.sid) }),
  };
}

function expectBearerChallenge(res: Response, status: number, challenge: string, body: Record<string, string>): void {
  expect({
    status: res.status,
    challenge: res.headers['www-authenticate'],
    cacheControl: res.headers['cache-control'],
    body: res.body,
  }).toEqual({ status, challenge, cacheControl: 'no-store', body });
}

describe.each(backends())('admin API on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  let root: { id: string };
  let adminToken: string;

  const iso = (ms = stack.clock.now()) => new Date(ms).toISOString();

  function login(clientId: string, username: string, password: string, headers: Record<string, string> = {}) {
    return token(
      app,
      { grant_type: 'password', client_id: clientId, username, password },
      { 'User-Agent': UA, ...headers },
    );
  }

  async function loginOk(clientId: string, username: string, password: string, headers: Record<string, string> = {}) {
    const res = await login(clientId, username, password, headers);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
    return {
      accessToken: res.body.access_token as string,
      refreshToken: res.body.refresh_token as string,
      sid: String(decodeJwt(res.body.access_token).payload.sid),
    };
  }

  function refresh(clientId: string, refreshToken: string) {
    return token(app, { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken });
  }

  /** Requests as the admin (or with another bearer token). */
  function as(bearer: string | undefined) {
    const auth = <T extends request.Test>(t: T): T =>
      bearer === undefined ? t : (t.set('Authorization', `Bearer ${bearer}`) as T);
    return {
      get: (path: string) => auth(request(app).get(path)),
      post: (path: string, body?: object) =>
        body === undefined ? auth(request(app).post(path)) : auth(request(app).post(path)).send(body),
      patch: (path: string, body: object) => auth(request(app).patch(path)).send(body),
      delete: (path: string) => auth(request(app).delete(path)),
    };
  }
  const admin = () => as(adminToken);

  /** A user created through the admin API; scopes default to those of the account-web client. */
  async function createUser(
    username: string,
    extra: { roles?: string[]; scopes?: string[] } = {},
  ): Promise<{ id: string; username: string }> {
    const res = await admin().post('/admin/users', { username, password: PASSWORD, scopes: ['profile'], ...extra });
    expect(res.status).toBe(201);
    return { id: res.body.id, username };
  }

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
    await stack.services.clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: ISSUER,
    });
    // A first-party login whose tokens are for authd itself (the account API), without the admin scope.
    await stack.services.clientService.create({
      id: 'account-web',
      name: 'Account',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: ISSUER,
    });
    root = await stack.services.users.create({
      username: 'root@example.com',
      password: ADMIN_PASSWORD,
      scopes: ['authd:admin'],
    });
  });
  afterAll(() => stack.close());

  beforeEach(async () => {
    adminToken = (await loginOk('admin-cli', 'root@example.com', ADMIN_PASSWORD)).accessToken;
  });

  // --- authentication --------------------------------------------------------------------------

  describe('authentication', () => {
    it('answers a request without a token with 401 and a bare Bearer challenge', async () => {
      const res = await as(undefined).get('/admin/users');
      expectBearerChallenge(res, 401, `Bearer realm="${ISSUER}"`, {
        error: 'unauthorized',
        error_description: 'Authentication required.',
      });
    });

    it("refuses a valid token meant for another audience (the fixture web client's) with invalid_token", async () => {
      const web = await loginOk('web', f.alice.username, PASSWORD);
      expect(decodeJwt(web.accessToken).payload.aud).toBe('https://api.test');
      const res = await as(web.accessToken).get('/admin/users');
      expectBearerChallenge(
        res,
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token is not meant for authd."`,
        { error: 'invalid_token', error_description: 'The token is not meant for authd.' },
      );
    });

    it('refuses a token for authd without the admin scope with 403 insufficient_scope naming the scope', async () => {
      const user = await loginOk('account-web', f.alice.username, PASSWORD);
      expect(decodeJwt(user.accessToken).payload).toEqual(
        expect.objectContaining({ aud: ISSUER, scope: 'authd:account' }),
      );
      const res = await as(user.accessToken).get('/admin/users');
      expectBearerChallenge(
        res,
        403,
        `Bearer realm="${ISSUER}", error="insufficient_scope", error_description="The token lacks the scope this resource needs.", scope="authd:admin"`,
        { error: 'insufficient_scope', error_description: 'The token lacks the scope this resource needs.' },
      );
    });

    it('applies the scope check to every admin route, before anything else', async () => {
      const user = await loginOk('account-web', f.alice.username, PASSWORD);
      const routes: Array<[string, string]> = [
        ['get', '/admin/users'],
        ['post', '/admin/users'],
        ['get', `/admin/users/${f.alice.id}`],
        ['patch', `/admin/users/${f.alice.id}`],
        ['delete', `/admin/users/${f.alice.id}`],
        ['post', `/admin/users/${f.alice.id}/password`],
        ['get', `/admin/users/${f.alice.id}/sessions`],
        ['post', `/admin/users/${f.alice.id}/revoke-sessions`],
        ['get', '/admin/clients'],
        ['post', '/admin/clients'],
        ['get', '/admin/clients/web'],
        ['patch', '/admin/clients/web'],
        ['delete', '/admin/clients/web'],
        ['post', '/admin/clients/backend/rotate-secret'],
        ['get', '/admin/keys'],
        ['post', '/admin/keys/rotate'],
        ['post', '/admin/keys/some-kid/retire'],
        ['post', '/admin/keys/some-kid/revoke'],
        ['get', '/admin/audit'],
      ];
      for (const [method, path] of routes) {
        const res = await (request(app) as unknown as Record<string, (p: string) => request.Test>)
          [method](path)
          .set('Authorization', `Bearer ${user.accessToken}`)
          .send({});
        expect({ route: `${method} ${path}`, status: res.status, error: res.body.error }).toEqual({
          route: `${method} ${path}`,
          status: 403,
          error: 'insufficient_scope',
        });
      }
      // Nothing was touched.
      expect((await stack.services.users.requireUser({ id: f.alice.id })).disabledAt).toBeNull();
      expect(await stack.services.clientService.get('web')).toEqual(expect.objectContaining({ id: 'web' }));
    });

    it('refuses a revoked admin token with 401', async () => {
      const second = await loginOk('admin-cli', 'root@example.com', ADMIN_PASSWORD);
      expect((await as(second.accessToken).get('/admin/keys')).status).toBe(200);
      const revoked = await request(app)
        .post('/oauth/revoke')
        .type('form')
        .send({ client_id: 'admin-cli', token: second.accessToken });
      expect(revoked.status).toBe(200);
      const res = await as(second.accessToken).get('/admin/keys');
      expectBearerChallenge(
        res,
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token has been revoked."`,
        REVOKED,
      );
      // The other admin token is unaffected.
      expect((await admin().get('/admin/keys')).status).toBe(200);
    });

    it('refuses an expired admin token, a garbage token and a non-Bearer Authorization header', async () => {
      const expiring = await loginOk('admin-cli', 'root@example.com', ADMIN_PASSWORD);
      stack.clock.advance(900 * SECOND + 61 * SECOND);
      expectBearerChallenge(
        await as(expiring.accessToken).get('/admin/users'),
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token is invalid or expired."`,
        { error: 'invalid_token', error_description: 'The token is invalid or expired.' },
      );
      expectBearerChallenge(
        await as('not.a.jwt').get('/admin/users'),
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token is invalid or expired."`,
        { error: 'invalid_token', error_description: 'The token is invalid or expired.' },
      );
      const basicAuth = await request(app).get('/admin/users').set('Authorization', basic('admin-cli', 'x'));
      expectBearerChallenge(
        basicAuth,
        400,
        `Bearer realm="${ISSUER}", error="invalid_request", error_description="The Authorization header must be Bearer <token>."`,
        { error: 'invalid_request', error_description: 'The Authorization header must be "Bearer <token>".' },
      );
    });
  });

  // --- users ---------------------------------------------------------------------------------

  describe('users', () => {
    it('POST /admin/users creates a user: 201 with the profile and nothing secret', async () => {
      stack.clock.advance(MINUTE);
      const res = await admin().post('/admin/users', {
        username: '  Bob@Example.com ',
        password: PASSWORD,
        roles: ['user', 'auditor'],
        scopes: ['profile', 'read'],
      });
      expect(res.status).toBe(201);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({
        id: UUID,
        username: 'Bob@Example.com',
        roles: ['user', 'auditor'],
        scopes: ['profile', 'read'],
        disabled: false,
        email: null,
        email_verified: false,
        metadata: {},
        created_at: iso(),
        updated_at: iso(),
      });
      expect(res.text).not.toContain(PASSWORD);
      expect(res.text).not.toContain('$argon2');
      expect(res.text).not.toMatch(/hash/i);
      // The user can log in.
      expect((await login('web', 'bob@example.com', PASSWORD)).status).toBe(200);
    });

    it.each([
      [
        'a breached password',
        { password: 'password' },
        'Password is too common: it appears in lists of breached passwords.',
      ],
      ['a short password', { password: 'short' }, 'Password must be at least 8 characters.'],
      ['an invalid role', { roles: ['no spaces allowed'] }, 'Invalid role name: "no spaces allowed".'],
      ['an invalid scope', { scopes: ['bad"scope'] }, 'Invalid scope name: "bad"scope".'],
    ])('refuses %s with 400 invalid_request and creates no one', async (_label, override, description) => {
      const res = await admin().post('/admin/users', { username: 'weak@example.com', password: PASSWORD, ...override });
      expectError(res, 400, { error: 'invalid_request', error_description: description });
      expect(await stack.services.userRepository.findByNormalizedUsername('weak@example.com')).toBeUndefined();
    });

    it('refuses a body with unknown fields, a missing password and a non-JSON body with 400/415', async () => {
      const extra = await admin().post('/admin/users', {
        username: 'extra@example.com',
        password: PASSWORD,
        password_hash: 'x',
      });
      expectError(extra, 400, {
        error: 'invalid_request',
        error_description: expect.stringContaining('password_hash'),
      });
      const missing = await admin().post('/admin/users', { username: 'extra@example.com' });
      expectError(missing, 400, { error: 'invalid_request', error_description: expect.stringMatching(/^password: /) });
      const form = await request(app)
        .post('/admin/users')
        .set('Authorization', `Bearer ${adminToken}`)
        .type('form')
        .send({ username: 'extra@example.com', password: PASSWORD });
      expectError(form, 415, {
        error: 'invalid_request',
        error_description: 'The request body must be application/json.',
      });
      expect(await stack.services.userRepository.findByNormalizedUsername('extra@example.com')).toBeUndefined();
    });

    it('refuses an invalid username and malformed JSON with 400', async () => {
      expectError(await admin().post('/admin/users', { username: '   ', password: PASSWORD }), 400, {
        error: 'invalid_request',
        error_description: 'Username must not be empty.',
      });
      expectError(await admin().post('/admin/users', { username: 'two words', password: PASSWORD }), 400, {
        error: 'invalid_request',
        error_description: 'Username must not contain spaces or control characters.',
      });
      const malformed = await request(app)
        .post('/admin/users')
        .set({ Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' })
        .send('{"username": ');
      expectError(malformed, 400, { error: 'invalid_request', error_description: expect.any(String) });
      expect(await stack.services.userRepository.findByNormalizedUsername('two words')).toBeUndefined();
    });

    it('refuses a duplicate username, however it is cased, with 409', async () => {
      await createUser('dup@example.com');
      for (const username of ['dup@example.com', 'DUP@Example.COM']) {
        const res = await admin().post('/admin/users', { username, password: PASSWORD });
        expectError(res, 409, {
          error: 'invalid_request',
          code: 'username_taken',
          error_description: expect.any(String),
        });
      }
    });

    it('GET /admin/users/:id returns the user; 404 for an unknown or malformed id', async () => {
      stack.clock.advance(MINUTE);
      const created = await admin().post('/admin/users', {
        username: 'carol@example.com',
        password: PASSWORD,
        roles: ['user'],
      });
      const res = await admin().get(`/admin/users/${created.body.id}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        id: created.body.id,
        username: 'carol@example.com',
        roles: ['user'],
        scopes: [],
        disabled: false,
        email: null,
        email_verified: false,
        metadata: {},
        created_at: iso(),
        updated_at: iso(),
        mfa: { enabled: false, enrolled_at: null, recovery_codes_left: 0 },
      });
      expect(res.text).not.toContain('$argon2');
      expectError(await admin().get('/admin/users/00000000-0000-4000-8000-000000000000'), 404, NO_SUCH_USER);
      expectError(await admin().get('/admin/users/not-a-uuid'), 404, NO_SUCH_USER);
      expectError(await admin().get('/admin/users/carol@example.com'), 404, NO_SUCH_USER);
    });

    it('GET /admin/users pages through every user with next_cursor: no duplicates, no omissions, in username order', async () => {
      for (let i = 1; i <= 7; i++) await createUser(`page-${i}@list.test`);
      const all = (await stack.services.userRepository.page(10_000)).map((u) => u.id);
      expect(all.length).toBeGreaterThanOrEqual(9);

      const seen: string[] = [];
      const usernames: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: Response = await admin().get(
          `/admin/users?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(res.status).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual(['next_cursor', 'users']);
        expect(res.body.users.length).toBeLessThanOrEqual(3);
        for (const u of res.body.users) {
          expect(Object.keys(u).sort()).toEqual([
            'created_at',
            'disabled',
            'email',
            'email_verified',
            'id',
            'metadata',
            'roles',
            'scopes',
            'updated_at',
            'username',
          ]);
          seen.push(u.id);
          usernames.push(u.username.toLowerCase());
        }
        cursor = res.body.next_cursor;
        if (cursor !== null) expect(res.body.users).toHaveLength(3);
        pages++;
      } while (cursor !== null && pages < 100);
      expect(seen).toEqual(all);
      expect(new Set(seen).size).toBe(seen.length);
      expect(usernames).toEqual([...usernames].sort());
      expect(pages).toBe(Math.ceil(all.length / 3));
    });

    it('GET /admin/users?search= filters by a username substring (case-insensitive) and pages the matches', async () => {
      const byName = new Map<string, string>();
      for (let i = 1; i <= 7; i++) {
        const u =
          (await stack.services.userRepository.findByNormalizedUsername(`page-${i}@list.test`)) ??
          (await createUser(`page-${i}@list.test`));
        byName.set(`page-${i}@list.test`, u.id);
      }
      const first = await admin().get('/admin/users?limit=3&search=LIST.TEST');
      expect(first.status).toBe(200);
      const page = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, k) => `page-${from + k}@list.test`);
      expect(first.body).toEqual({
        users: page(1, 3).map((username) => ({
          id: byName.get(username),
          username,
          roles: [],
          scopes: ['profile'],
          disabled: false,
          email: null,
          email_verified: false,
          metadata: {},
          created_at: expect.any(String),
          updated_at: expect.any(String),
        })),
        next_cursor: 'page-3@list.test',
      });
      const second = await admin().get(
        `/admin/users?limit=3&search=list.test&cursor=${encodeURIComponent(first.body.next_cursor)}`,
      );
      expect(second.body.users.map((u: { username: string }) => u.username)).toEqual(page(4, 6));
      expect(second.body.next_cursor).toBe('page-6@list.test');
      const third = await admin().get(
        `/admin/users?limit=3&search=list.test&cursor=${encodeURIComponent(second.body.next_cursor)}`,
      );
      expect(third.body).toEqual({
        users: [expect.objectContaining({ username: 'page-7@list.test' })],
        next_cursor: null,
      });
      // Exactly a multiple of the limit: no empty trailing page.
      const six = await admin().get('/admin/users?limit=6&search=list.test');
      const rest = await admin().get(
        `/admin/users?limit=6&search=list.test&cursor=${encodeURIComponent(six.body.next_cursor)}`,
      );
      expect(rest.body).toEqual({
        users: [expect.objectContaining({ username: 'page-7@list.test' })],
        next_cursor: null,
      });
      const seven = await admin().get('/admin/users?limit=7&search=list.test');
      expect({ n: seven.body.users.length, next: seven.body.next_cursor }).toEqual({ n: 7, next: null });
      expect((await admin().get('/admin/users?search=no-such-name')).body).toEqual({ users: [], next_cursor: null });
    });

    it.each([['limit=0'], ['limit=201'], ['limit=abc'], ['offset=3'], ['search=a%01b']])(
      'refuses GET /admin/users?%s with 400',
      async (query) => {
        const res = await admin().get(`/admin/users?${query}`);
        expectError(res, 400, { error: 'invalid_request', error_description: expect.any(String) });
      },
    );

    it('PATCH /admin/users/:id changes roles and scopes', async () => {
      const dan = await createUser('dan@example.com', { roles: ['user'] });
      stack.clock.advance(MINUTE);
      const res = await admin().patch(`/admin/users/${dan.id}`, {
        roles: ['user', 'support'],
        scopes: ['profile', 'read'],
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        id: dan.id,
        username: 'dan@example.com',
        roles: ['user', 'support'],
        scopes: ['profile', 'read'],
        disabled: false,
        email: null,
        email_verified: false,
        metadata: {},
        created_at: iso(stack.clock.now() - MINUTE),
        updated_at: iso(),
      });
      // The record alone carries the state of the second factor.
      expect((await admin().get(`/admin/users/${dan.id}`)).body).toEqual({
        ...res.body,
        mfa: { enabled: false, enrolled_at: null, recovery_codes_left: 0 },
      });
      // New tokens carry the roles.
      const tokens = await loginOk('account-web', 'dan@example.com', PASSWORD);
      expect(decodeJwt(tokens.accessToken).payload.roles).toEqual(['user', 'support']);
      expectError(await admin().patch(`/admin/users/${dan.id}`, { roles: ['bad role'] }), 400, {
        error: 'invalid_request',
        error_description: 'Invalid role name: "bad role".',
      });
      expectError(await admin().patch(`/admin/users/${dan.id}`, { username: 'renamed@example.com' }), 400, {
        error: 'invalid_request',
        error_description: expect.stringContaining('username'),
      });
      expectError(
        await admin().patch('/admin/users/00000000-0000-4000-8000-000000000000', { roles: [] }),
        404,
        NO_SUCH_USER,
      );
      expect((await admin().get(`/admin/users/${dan.id}`)).body.roles).toEqual(['user', 'support']);
    });

    it('PATCH disabled: the user can no longer log in, their refresh and access tokens fail; enabling lets them log in again', async () => {
      const dora = await createUser('dora@example.com');
      const tokens = await loginOk('account-web', 'dora@example.com', PASSWORD);
      expect((await as(tokens.accessToken).get('/account')).status).toBe(200);

      const res = await admin().patch(`/admin/users/${dora.id}`, { disabled: true });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expect.objectContaining({ id: dora.id, disabled: true }));
      expect(Object.keys(res.body).sort()).toEqual([
        'created_at',
        'disabled',
        'email',
        'email_verified',
        'id',
        'metadata',
        'roles',
        'scopes',
        'updated_at',
        'username',
      ]);

      expectError(await login('account-web', 'dora@example.com', PASSWORD), 400, INVALID_GRANT_LOGIN);
      expectError(await refresh('account-web', tokens.refreshToken), 400, INVALID_GRANT_REFRESH);
      expectBearerChallenge(
        await as(tokens.accessToken).get('/account'),
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token has been revoked."`,
        REVOKED,
      );

      stack.clock.advance(SECOND);
      const enabled = await admin().patch(`/admin/users/${dora.id}`, { disabled: false });
      expect(enabled.body.disabled).toBe(false);
      const again = await loginOk('account-web', 'dora@example.com', PASSWORD);
      expect((await as(again.accessToken).get('/account')).status).toBe(200);
      // The old session stays ended.
      expectError(await refresh('account-web', tokens.refreshToken), 400, INVALID_GRANT_REFRESH);
    });

    it('POST /admin/users/:id/password resets the password: old fails, new works, every session ends', async () => {
      const erin = await createUser('erin@example.com');
      const before = await loginOk('account-web', 'erin@example.com', PASSWORD);

      const res = await admin().post(`/admin/users/${erin.id}/password`, { password: NEW_PASSWORD });
      expect({ status: res.status, text: res.text }).toEqual({ status: 204, text: '' });

      expectError(await refresh('account-web', before.refreshToken), 400, INVALID_GRANT_REFRESH);
      expect(await stack.services.revocations.isRevoked(identity(before.accessToken))).toBe(true);
      expectError(await login('account-web', 'erin@example.com', PASSWORD), 400, INVALID_GRANT_LOGIN);
      stack.clock.advance(SECOND);
      const after = await loginOk('account-web', 'erin@example.com', NEW_PASSWORD);
      expect((await as(after.accessToken).get('/account')).status).toBe(200);
      expect(
        (await admin().get(`/admin/users/${erin.id}/sessions`)).body.sessions.map((s: { id: string }) => s.id),
      ).toEqual([after.sid]);
    });

    it('POST /admin/users/:id/password refuses a weak password (400) and an unknown user (404), changing nothing', async () => {
      const finn = await createUser('finn@example.com');
      const tokens = await loginOk('account-web', 'finn@example.com', PASSWORD);
      expectError(await admin().post(`/admin/users/${finn.id}/password`, { password: 'password1' }), 400, {
        error: 'invalid_request',
        error_description: 'Password is too common: it appears in lists of breached passwords.',
      });
      expectError(
        await admin().post(`/admin/users/${finn.id}/password`, { password: NEW_PASSWORD, force: true }),
        400,
        { error: 'invalid_request', error_description: expect.stringContaining('force') },
      );
      expectError(
        await admin().post('/admin/users/00000000-0000-4000-8000-000000000000/password', { password: NEW_PASSWORD }),
        404,
        NO_SUCH_USER,
      );
      expect((await login('account-web', 'finn@example.com', PASSWORD)).status).toBe(200);
      expect((await refresh('account-web', tokens.refreshToken)).status).toBe(200);
    });

    it('GET /admin/users/:id/sessions lists live sessions newest first; ?all=true adds ended ones with the reason', async () => {
      const gwen = await createUser('gwen@example.com');
      const t0 = stack.clock.now();
      const first = await loginOk('account-web', 'gwen@example.com', PASSWORD, { 'User-Agent': 'laptop' });
      stack.clock.advance(MINUTE);
      const second = await loginOk('account-web', 'gwen@example.com', PASSWORD, { 'User-Agent': 'phone' });
      const session = (sid: string, at: number, ua: string) => ({
        id: sid,
        client_id: 'account-web',
        scopes: ['authd:account'],
        created_at: iso(at),
        last_used_at: iso(at),
        expires_at: iso(at + 30 * DAY),
        ip: LOCAL_IP,
        user_agent: ua,
        device: ua,
      });

      const res = await admin().get(`/admin/users/${gwen.id}/sessions`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        sessions: [session(second.sid, t0 + MINUTE, 'phone'), session(first.sid, t0, 'laptop')],
      });

      await request(app)
        .post('/oauth/revoke')
        .type('form')
        .send({ client_id: 'account-web', token: first.refreshToken });
      expect((await admin().get(`/admin/users/${gwen.id}/sessions`)).body).toEqual({
        sessions: [session(second.sid, t0 + MINUTE, 'phone')],
      });
      expect((await admin().get(`/admin/users/${gwen.id}/sessions?all=true`)).body).toEqual({
        sessions: [
          session(second.sid, t0 + MINUTE, 'phone'),
          { ...session(first.sid, t0, 'laptop'), revoked_at: iso(), revoked_reason: 'revoked_by_client' },
        ],
      });
      expectError(await admin().get(`/admin/users/${gwen.id}/sessions?all=yes`), 400, {
        error: 'invalid_request',
        error_description: expect.any(String),
      });
      expectError(await admin().get('/admin/users/00000000-0000-4000-8000-000000000000/sessions'), 404, NO_SUCH_USER);
    });

    it('POST /admin/users/:id/revoke-sessions ends every session: refresh tokens fail and access tokens are revoked', async () => {
      const gus = await createUser('gus@example.com');
      const a = await loginOk('account-web', 'gus@example.com', PASSWORD);
      stack.clock.advance(SECOND);
      const b = await loginOk('account-web', 'gus@example.com', PASSWORD);
      expect(await stack.services.revocations.isRevoked(identity(a.accessToken))).toBe(false);

      const res = await admin().post(`/admin/users/${gus.id}/revoke-sessions`).set('X-Request-Id', 'revoke-gus');
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { revoked_sessions: 2 } });

      for (const t of [a, b]) {
        expect(await stack.services.revocations.isRevoked(identity(t.accessToken))).toBe(true);
        expectError(await refresh('account-web', t.refreshToken), 400, INVALID_GRANT_REFRESH);
      }
      expect((await admin().get(`/admin/users/${gus.id}/sessions`)).body).toEqual({ sessions: [] });
      const [event] = await stack.services.audit.query({ userId: gus.id, types: ['user_sessions_revoked'] });
      expect(event).toEqual(
        expect.objectContaining({
          type: 'user_sessions_revoked',
          requestId: 'revoke-gus',
          details: { actor: root.id, sessions: 2 },
        }),
      );
      // Nothing left to revoke; the admin's own token still works.
      expect((await admin().post(`/admin/users/${gus.id}/revoke-sessions`)).body).toEqual({ revoked_sessions: 0 });
      expectError(await admin().post('/admin/users/nobody/revoke-sessions'), 404, NO_SUCH_USER);
    });

    it('DELETE /admin/users/:id removes the user and their sessions; audit rows with their id remain', async () => {
      const hal = await createUser('hal@example.com');
      const tokens = await loginOk('account-web', 'hal@example.com', PASSWORD);

      const res = await admin().delete(`/admin/users/${hal.id}`).set('X-Request-Id', 'delete-hal');
      expect({ status: res.status, text: res.text }).toEqual({ status: 204, text: '' });

      expectError(await admin().get(`/admin/users/${hal.id}`), 404, NO_SUCH_USER);
      expect(await stack.services.userRepository.findByNormalizedUsername('hal@example.com')).toBeUndefined();
      expect(await stack.services.sessions.listForUser(hal.id, new Date(stack.clock.now()), true)).toEqual([]);
      expect(await stack.services.revocations.isRevoked(identity(tokens.accessToken))).toBe(true);
      expectError(await refresh('account-web', tokens.refreshToken), 400, INVALID_GRANT_REFRESH);
      expectError(await login('account-web', 'hal@example.com', PASSWORD), 400, INVALID_GRANT_LOGIN);

      const events = await stack.services.audit.query({ userId: hal.id });
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['user_created', 'login_succeeded', 'user_deleted']),
      );
      expect(events.every((e) => e.userId === hal.id)).toBe(true);
      expect(events.find((e) => e.type === 'user_deleted')).toEqual(
        expect.objectContaining({ requestId: 'delete-hal', details: { actor: root.id } }),
      );

      expectError(await admin().delete(`/admin/users/${hal.id}`), 404, NO_SUCH_USER);
      // The username is free again.
      expect((await admin().post('/admin/users', { username: 'hal@example.com', password: PASSWORD })).status).toBe(
        201,
      );
    });
  });

  // --- clients -------------------------------------------------------------------------------

  describe('clients', () => {
    const clientBody = (overrides: Record<string, unknown>) => ({
      client_id: expect.any(String),
      name: expect.any(String),
      type: 'public',
      first_party: false,
      introspection: false,
      grant_types: [],
      scopes: [],
      default_scopes: [],
      audience: ISSUER,
      access_token_ttl: null,
      refresh_idle_ttl: null,
      refresh_absolute_ttl: null,
      cookie_mode: false,
      allowed_origins: [],
      redirect_uris: [],
      user_claims: [],
      metadata_claims: [],
      require_mfa: false,
      created_at: iso(),
      updated_at: iso(),
      ...overrides,
    });

    function clientCredentials(id: string, secret: string, scope?: string) {
      return token(
        app,
        { grant_type: 'client_credentials', ...(scope !== undefined && { scope }) },
        { Authorization: basic(id, secret) },
      );
    }

    it('POST /admin/clients creates a confidential client whose secret is shown once and works at the token endpoint', async () => {
      stack.clock.advance(MINUTE);
      const res = await admin().post('/admin/clients', {
        client_id: 'reports',
        name: 'Reports job',
        type: 'confidential',
        grant_types: ['client_credentials'],
        scopes: ['reports:read'],
        default_scopes: ['reports:read'],
        audience: 'https://reports.test',
        access_token_ttl: 300,
      });
      expect(res.status).toBe(201);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(
        clientBody({
          client_id: 'reports',
          name: 'Reports job',
          type: 'confidential',
          grant_types: ['client_credentials'],
          scopes: ['reports:read'],
          default_scopes: ['reports:read'],
          audience: 'https://reports.test',
          access_token_ttl: 300,
          client_secret: expect.stringMatching(/^[\w-]{43}$/),
        }),
      );
      const secret: string = res.body.client_secret;

      const issued = await clientCredentials('reports', secret);
      expect({ status: issued.status, body: issued.body }).toEqual({
        status: 200,
        body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 300, scope: 'reports:read' },
      });
      expect(decodeJwt(issued.body.access_token).payload).toEqual(
        expect.objectContaining({ sub: 'reports', aud: 'https://reports.test' }),
      );

      const one = await admin().get('/admin/clients/reports');
      const { client_secret: _shownOnce, ...withoutSecret } = res.body;
      expect({ status: one.status, body: one.body }).toEqual({ status: 200, body: withoutSecret });
      const list = await admin().get('/admin/clients');
      expect(list.status).toBe(200);
      expect(Object.keys(list.body)).toEqual(['clients']);
      expect(list.body.clients).toEqual(
        expect.arrayContaining([
          withoutSecret,
          expect.objectContaining({ client_id: 'web' }),
          expect.objectContaining({ client_id: 'admin-cli' }),
        ]),
      );
      for (const c of list.body.clients) expect(c).not.toHaveProperty('client_secret');
      for (const text of [one.text, list.text]) {
        expect(text).not.toContain(secret);
        expect(text).not.toMatch(/digest/i);
      }
    });

    it('POST /admin/clients without client_id generates one; a public client gets no secret; a taken id is 409', async () => {
      const res = await admin().post('/admin/clients', {
        name: 'SPA',
        type: 'public',
        first_party: true,
        grant_types: ['password', 'refresh_token'],
        scopes: ['profile'],
        default_scopes: ['profile'],
        redirect_uris: ['https://spa.test/callback'],
        audience: 'https://spa-api.test',
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual(
        clientBody({
          client_id: expect.stringMatching(/^c_[\w-]{16}$/),
          name: 'SPA',
          first_party: true,
          grant_types: ['password', 'refresh_token'],
          scopes: ['profile'],
          default_scopes: ['profile'],
          redirect_uris: ['https://spa.test/callback'],
          audience: 'https://spa-api.test',
        }),
      );
      expect(res.body).not.toHaveProperty('client_secret');
      expect((await login(res.body.client_id, f.alice.username, PASSWORD)).status).toBe(200);

      const taken = await admin().post('/admin/clients', {
        client_id: 'web',
        name: 'Again',
        type: 'public',
        first_party: true,
        grant_types: ['password'],
        audience: 'https://api.test',
      });
      expectError(taken, 409, {
        error: 'invalid_request',
        code: 'client_exists',
        error_description: expect.any(String),
      });
    });

    it.each([
      [
        'the password grant without first_party',
        { type: 'public', grant_types: ['password'] },
        'Invalid client: the password grant is only for first-party clients (--first-party).',
      ],
      [
        'cookie_mode without allowed_origins',
        { type: 'public', first_party: true, grant_types: ['password', 'refresh_token'], cookie_mode: true },
        'Invalid client: cookie mode needs the allowed origins of the web app (CSRF defence).',
      ],
      [
        'client_credentials for a public client',
        { type: 'public', grant_types: ['client_credentials'] },
        'Invalid client: client_credentials needs a confidential client.',
      ],
      [
        'default scopes outside the scopes',
        { type: 'confidential', grant_types: ['client_credentials'], scopes: ['a'], default_scopes: ['b'] },
        'Invalid client: default scopes must be allowed scopes: b.',
      ],
      [
        'an allowed origin with a path',
        {
          type: 'public',
          first_party: true,
          grant_types: ['password', 'refresh_token'],
          cookie_mode: true,
          allowed_origins: ['https://app.test/'],
        },
        'Invalid client: "https://app.test/" is not an origin (scheme://host[:port]).',
      ],
      [
        "a lifetime longer than the server's",
        { type: 'confidential', grant_types: ['client_credentials'], access_token_ttl: 901 },
        "Invalid client: access token lifetime must be between 5 and 900 seconds (the server's setting).",
      ],
      [
        'no audience',
        { type: 'confidential', grant_types: ['client_credentials'], audience: undefined },
        'Invalid client: an audience is required (--audience: the identifier the API that takes its tokens checks in aud).',
      ],
      [
        "the issuer as audience next to a scope that is not authd's",
        {
          type: 'confidential',
          grant_types: ['client_credentials'],
          scopes: ['read', 'authd:admin'],
          audience: ISSUER,
        },
        "Invalid client: the issuer is the audience of authd's own clients only, which may carry only the scopes authd:admin, authd:account: give the API its own audience.",
      ],
    ])('refuses %s with 400 and creates nothing', async (_label, settings, description) => {
      const res = await admin().post('/admin/clients', {
        client_id: 'invalid-one',
        name: 'Invalid',
        audience: 'https://api.test',
        ...settings,
      });
      expectError(res, 400, { error: 'invalid_request', error_description: description });
      expect(await stack.services.clients.findById('invalid-one')).toBeUndefined();
    });

    it.each([
      ['an unknown field', { client_secret: 'chosen-by-me' }, 'client_secret'],
      ['an unknown grant type', { grant_types: ['implicit'] }, 'grant_types'],
      ['a wrong type', { type: 'private' }, 'type'],
      ['a missing name', { name: undefined }, 'name'],
      ['a lifetime that is not a number', { access_token_ttl: '300' }, 'access_token_ttl'],
    ])('refuses %s with 400 (strict schemas)', async (_label, override, mentioned) => {
      const res = await admin().post('/admin/clients', {
        client_id: 'strict-one',
        name: 'Strict',
        type: 'confidential',
        grant_types: ['client_credentials'],
        ...override,
      });
      expectError(res, 400, { error: 'invalid_request', error_description: expect.stringContaining(mentioned) });
      expect(await stack.services.clients.findById('strict-one')).toBeUndefined();
    });

    it('GET /admin/clients/:id of an unknown client is 404', async () => {
      expectError(await admin().get('/admin/clients/nope-nope'), 404, {
        error: 'invalid_request',
        code: 'client_not_found',
        error_description: expect.any(String),
      });
    });

    it('PATCH /admin/clients/:id adds a scope and changes the audience; new tokens carry them', async () => {
      const created = await admin().post('/admin/clients', {
        client_id: 'ledger',
        name: 'Ledger',
        type: 'confidential',
        grant_types: ['client_credentials'],
        scopes: ['ledger:read'],
        default_scopes: ['ledger:read'],
        audience: 'https://ledger.test',
      });
      const secret: string = created.body.client_secret;
      expectError(await clientCredentials('ledger', secret, 'ledger:write'), 400, {
        error: 'invalid_scope',
        error_description: expect.any(String),
      });

      stack.clock.advance(MINUTE);
      const res = await admin().patch('/admin/clients/ledger', {
        scopes: ['ledger:read', 'ledger:write'],
        audience: 'https://ledger-v2.test',
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        clientBody({
          client_id: 'ledger',
          name: 'Ledger',
          type: 'confidential',
          grant_types: ['client_credentials'],
          scopes: ['ledger:read', 'ledger:write'],
          default_scopes: ['ledger:read'],
          audience: 'https://ledger-v2.test',
          created_at: iso(stack.clock.now() - MINUTE),
        }),
      );
      expect((await admin().get('/admin/clients/ledger')).body).toEqual(res.body);

      const issued = await clientCredentials('ledger', secret, 'ledger:write');
      expect(issued.status).toBe(200);
      expect(decodeJwt(issued.body.access_token).payload).toEqual(
        expect.objectContaining({ aud: 'https://ledger-v2.test', scope: 'ledger:write' }),
      );

      // A lifetime override and its reset to the server's default.
      expect((await admin().patch('/admin/clients/ledger', { access_token_ttl: 60 })).body.access_token_ttl).toBe(60);
      expect((await clientCredentials('ledger', secret)).body.expires_in).toBe(60);
      expect(
        (await admin().patch('/admin/clients/ledger', { access_token_ttl: null })).body.access_token_ttl,
      ).toBeNull();
      expect((await clientCredentials('ledger', secret)).body.expires_in).toBe(900);
    });

    it('PATCH refuses a change that would make the client invalid, an unknown field and an unknown client', async () => {
      expectError(await admin().patch('/admin/clients/web', { first_party: false }), 400, {
        error: 'invalid_request',
        error_description: 'Invalid client: the password grant is only for first-party clients (--first-party).',
      });
      expectError(await admin().patch('/admin/clients/web', { cookie_mode: true }), 400, {
        error: 'invalid_request',
        error_description: 'Invalid client: cookie mode needs the allowed origins of the web app (CSRF defence).',
      });
      expectError(await admin().patch('/admin/clients/web', { type: 'confidential' }), 400, {
        error: 'invalid_request',
        error_description: expect.stringContaining('type'),
      });
      expectError(await admin().patch('/admin/clients/web', { client_id: 'renamed' }), 400, {
        error: 'invalid_request',
        error_description: expect.stringContaining('client_id'),
      });
      expectError(await admin().patch('/admin/clients/nope-nope', { name: 'x' }), 404, {
        error: 'invalid_request',
        code: 'client_not_found',
        error_description: expect.any(String),
      });
      const web = await admin().get('/admin/clients/web');
      expect(web.body).toEqual(expect.objectContaining({ first_party: true, cookie_mode: false, type: 'public' }));
    });

    it('POST /admin/clients/:id/rotate-secret: the old secret stops working at once, the new one works', async () => {
      const created = await admin().post('/admin/clients', {
        client_id: 'rotating',
        name: 'Rotating',
        type: 'confidential',
        grant_types: ['client_credentials'],
        audience: 'https://api.test',
      });
      const oldSecret: string = created.body.client_secret;
      expect((await clientCredentials('rotating', oldSecret)).status).toBe(200);

      const res = await admin().post('/admin/clients/rotating/rotate-secret');
      expect({ status: res.status, body: res.body }).toEqual({
        status: 200,
        body: { client_id: 'rotating', client_secret: expect.stringMatching(/^[\w-]{43}$/) },
      });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body.client_secret).not.toBe(oldSecret);

      const old = await clientCredentials('rotating', oldSecret);
      expectError(old, 401, INVALID_CLIENT);
      expect(old.headers['www-authenticate']).toBe('Basic realm="authd", charset="UTF-8"');
      expect((await clientCredentials('rotating', res.body.client_secret)).status).toBe(200);

      expectError(await admin().post('/admin/clients/web/rotate-secret'), 400, {
        error: 'invalid_request',
        code: 'public_client_has_no_secret',
        error_description: expect.any(String),
      });
      expectError(await admin().post('/admin/clients/nope-nope/rotate-secret'), 404, {
        error: 'invalid_request',
        code: 'client_not_found',
        error_description: expect.any(String),
      });
    });

    it('DELETE /admin/clients/:id ends its sessions: its refresh tokens fail and its access tokens are revoked', async () => {
      await admin().post('/admin/clients', {
        client_id: 'doomed',
        name: 'Doomed',
        type: 'public',
        first_party: true,
        grant_types: ['password', 'refresh_token'],
        scopes: ['authd:account'],
        default_scopes: ['authd:account'],
        audience: ISSUER,
      });
      const tokens = await loginOk('doomed', f.alice.username, PASSWORD);
      const other = await loginOk('account-web', f.alice.username, PASSWORD);
      expect((await as(tokens.accessToken).get('/account')).status).toBe(200);

      const res = await admin().delete('/admin/clients/doomed');
      expect({ status: res.status, text: res.text }).toEqual({ status: 204, text: '' });

      expect(await stack.services.revocations.isRevoked(identity(tokens.accessToken))).toBe(true);
      expectBearerChallenge(
        await as(tokens.accessToken).get('/account'),
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token has been revoked."`,
        REVOKED,
      );
      expectError(await refresh('doomed', tokens.refreshToken), 401, INVALID_CLIENT);
      expectError(await admin().get('/admin/clients/doomed'), 404, {
        error: 'invalid_request',
        code: 'client_not_found',
        error_description: expect.any(String),
      });
      expectError(await admin().delete('/admin/clients/doomed'), 404, {
        error: 'invalid_request',
        code: 'client_not_found',
        error_description: expect.any(String),
      });
      // The user's sessions with other clients are untouched.
      expect(await stack.services.revocations.isRevoked(identity(other.accessToken))).toBe(false);
      expect((await refresh('account-web', other.refreshToken)).status).toBe(200);
      const [event] = await stack.services.audit.query({ types: ['client_deleted'] });
      expect(event).toEqual(expect.objectContaining({ clientId: 'doomed', details: { actor: root.id } }));
    });

    it('DELETE /admin/clients/:id also ends its client_credentials tokens (which carry no sid)', async () => {
      // A machine client allowed to administer authd: deleting it is how an operator cuts it off.
      const created = await admin().post('/admin/clients', {
        client_id: 'automation',
        name: 'Automation',
        type: 'confidential',
        grant_types: ['client_credentials'],
        scopes: ['authd:admin'],
        default_scopes: ['authd:admin'],
        audience: ISSUER,
      });
      const issued = await clientCredentials('automation', created.body.client_secret);
      expect(issued.status).toBe(200);
      const machineToken: string = issued.body.access_token;
      expect(decodeJwt(machineToken).payload).toEqual(
        expect.objectContaining({ sub: 'automation', aud: ISSUER, scope: 'authd:admin' }),
      );
      expect((await as(machineToken).get('/admin/keys')).status).toBe(200);

      stack.clock.advance(SECOND);
      expect((await admin().delete('/admin/clients/automation')).status).toBe(204);

      expect(await stack.services.revocations.isRevoked(identity(machineToken))).toBe(true);
      expectBearerChallenge(
        await as(machineToken).get('/admin/keys'),
        401,
        `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token has been revoked."`,
        REVOKED,
      );
    });
  });

  // --- keys ----------------------------------------------------------------------------------

  describe('keys', () => {
    it('GET /admin/keys lists the active key that signs the tokens', async () => {
      const res = await admin().get('/admin/keys');
      expect(res.status).toBe(200);
      const kid = decodeJwt(adminToken).header.kid;
      expect(res.body).toEqual({
        keys: [
          {
            kid,
            state: 'active',
            created_at: expect.any(String),
            activates_at: expect.any(String),
            retires_at: null,
            revoked_at: null,
            private_key: true,
          },
        ],
      });
      expect(res.text).not.toMatch(/PRIVATE KEY|"d":/);
    });

    it('POST /admin/keys/:kid/retire refuses the only active key without force (400) and an unknown kid (404)', async () => {
      const kid = String(decodeJwt(adminToken).header.kid);
      expectError(await admin().post(`/admin/keys/${kid}/retire`, {}), 400, {
        error: 'invalid_request',
        error_description:
          'This is the only active key: run "authd keys rotate" first (or "rotate --immediate" in an emergency), or pass --force to stop signing altogether.',
      });
      expectError(await admin().post(`/admin/keys/${kid}/retire`, { force: 'yes' }), 400, {
        error: 'invalid_request',
        error_description: expect.stringContaining('force'),
      });
      expectError(await admin().post('/admin/keys/no-such-kid/retire', {}), 404, {
        error: 'invalid_request',
        code: 'key_not_found',
        error_description: expect.any(String),
      });
      expect((await admin().get('/admin/keys')).body.keys).toEqual([
        expect.objectContaining({ kid, state: 'active', retires_at: null }),
      ]);
    });

    it('POST /admin/keys/rotate adds a standby key; the current key keeps signing until it activates', async () => {
      const before = (await admin().get('/admin/keys')).body.keys as Array<{ kid: string }>;
      const current = String(decodeJwt(adminToken).header.kid);
      const res = await admin().post('/admin/keys/rotate', {});
      const standbyUntil = iso(stack.clock.now() + (600 + 60) * SECOND);
      expect({ status: res.status, body: res.body }).toEqual({
        status: 201,
        body: { kid: expect.stringMatching(/^[\w-]{43}$/), activates_at: standbyUntil },
      });
      const after = (await admin().get('/admin/keys')).body.keys;
      expect(after).toHaveLength(before.length + 1);
      expect(after).toEqual(
        expect.arrayContaining([
          {
            kid: current,
            state: 'active',
            created_at: expect.any(String),
            activates_at: expect.any(String),
            retires_at: standbyUntil,
            revoked_at: null,
            private_key: true,
          },
          {
            kid: res.body.kid,
            state: 'standby',
            created_at: iso(),
            activates_at: standbyUntil,
            retires_at: null,
            revoked_at: null,
            private_key: true,
          },
        ]),
      );
      // Still signed by the current key.
      const fresh = await loginOk('admin-cli', 'root@example.com', ADMIN_PASSWORD);
      expect(decodeJwt(fresh.accessToken).header.kid).toBe(current);
      // The standby key is published already.
      const jwks = (await request(app).get('/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid);
      expect(jwks).toEqual(expect.arrayContaining([current, res.body.kid]));
    });

    it('POST /admin/keys/rotate {immediate:true}: new tokens carry the new kid; old tokens still verify; the new key is the only active one', async () => {
      const oldToken = adminToken;
      const res = await admin().post('/admin/keys/rotate', { immediate: true });
      expect({ status: res.status, body: res.body }).toEqual({
        status: 201,
        body: { kid: expect.stringMatching(/^[\w-]{43}$/), activates_at: iso() },
      });
      const fresh = await loginOk('admin-cli', 'root@example.com', ADMIN_PASSWORD);
      expect(decodeJwt(fresh.accessToken).header.kid).toBe(res.body.kid);
      expect(decodeJwt(fresh.accessToken).header.kid).not.toBe(decodeJwt(oldToken).header.kid);
      expect((await as(oldToken).get('/admin/keys')).status).toBe(200);

      const keys = (await as(fresh.accessToken).get('/admin/keys')).body.keys as Array<{ kid: string; state: string }>;
      expect(keys.filter((k) => k.state === 'active').map((k) => k.kid)).toEqual([res.body.kid]);
      expect(keys.find((k) => k.kid === decodeJwt(oldToken).header.kid)).toEqual(
        expect.objectContaining({ state: 'retired', retires_at: iso() }),
      );
      expectError(await as(fresh.accessToken).post(`/admin/keys/${res.body.kid}/retire`, {}), 400, {
        error: 'invalid_request',
        code: 'only_active_key',
        error_description: expect.any(String),
      });

      const [event] = await stack.services.audit.query({ types: ['key_rotated'] });
      expect(event).toEqual(
        expect.objectContaining({
          details: { actor: root.id, kid: res.body.kid, activates_at: iso(), immediate: true },
        }),
      );
    });

    it('POST /admin/keys/:kid/retire of a key already retired by an immediate rotation is 400', async () => {
      const previous = String(decodeJwt(adminToken).header.kid);
      const rotated = await admin().post('/admin/keys/rotate', { immediate: true });
      expect(rotated.body.kid).not.toBe(previous);
      expectError(await admin().post(`/admin/keys/${previous}/retire`, {}), 400, {
        error: 'invalid_request',
        code: 'key_already_retired',
        error_description: expect.any(String),
      });
    });

    it('retiring a pending standby key does not leave authd without a signing key when the standby time is over', async () => {
      // rotate schedules the current key to retire when the standby key activates; retiring the
      // standby key (the operator changed their mind) must not leave both keys retired then.
      const current = String(decodeJwt(adminToken).header.kid);
      const rotated = await admin().post('/admin/keys/rotate', {});
      expect(rotated.status).toBe(201);
      const retired = await admin().post(`/admin/keys/${rotated.body.kid}/retire`, {});
      expect(retired.status).toBe(204);
      try {
        stack.clock.advance((600 + 60) * SECOND + SECOND);
        await stack.services.ring.reload();
        const res = await login('admin-cli', 'root@example.com', ADMIN_PASSWORD);
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
        expect(decodeJwt(res.body.access_token).header.kid).toBe(current);
        expect(
          (await admin().get('/admin/keys')).body.keys
            .filter((k: { state: string }) => k.state === 'active')
            .map((k: { kid: string }) => k.kid),
        ).toEqual([current]);
      } finally {
        // Whatever happened, leave a signing key for the tests that follow.
        await rotateSigningKey(stack.services.keyManagement, true);
        await stack.services.ring.reload();
      }
    });
  });

  // --- audit ---------------------------------------------------------------------------------

  describe('audit', () => {
    const auditEvent = (overrides: Record<string, unknown>) => ({
      id: expect.stringMatching(/^\d+$/),
      occurred_at: iso(),
      type: expect.any(String),
      user_id: null,
      client_id: null,
      ip: LOCAL_IP,
      user_agent: null,
      request_id: expect.any(String),
      details: {},
      ...overrides,
    });

    it("GET /admin/audit?type=… returns the admin's actions with the actor, request id and IP", async () => {
      stack.clock.advance(MINUTE);
      const user = await admin()
        .post('/admin/users', { username: 'audited@example.com', password: PASSWORD, roles: ['user'] })
        .set({ 'X-Request-Id': 'audit-user-1', 'User-Agent': 'admin-console/2.0' });
      const client = await admin()
        .post('/admin/clients', {
          client_id: 'audited',
          name: 'Audited',
          type: 'confidential',
          grant_types: ['client_credentials'],
          audience: 'https://api.test',
        })
        .set({ 'X-Request-Id': 'audit-client-1', 'User-Agent': 'admin-console/2.0' });
      expect([user.status, client.status]).toEqual([201, 201]);

      const res = await admin().get('/admin/audit?type=user_created,client_created&limit=1000');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['events', 'next_before']);
      expect(res.body.next_before).toBeNull();
      const events = res.body.events as Array<{ id: string; type: string; request_id: string | null }>;
      expect(new Set(events.map((e) => e.type))).toEqual(new Set(['user_created', 'client_created']));
      const ids = events.map((e) => BigInt(e.id));
      expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));

      expect(events.filter((e) => e.request_id === 'audit-user-1')).toEqual([
        auditEvent({
          type: 'user_created',
          user_id: user.body.id,
          user_agent: 'admin-console/2.0',
          request_id: 'audit-user-1',
          details: { actor: root.id, roles: ['user'], scopes: [] },
        }),
      ]);
      expect(events.filter((e) => e.request_id === 'audit-client-1')).toEqual([
        auditEvent({
          type: 'client_created',
          client_id: 'audited',
          user_agent: 'admin-console/2.0',
          request_id: 'audit-client-1',
          details: { actor: root.id, grant_types: ['client_credentials'], confidential: true },
        }),
      ]);
      // The newest two, with limit=2, are these; next_before pages on.
      const newest = await admin().get('/admin/audit?type=user_created,client_created&limit=2');
      expect(newest.body.events.map((e: { request_id: string }) => e.request_id)).toEqual([
        'audit-client-1',
        'audit-user-1',
      ]);
      expect(newest.body.next_before).toBe(newest.body.events[1].id);
      const older = await admin().get(
        `/admin/audit?type=user_created,client_created&limit=2&before=${newest.body.next_before}`,
      );
      expect(older.body.events.every((e: { id: string }) => BigInt(e.id) < BigInt(newest.body.next_before))).toBe(true);
    });

    it('returns the newest events first: limit=1 is the latest action, and next_before walks back in order', async () => {
      stack.clock.advance(MINUTE);
      // Enough events for ids of different lengths (9 vs 10, 99 vs 100) to exist. (Not root's own
      // roles: taking one away ends the user's access tokens, the admin's included.)
      const churn = await createUser('role-churn@example.com');
      for (let i = 0; i < 12; i++) await admin().patch(`/admin/users/${churn.id}`, { roles: [`r${i}`] });
      const latest = await admin()
        .patch(`/admin/users/${churn.id}`, { roles: [] })
        .set('X-Request-Id', 'the-latest-action');
      expect(latest.status).toBe(200);

      const newest = await admin().get('/admin/audit?limit=1');
      expect(newest.body.events).toEqual([
        auditEvent({
          type: 'user_roles_changed',
          user_id: churn.id,
          request_id: 'the-latest-action',
          details: { actor: root.id, roles: [], removed: ['r11'], tokens_revoked: true },
        }),
      ]);

      const walked: bigint[] = [];
      let before: string | null = null;
      for (let page = 0; page < 500; page++) {
        const res: Response = await admin().get(`/admin/audit?limit=50${before ? `&before=${before}` : ''}`);
        walked.push(...res.body.events.map((e: { id: string }) => BigInt(e.id)));
        before = res.body.next_before;
        if (before === null) break;
      }
      const sorted = [...walked].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
      expect(walked).toEqual(sorted);
      expect(new Set(walked).size).toBe(walked.length);
      expect(walked.length).toBe((await stack.services.audit.query({ limit: 1000 })).length);
    });

    it('filters by user_id and by since/until (until exclusive)', async () => {
      stack.clock.advance(MINUTE);
      const t0 = stack.clock.now();
      const first = await createUser('timeline-1@example.com');
      stack.clock.advance(MINUTE);
      const t1 = stack.clock.now();
      const second = await createUser('timeline-2@example.com');
      await loginOk('account-web', 'timeline-2@example.com', PASSWORD);
      stack.clock.advance(MINUTE);

      const byUser = await admin().get(`/admin/audit?user_id=${second.id}`);
      expect(byUser.body.events.map((e: { type: string }) => e.type)).toEqual(['login_succeeded', 'user_created']);
      expect(byUser.body.events.every((e: { user_id: string }) => e.user_id === second.id)).toBe(true);

      const window = await admin().get(`/admin/audit?type=user_created&since=${iso(t0)}&until=${iso(t1)}`);
      expect(window.body).toEqual({
        events: [
          auditEvent({
            type: 'user_created',
            user_id: first.id,
            occurred_at: iso(t0),
            details: { actor: root.id, roles: [], scopes: ['profile'] },
          }),
        ],
        next_before: null,
      });
      const since = await admin().get(`/admin/audit?type=user_created&since=${iso(t1)}`);
      expect(since.body.events.map((e: { user_id: string }) => e.user_id)).toEqual([second.id]);
      const both = await admin().get(
        `/admin/audit?type=user_created,login_succeeded&since=${iso(t0)}&user_id=${first.id}`,
      );
      expect(both.body.events.map((e: { type: string }) => e.type)).toEqual(['user_created']);
    });

    it.each([
      ['an unknown type', 'type=user_created,nope', 'Unknown event type "nope".'],
      ['a malformed type', 'type=User-Created', expect.any(String)],
      ['a malformed user_id', 'user_id=root', expect.any(String)],
      ['a malformed since', 'since=yesterday', expect.any(String)],
      ['a limit over 1000', 'limit=1001', expect.any(String)],
      ['an unknown parameter', 'order=asc', expect.any(String)],
    ])('refuses %s with 400', async (_label, query, description) => {
      expectError(await admin().get(`/admin/audit?${query}`), 400, {
        error: 'invalid_request',
        error_description: description,
      });
    });
  });
});
