import type { Express } from 'express';
import request from 'supertest';
import { expectError } from './expect-error';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/** /account: the bearer token's own user — profile, password, sessions, sign-out. */

type Response = request.Response;

const ISSUER = 'https://authd.test';
const NEW_PASSWORD = 'a fresh and unusual passphrase';
const SECOND = 1000;
const DAY = 86400 * SECOND;
const LOCAL_IP = expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/);

const REVOKED = { error: 'invalid_token', error_description: 'The token has been revoked.' };
const REVOKED_CHALLENGE = `Bearer realm="${ISSUER}", error="invalid_token", error_description="The token has been revoked."`;
const INVALID_GRANT_LOGIN = { error: 'invalid_grant', error_description: 'Invalid username or password.' };
const INVALID_GRANT_REFRESH = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};
const NO_SUCH_SESSION = { error: 'invalid_request', code: 'session_not_found', error_description: expect.any(String) };
const NOT_A_USER = { error: 'access_denied', error_description: 'This token does not belong to a user.' };

interface Login {
  accessToken: string;
  refreshToken: string;
  sid: string;
}

function expectRevoked(res: Response): void {
  expect({ status: res.status, challenge: res.headers['www-authenticate'], body: res.body }).toEqual({
    status: 401,
    challenge: REVOKED_CHALLENGE,
    body: REVOKED,
  });
}

describe.each(backends())('account API on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  let ops: { id: string; secret: string };

  const iso = (ms = stack.clock.now()) => new Date(ms).toISOString();

  function login(clientId: string, username: string, password = PASSWORD, userAgent = 'account-test') {
    return token(app, { grant_type: 'password', client_id: clientId, username, password }, { 'User-Agent': userAgent });
  }

  async function loginOk(username: string, clientId = 'self', userAgent = 'account-test'): Promise<Login> {
    const res = await login(clientId, username, PASSWORD, userAgent);
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
    const sid = decodeJwt(res.body.access_token).payload.sid;
    return {
      accessToken: res.body.access_token,
      refreshToken: res.body.refresh_token,
      sid: sid === undefined ? '' : String(sid),
    };
  }

  function refresh(refreshToken: string, clientId = 'self') {
    return token(app, { grant_type: 'refresh_token', client_id: clientId, refresh_token: refreshToken });
  }

  function as(bearer: string) {
    const auth = (t: request.Test) => t.set('Authorization', `Bearer ${bearer}`);
    return {
      get: (path: string) => auth(request(app).get(path)),
      post: (path: string, body?: object) =>
        body === undefined ? auth(request(app).post(path)) : auth(request(app).post(path)).send(body),
      delete: (path: string) => auth(request(app).delete(path)),
    };
  }

  async function newUser(username: string): Promise<{ id: string; username: string }> {
    const user = await stack.services.users.create({
      username,
      password: PASSWORD,
      roles: ['member'],
      scopes: ['profile'],
    });
    return { id: user.id, username };
  }

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
    // First-party logins for authd itself: audience = the issuer, and the account scope.
    await stack.services.clientService.create({
      id: 'self',
      name: 'Account',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: ISSUER,
    });
    // The same without refresh tokens: its access tokens carry no sid.
    await stack.services.clientService.create({
      id: 'self-kiosk',
      name: 'Kiosk',
      confidential: false,
      firstParty: true,
      grantTypes: ['password'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: ISSUER,
    });
    // A machine client whose tokens are for authd too.
    const created = await stack.services.clientService.create({
      id: 'ops-bot',
      name: 'Ops bot',
      confidential: true,
      grantTypes: ['client_credentials'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: ISSUER,
    });
    ops = { id: 'ops-bot', secret: created.secret! };
  });
  afterAll(() => stack.close());

  it("GET /account returns the token's user: the profile and nothing secret", async () => {
    const alice = await loginOk(f.alice.username);
    const res = await as(alice.accessToken).get('/account');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const user = await stack.services.users.requireUser({ id: f.alice.id });
    expect(res.body).toEqual({
      id: f.alice.id,
      username: 'Alice@Example.com',
      roles: ['user', 'editor'],
      scopes: ['profile', 'read', 'write'],
      disabled: false,
      email: null,
      email_verified: false,
      metadata: {},
      created_at: user.createdAt.toISOString(),
      updated_at: user.updatedAt.toISOString(),
    });
    expect(res.text).not.toContain('$argon2');
    expect(res.text).not.toMatch(/hash|password/i);
  });

  it('GET /account refuses no token (401), a token for another audience (401) and garbage (401)', async () => {
    const none = await request(app).get('/account');
    expect({ status: none.status, challenge: none.headers['www-authenticate'], body: none.body }).toEqual({
      status: 401,
      challenge: `Bearer realm="${ISSUER}"`,
      body: { error: 'unauthorized', error_description: 'Authentication required.' },
    });
    const web = await login('web', f.alice.username);
    const foreign = await as(web.body.access_token).get('/account');
    expect({ status: foreign.status, body: foreign.body }).toEqual({
      status: 401,
      body: { error: 'invalid_token', error_description: 'The token is not meant for authd.' },
    });
    const garbage = await as('a.b.c').get('/account');
    expect({ status: garbage.status, body: garbage.body }).toEqual({
      status: 401,
      body: { error: 'invalid_token', error_description: 'The token is invalid or expired.' },
    });
  });

  it('refuses a client_credentials token for authd on every route with 403: it belongs to no user', async () => {
    const issued = await token(app, { grant_type: 'client_credentials' }, { Authorization: basic(ops.id, ops.secret) });
    expect(issued.status).toBe(200);
    const machine: string = issued.body.access_token;
    expect(decodeJwt(machine).payload).toEqual(expect.objectContaining({ sub: 'ops-bot', aud: ISSUER }));
    expect(decodeJwt(machine).payload).not.toHaveProperty('sid');

    expectError(await as(machine).get('/account'), 403, NOT_A_USER);
    expectError(await as(machine).get('/account/sessions'), 403, NOT_A_USER);
    expectError(
      await as(machine).post('/account/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }),
      403,
      NOT_A_USER,
    );
    expectError(await as(machine).delete('/account/sessions/00000000-0000-4000-8000-000000000000'), 403, NOT_A_USER);
    expectError(await as(machine).post('/account/logout-all'), 403, NOT_A_USER);
  });

  it("refuses a client_credentials token even when the client id looks like a user's id (403, nothing changed)", async () => {
    // Client ids may be UUID-shaped, and a machine token's sub is its client id: it must not pass for that user.
    const victim = await newUser('victim@example.com');
    const session = await loginOk(victim.username);
    const created = await stack.services.clientService.create({
      id: victim.id,
      name: 'Look-alike',
      confidential: true,
      grantTypes: ['client_credentials'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: ISSUER,
    });
    const issued = await token(
      app,
      { grant_type: 'client_credentials' },
      { Authorization: basic(victim.id, created.secret!) },
    );
    expect(issued.status).toBe(200);
    const machine: string = issued.body.access_token;
    expect(decodeJwt(machine).payload).toEqual(
      expect.objectContaining({ sub: victim.id, client_id: victim.id, aud: ISSUER }),
    );

    expectError(await as(machine).get('/account'), 403, NOT_A_USER);
    expectError(await as(machine).get('/account/sessions'), 403, NOT_A_USER);
    expectError(await as(machine).post('/account/logout-all'), 403, NOT_A_USER);
    expect((await as(session.accessToken).get('/account')).status).toBe(200);
    expect((await refresh(session.refreshToken)).status).toBe(200);
  });

  describe('POST /account/password', () => {
    it('refuses a wrong current password with 400 and changes nothing', async () => {
      const dave = await newUser('dave@example.com');
      const current = await loginOk(dave.username);
      const other = await loginOk(dave.username);

      const res = await as(current.accessToken).post('/account/password', {
        current_password: 'not my password at all',
        new_password: NEW_PASSWORD,
      });
      expectError(res, 400, {
        error: 'invalid_request',
        code: 'wrong_password',
        error_description: expect.any(String),
      });

      expectError(await login('self', dave.username, NEW_PASSWORD), 400, INVALID_GRANT_LOGIN);
      expect((await login('self', dave.username, PASSWORD)).status).toBe(200);
      expect((await as(other.accessToken).get('/account')).status).toBe(200);
      expect((await refresh(other.refreshToken)).status).toBe(200);
      expect((await refresh(current.refreshToken)).status).toBe(200);
      expect(await stack.services.audit.query({ userId: dave.id, types: ['user_password_changed'] })).toEqual([]);
    });

    it.each([
      ['a breached new password', 'password123', 'Password is too common: it appears in lists of breached passwords.'],
      ['a short new password', 'short', 'Password must be at least 8 characters.'],
    ])('refuses %s with 400 and changes nothing', async (_label, weak, description) => {
      const user = await newUser(`weak-${weak}@example.com`);
      const current = await loginOk(user.username);
      const other = await loginOk(user.username);
      expectError(
        await as(current.accessToken).post('/account/password', { current_password: PASSWORD, new_password: weak }),
        400,
        { error: 'invalid_request', code: 'weak_password', error_description: description },
      );
      expect((await login('self', user.username, PASSWORD)).status).toBe(200);
      expect((await refresh(other.refreshToken)).status).toBe(200);
    });

    it('refuses a body with unknown or missing fields with 400', async () => {
      const alice = await loginOk(f.alice.username);
      expectError(
        await as(alice.accessToken).post('/account/password', {
          current_password: PASSWORD,
          new_password: NEW_PASSWORD,
          user_id: f.alice.id,
        }),
        400,
        { error: 'invalid_request', error_description: expect.stringContaining('user_id') },
      );
      expectError(await as(alice.accessToken).post('/account/password', { new_password: NEW_PASSWORD }), 400, {
        error: 'invalid_request',
        error_description: expect.stringMatching(/^current_password: /),
      });
      expect((await login('self', f.alice.username, PASSWORD)).status).toBe(200);
    });

    it('changes the password and revokes the OTHER sessions only; the current session keeps working', async () => {
      const carol = await newUser('carol@example.com');
      const current = await loginOk(carol.username);
      const second = await loginOk(carol.username);
      const third = await loginOk(carol.username, 'web');
      const kiosk = await loginOk(carol.username, 'self-kiosk');
      expect(kiosk.sid).toBe('');

      const res = await as(current.accessToken).post('/account/password', {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
      });
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { revoked_sessions: 2 } });
      expect(res.headers['cache-control']).toBe('no-store');

      // The other sessions: refresh tokens refused, access tokens revoked.
      for (const [other, clientId] of [
        [second, 'self'],
        [third, 'web'],
      ] as const) {
        expectError(await refresh(other.refreshToken, clientId), 400, INVALID_GRANT_REFRESH);
        expect(
          await stack.services.revocations.isRevoked({
            jti: String(decodeJwt(other.accessToken).payload.jti),
            sub: carol.id,
            iat: Number(decodeJwt(other.accessToken).payload.iat),
            sid: other.sid,
          }),
        ).toBe(true);
      }
      expectRevoked(await as(second.accessToken).get('/account'));

      // The current session: its access token and its refresh token still work.
      expect((await as(current.accessToken).get('/account')).status).toBe(200);
      const rotated = await refresh(current.refreshToken);
      expect(rotated.status).toBe(200);
      expect(decodeJwt(rotated.body.access_token).payload.sid).toBe(current.sid);
      expect((await as(rotated.body.access_token).get('/account')).status).toBe(200);
      expect(
        (await as(current.accessToken).get('/account/sessions')).body.sessions.map((s: { id: string }) => s.id),
      ).toEqual([current.sid]);

      // The password itself.
      expectError(await login('self', carol.username, PASSWORD), 400, INVALID_GRANT_LOGIN);
      expect((await login('self', carol.username, NEW_PASSWORD)).status).toBe(200);
      const [event] = await stack.services.audit.query({ userId: carol.id, types: ['user_password_changed'] });
      expect(event).toEqual(expect.objectContaining({ details: { actor: carol.id, via: 'account' } }));
    });

    it('is throttled like a login: after repeated wrong current passwords even the right one gets 429', async () => {
      const gail = await newUser('gail@example.com');
      const current = await loginOk(gail.username);
      for (let i = 0; i < 5; i++) {
        const res = await as(current.accessToken).post('/account/password', {
          current_password: `wrong guess ${i}`,
          new_password: NEW_PASSWORD,
        });
        expect(res.status).toBe(400);
      }
      const locked = await as(current.accessToken).post('/account/password', {
        current_password: PASSWORD,
        new_password: NEW_PASSWORD,
      });
      expectError(locked, 429, {
        error: 'temporarily_unavailable',
        code: 'too_many_attempts',
        error_description: 'Too many failed attempts; try again in 60 seconds.',
      });
      expect(locked.headers['retry-after']).toBe('60');
      stack.clock.advance(61 * SECOND);
      expect(
        (
          await as(current.accessToken).post('/account/password', {
            current_password: PASSWORD,
            new_password: NEW_PASSWORD,
          })
        ).status,
      ).toBe(200);
    });
  });

  describe('sessions', () => {
    it("GET /account/sessions lists the user's live sessions, newest first, exactly the current one marked", async () => {
      const erin = await newUser('erin@example.com');
      const t0 = stack.clock.now();
      const first = await loginOk(erin.username, 'self', 'laptop');
      stack.clock.advance(SECOND);
      const second = await loginOk(erin.username, 'web', 'phone');
      stack.clock.advance(SECOND);
      const third = await loginOk(erin.username, 'self', 'tablet');
      const session = (sid: string, clientId: string, at: number, ua: string, current: boolean) => ({
        id: sid,
        client_id: clientId,
        scopes: clientId === 'web' ? ['profile'] : ['authd:account'],
        created_at: iso(at),
        last_used_at: iso(at),
        expires_at: iso(at + 30 * DAY),
        ip: LOCAL_IP,
        user_agent: ua,
        device: ua,
        current,
      });

      const res = await as(first.accessToken).get('/account/sessions');
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({
        sessions: [
          session(third.sid, 'self', t0 + 2 * SECOND, 'tablet', false),
          session(second.sid, 'web', t0 + SECOND, 'phone', false),
          session(first.sid, 'self', t0, 'laptop', true),
        ],
      });
      const fromThird = await as(third.accessToken).get('/account/sessions');
      expect(
        fromThird.body.sessions.filter((s: { current: boolean }) => s.current).map((s: { id: string }) => s.id),
      ).toEqual([third.sid]);

      // A refresh keeps the session (and the mark) and moves last_used_at.
      stack.clock.advance(SECOND);
      const rotated = await refresh(first.refreshToken);
      const after = await as(rotated.body.access_token).get('/account/sessions');
      expect(after.body.sessions[2]).toEqual({
        ...session(first.sid, 'self', t0, 'laptop', true),
        last_used_at: iso(),
      });

      // A token without a session (a client without refresh tokens) marks none.
      const kiosk = await loginOk(erin.username, 'self-kiosk');
      const none = await as(kiosk.accessToken).get('/account/sessions');
      expect(none.body.sessions).toHaveLength(3);
      expect(none.body.sessions.every((s: { current: boolean }) => s.current === false)).toBe(true);
    });

    it('DELETE /account/sessions/:id revokes another own session (204): its refresh and access tokens stop working', async () => {
      const finn = await newUser('finn@example.com');
      const current = await loginOk(finn.username);
      const other = await loginOk(finn.username);

      const res = await as(current.accessToken)
        .delete(`/account/sessions/${other.sid}`)
        .set('X-Request-Id', 'kill-other');
      expect({ status: res.status, text: res.text }).toEqual({ status: 204, text: '' });

      expectError(await refresh(other.refreshToken), 400, INVALID_GRANT_REFRESH);
      expectRevoked(await as(other.accessToken).get('/account'));
      const listed = await as(current.accessToken).get('/account/sessions');
      expect(listed.body.sessions.map((s: { id: string }) => s.id)).toEqual([current.sid]);
      expect((await refresh(current.refreshToken)).status).toBe(200);
      const [event] = await stack.services.audit.query({ userId: finn.id, types: ['session_revoked'] });
      expect(event).toEqual(
        expect.objectContaining({
          requestId: 'kill-other',
          details: { actor: finn.id, sid: other.sid, reason: 'revoked_by_user' },
        }),
      );

      // Already revoked: no longer one of the user's live sessions.
      expectError(await as(current.accessToken).delete(`/account/sessions/${other.sid}`), 404, NO_SUCH_SESSION);
    });

    it("DELETE /account/sessions/:id of another user's session is 404 and leaves it alone", async () => {
      const gina = await newUser('gina@example.com');
      const hank = await newUser('hank@example.com');
      const ginas = await loginOk(gina.username);
      const hanks = await loginOk(hank.username);

      expectError(await as(ginas.accessToken).delete(`/account/sessions/${hanks.sid}`), 404, NO_SUCH_SESSION);
      expectError(
        await as(ginas.accessToken).delete('/account/sessions/00000000-0000-4000-8000-000000000000'),
        404,
        NO_SUCH_SESSION,
      );
      expectError(await as(ginas.accessToken).delete('/account/sessions/not-a-uuid'), 404, NO_SUCH_SESSION);

      expect((await as(hanks.accessToken).get('/account')).status).toBe(200);
      expect((await refresh(hanks.refreshToken)).status).toBe(200);
    });

    it('DELETE /account/sessions/:id of the current session signs this session out', async () => {
      const ivy = await newUser('ivy@example.com');
      const current = await loginOk(ivy.username);
      expect((await as(current.accessToken).delete(`/account/sessions/${current.sid}`)).status).toBe(204);
      expectRevoked(await as(current.accessToken).get('/account'));
      expectError(await refresh(current.refreshToken), 400, INVALID_GRANT_REFRESH);
    });

    it('POST /account/logout-all revokes every session and token, the current access token included', async () => {
      const jack = await newUser('jack@example.com');
      const current = await loginOk(jack.username);
      const other = await loginOk(jack.username, 'web');
      const kiosk = await loginOk(jack.username, 'self-kiosk');

      const res = await as(current.accessToken).post('/account/logout-all');
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { revoked_sessions: 2 } });

      expectRevoked(await as(current.accessToken).get('/account'));
      expectRevoked(await as(kiosk.accessToken).get('/account'));
      expectError(await refresh(current.refreshToken), 400, INVALID_GRANT_REFRESH);
      expectError(await refresh(other.refreshToken, 'web'), 400, INVALID_GRANT_REFRESH);
      expect(await stack.services.sessions.listForUser(jack.id, new Date(stack.clock.now()))).toEqual([]);
      const [event] = await stack.services.audit.query({ userId: jack.id, types: ['user_sessions_revoked'] });
      expect(event).toEqual(expect.objectContaining({ details: { actor: jack.id, sessions: 2, by: 'user' } }));

      // Signing in again later works.
      stack.clock.advance(SECOND);
      const again = await loginOk(jack.username);
      expect((await as(again.accessToken).get('/account')).status).toBe(200);
    });
  });
});
