import crypto from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { durableRevocations, expectDurableRevocation } from '../support/durable-revocations';
import { basic, decodeJwt, PASSWORD, seed, seedResourceServer, token, type Fixtures } from '../support/fixtures';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

const INACTIVE = { active: false };
const INVALID_GRANT = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};
const NOT_YOUR_TOKEN = { error: 'unauthorized_client', error_description: 'The token was not issued to this client.' };
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed.' };
const MISSING_TOKEN = { error: 'invalid_request', error_description: 'The token parameter is missing.' };

interface Login {
  accessToken: string;
  refreshToken: string;
  sid: string;
}

describe.each(backends({ postgresWithoutRedis: true }))('token revocation (RFC 7009) on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  /** The resource server allowed to introspect. */
  let api: { id: string; secret: string };

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
    api = await seedResourceServer(stack);
  });
  afterAll(() => stack.close());

  // --- helpers -------------------------------------------------------------------------------

  function revoke(params: Record<string, string>, headers: Record<string, string> = {}) {
    return request(app).post('/oauth/revoke').type('form').set(headers).send(params);
  }

  /** Revocation by the public client `web`, which authenticates with its client_id alone. */
  function revokeAsWeb(tokenValue: string, hint?: string) {
    return revoke({ client_id: 'web', token: tokenValue, ...(hint !== undefined && { token_type_hint: hint }) });
  }

  async function introspect(tokenValue: string): Promise<Record<string, unknown>> {
    const res = await request(app)
      .post('/oauth/introspect')
      .type('form')
      .set('Authorization', basic(api.id, api.secret))
      .send({ token: tokenValue });
    expect(res.status).toBe(200);
    return res.body;
  }

  async function expectActive(tokenValue: string): Promise<void> {
    expect(await introspect(tokenValue)).toEqual(
      expect.objectContaining({ active: true, jti: decodeJwt(tokenValue).payload.jti }),
    );
  }

  async function expectInactive(tokenValue: string): Promise<void> {
    expect(await introspect(tokenValue)).toEqual(INACTIVE);
  }

  function refreshAsWeb(refreshToken: string) {
    return token(app, { grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken });
  }

  async function refreshOk(refreshToken: string): Promise<Login> {
    const res = await refreshAsWeb(refreshToken);
    expect(res.status).toBe(200);
    return {
      accessToken: res.body.access_token,
      refreshToken: res.body.refresh_token,
      sid: String(decodeJwt(res.body.access_token).payload.sid),
    };
  }

  async function expectRefreshRefused(
    refreshToken: string,
    headers: Record<string, string> = {},
    params: Record<string, string> = { client_id: 'web' },
  ): Promise<void> {
    const res = await token(app, { grant_type: 'refresh_token', refresh_token: refreshToken, ...params }, headers);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(INVALID_GRANT);
  }

  async function login(username = f.alice.username, password = PASSWORD): Promise<Login> {
    const res = await token(app, { grant_type: 'password', client_id: 'web', username, password });
    expect(res.status).toBe(200);
    return {
      accessToken: res.body.access_token,
      refreshToken: res.body.refresh_token,
      sid: String(decodeJwt(res.body.access_token).payload.sid),
    };
  }

  async function loginOnBackend(username = f.alice.username, password = PASSWORD): Promise<Login> {
    const res = await token(
      app,
      { grant_type: 'password', username, password },
      { Authorization: basic(f.backend.id, f.backend.secret) },
    );
    expect(res.status).toBe(200);
    return {
      accessToken: res.body.access_token,
      refreshToken: res.body.refresh_token,
      sid: String(decodeJwt(res.body.access_token).payload.sid),
    };
  }

  const jtiOf = (tokenValue: string) => String(decodeJwt(tokenValue).payload.jti);

  /** The durable row of a revoked access token: kept until its own exp, plus the clock skew. */
  async function expectJtiRevokedDurably(accessToken: string): Promise<void> {
    const { jti, exp } = decodeJwt(accessToken).payload;
    await expectDurableRevocation(stack, 'jti', String(jti), Number(exp) * 1000);
  }

  /** Neither the access token nor its session has a durable revocation row. */
  async function expectNothingRevokedDurably(accessToken: string): Promise<void> {
    const { jti, sid } = decodeJwt(accessToken).payload;
    expect(await durableRevocations(stack, String(jti), ...(sid ? [String(sid)] : []))).toEqual([]);
  }

  /** A user of their own, for tests that revoke everything a user holds. */
  async function newUser(): Promise<{ id: string; username: string }> {
    const username = `user-${crypto.randomBytes(5).toString('hex')}@example.com`;
    const user = await stack.services.users.create({
      username,
      password: PASSWORD,
      roles: ['user'],
      scopes: ['profile', 'read'],
    });
    return { id: user.id, username };
  }

  // --- access tokens -------------------------------------------------------------------------

  describe('revoking an access token', () => {
    it('answers 200 with an empty, uncacheable body; only that access token becomes inactive', async () => {
      const session = await login();
      const sibling = await refreshOk(session.refreshToken); // a second access token of the same session
      await expectActive(session.accessToken);

      const res = await revokeAsWeb(session.accessToken, 'access_token');
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBe('no-cache');

      await expectInactive(session.accessToken);
      await expectActive(sibling.accessToken);
      // The revocation is on record in the database, not only in the Redis index: that jti alone.
      await expectJtiRevokedDurably(session.accessToken);
      await expectNothingRevokedDurably(sibling.accessToken);
      // The session lives on: its refresh token still rotates, and the new access token is active.
      const next = await refreshOk(sibling.refreshToken);
      expect(next.sid).toBe(session.sid);
      await expectActive(next.accessToken);
    });

    it('works without a token_type_hint, and answers 200 again when the token is revoked twice', async () => {
      const session = await login();
      expect((await revokeAsWeb(session.accessToken)).status).toBe(200);
      await expectInactive(session.accessToken);
      const again = await revokeAsWeb(session.accessToken);
      expect(again.status).toBe(200);
      expect(again.text).toBe('');
      await expectInactive(session.accessToken);
      await expectJtiRevokedDurably(session.accessToken); // still one row
    });

    it('accepts a confidential client authenticating with Basic or in the body', async () => {
      const viaBasic = await loginOnBackend();
      const viaPost = await loginOnBackend();
      expect(
        (await revoke({ token: viaBasic.accessToken }, { Authorization: basic(f.backend.id, f.backend.secret) }))
          .status,
      ).toBe(200);
      expect(
        (await revoke({ token: viaPost.accessToken, client_id: f.backend.id, client_secret: f.backend.secret })).status,
      ).toBe(200);
      await expectInactive(viaBasic.accessToken);
      await expectInactive(viaPost.accessToken);
      await expectJtiRevokedDurably(viaBasic.accessToken);
      await expectJtiRevokedDurably(viaPost.accessToken);
    });

    it('lets a machine client revoke its own client_credentials token', async () => {
      const issued = await token(
        app,
        { grant_type: 'client_credentials' },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      expect(issued.status).toBe(200);
      await expectActive(issued.body.access_token);
      const res = await revoke(
        { token: issued.body.access_token },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      expect(res.status).toBe(200);
      await expectInactive(issued.body.access_token);
      await expectJtiRevokedDurably(issued.body.access_token);
    });
  });

  // --- refresh tokens ------------------------------------------------------------------------

  describe('revoking a refresh token', () => {
    it('ends the whole family: no more refreshing, and every access token of the session is inactive at once', async () => {
      const first = await login();
      stack.clock.advance(SECOND);
      const second = await refreshOk(first.refreshToken);
      stack.clock.advance(SECOND);
      const third = await refreshOk(second.refreshToken);
      for (const t of [first, second, third]) await expectActive(t.accessToken);

      const res = await revokeAsWeb(third.refreshToken, 'refresh_token');
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      expect(res.headers['cache-control']).toBe('no-store');

      await expectRefreshRefused(third.refreshToken);
      // Access tokens of the session, those from earlier refreshes included, are inactive immediately.
      for (const t of [first, second, third]) await expectInactive(t.accessToken);
      // One durable row for the session, kept until its last access token has expired; none per jti.
      await expectDurableRevocation(stack, 'sid', third.sid);
      expect(await durableRevocations(stack, ...[first, second, third].map((t) => jtiOf(t.accessToken)))).toEqual([]);
      // Nothing else is touched: another session of the same user is alive.
      const other = await login();
      await expectActive(other.accessToken);
      expect((await refreshAsWeb(other.refreshToken)).status).toBe(200);
    });

    it('ends the family too when the refresh token presented was already rotated', async () => {
      const first = await login();
      const second = await refreshOk(first.refreshToken);
      expect((await revokeAsWeb(first.refreshToken, 'refresh_token')).status).toBe(200);
      await expectRefreshRefused(second.refreshToken);
      await expectInactive(first.accessToken);
      await expectInactive(second.accessToken);
      await expectDurableRevocation(stack, 'sid', first.sid);
    });

    it('is idempotent: revoking the same refresh token again answers 200', async () => {
      const session = await login();
      expect((await revokeAsWeb(session.refreshToken)).status).toBe(200);
      const again = await revokeAsWeb(session.refreshToken, 'refresh_token');
      expect(again.status).toBe(200);
      expect(again.text).toBe('');
      await expectDurableRevocation(stack, 'sid', session.sid);
    });
  });

  describe('token_type_hint is only a hint', () => {
    it('revokes a refresh token sent with token_type_hint=access_token (the family ends)', async () => {
      const session = await login();
      expect((await revokeAsWeb(session.refreshToken, 'access_token')).status).toBe(200);
      await expectRefreshRefused(session.refreshToken);
      await expectInactive(session.accessToken);
      await expectDurableRevocation(stack, 'sid', session.sid);
    });

    it('revokes an access token sent with token_type_hint=refresh_token (the session lives on)', async () => {
      const session = await login();
      expect((await revokeAsWeb(session.accessToken, 'refresh_token')).status).toBe(200);
      await expectInactive(session.accessToken);
      await expectJtiRevokedDurably(session.accessToken);
      expect(await durableRevocations(stack, session.sid)).toEqual([]);
      const next = await refreshOk(session.refreshToken);
      await expectActive(next.accessToken);
    });

    it('ignores a hint it does not know', async () => {
      const session = await login();
      expect((await revokeAsWeb(session.accessToken, 'id_token')).status).toBe(200);
      await expectInactive(session.accessToken);
      await expectJtiRevokedDurably(session.accessToken);
    });
  });

  // --- ownership -----------------------------------------------------------------------------

  describe('a client can revoke only its own tokens', () => {
    it('refuses web revoking an access token of backend (unauthorized_client); the token stays active', async () => {
      const theirs = await loginOnBackend();
      const res = await revokeAsWeb(theirs.accessToken, 'access_token');
      expect(res.status).toBe(400);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(NOT_YOUR_TOKEN);
      await expectActive(theirs.accessToken);
      await expectNothingRevokedDurably(theirs.accessToken);
    });

    it('refuses web revoking a refresh token of backend; the family keeps working', async () => {
      const theirs = await loginOnBackend();
      const res = await revokeAsWeb(theirs.refreshToken, 'refresh_token');
      expect(res.status).toBe(400);
      expect(res.body).toEqual(NOT_YOUR_TOKEN);
      await expectActive(theirs.accessToken);
      await expectNothingRevokedDurably(theirs.accessToken);
      const refreshed = await token(
        app,
        { grant_type: 'refresh_token', refresh_token: theirs.refreshToken },
        { Authorization: basic(f.backend.id, f.backend.secret) },
      );
      expect(refreshed.status).toBe(200);
    });

    it('refuses backend revoking a token of web', async () => {
      const mine = await login();
      const res = await revoke({ token: mine.accessToken }, { Authorization: basic(f.backend.id, f.backend.secret) });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(NOT_YOUR_TOKEN);
      await expectActive(mine.accessToken);
      await expectNothingRevokedDurably(mine.accessToken);
    });
  });

  // --- tokens that need nothing, and malformed requests -------------------------------------

  describe('tokens that need no revocation get the same 200', () => {
    it.each([
      ['an unknown opaque token', () => crypto.randomBytes(32).toString('base64url')],
      ['a malformed JWT', () => 'eyJhbGciOiJSUzI1NiJ9.not-json.sig'],
      ['garbage', () => '!!! not a token !!!'],
    ])('%s', async (_label, make) => {
      const res = await revokeAsWeb(make());
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('an oversized (9000-character) token: RFC 7009 §2.2, invalid tokens cause no error', async () => {
      const session = await login();
      const res = await revokeAsWeb(session.accessToken + 'A'.repeat(9000 - session.accessToken.length));
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      await expectActive(session.accessToken);
      await expectNothingRevokedDurably(session.accessToken);
    });

    it('an expired access token (16 minutes later)', async () => {
      const session = await login();
      stack.clock.advance(16 * MINUTE);
      const res = await revokeAsWeb(session.accessToken, 'access_token');
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      // Its session was not touched: the refresh token still works.
      expect((await refreshAsWeb(session.refreshToken)).status).toBe(200);
      await expectNothingRevokedDurably(session.accessToken);
    });
  });

  describe('malformed requests', () => {
    it('answers 400 invalid_request when the token is missing', async () => {
      const res = await revoke({ client_id: 'web' });
      expect(res.status).toBe(400);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(MISSING_TOKEN);
    });

    it('answers 401 invalid_client without client authentication, and revokes nothing', async () => {
      const session = await login();
      const res = await revoke({ token: session.accessToken });
      expect(res.status).toBe(401);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(INVALID_CLIENT);
      await expectActive(session.accessToken);
      await expectNothingRevokedDurably(session.accessToken);
    });

    it('answers 401 invalid_client with a Basic challenge for a wrong secret, and revokes nothing', async () => {
      const theirs = await loginOnBackend();
      const res = await revoke({ token: theirs.accessToken }, { Authorization: basic(f.backend.id, 'not-the-secret') });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="authd", charset="UTF-8"');
      expect(res.body).toEqual(INVALID_CLIENT);
      await expectActive(theirs.accessToken);
      await expectNothingRevokedDurably(theirs.accessToken);
    });

    it('answers 401 invalid_client for a confidential client sending no secret', async () => {
      const theirs = await loginOnBackend();
      const res = await revoke({ client_id: f.backend.id, token: theirs.accessToken });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(INVALID_CLIENT);
      await expectActive(theirs.accessToken);
      await expectNothingRevokedDurably(theirs.accessToken);
    });

    it('answers 405 to GET, with Allow: POST', async () => {
      const res = await request(app).get('/oauth/revoke').query({ client_id: 'web', token: 'x' });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('POST');
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'Use POST.' });
    });
  });

  // --- reuse detection -----------------------------------------------------------------------

  it('reuse detection feeds revocation: after the grace window, reusing a rotated refresh token kills the family', async () => {
    const first = await login();
    const second = await refreshOk(first.refreshToken);
    await expectActive(first.accessToken);
    await expectActive(second.accessToken);

    stack.clock.advance(11 * SECOND);
    await expectRefreshRefused(first.refreshToken);

    await expectInactive(first.accessToken);
    await expectInactive(second.accessToken);
    await expectDurableRevocation(stack, 'sid', first.sid);
    // The current head of the family is dead too.
    await expectRefreshRefused(second.refreshToken);
  });

  // --- revoke-all ----------------------------------------------------------------------------

  describe('revoking everything of a user', () => {
    /** Two sessions on web, one on backend, and a session-less (no sid) access token from kiosk, all live. */
    async function holdings(username: string) {
      const a = await login(username);
      const b = await login(username);
      const bRefreshed = await refreshOk(b.refreshToken);
      const c = await loginOnBackend(username);
      const kiosk = await token(app, { grant_type: 'password', client_id: 'kiosk', username, password: PASSWORD });
      expect(kiosk.status).toBe(200);
      expect(kiosk.body.refresh_token).toBeUndefined();
      expect(decodeJwt(kiosk.body.access_token).payload.sid).toBeUndefined();
      const access = [
        a.accessToken,
        b.accessToken,
        bRefreshed.accessToken,
        c.accessToken,
        kiosk.body.access_token as string,
      ];
      for (const t of access) await expectActive(t);
      return { access, web: [a.refreshToken, bRefreshed.refreshToken], backend: [c.refreshToken] };
    }

    async function expectAllDead(held: Awaited<ReturnType<typeof holdings>>): Promise<void> {
      for (const t of held.access) await expectInactive(t);
      for (const t of held.web) await expectRefreshRefused(t);
      for (const t of held.backend)
        await expectRefreshRefused(t, { Authorization: basic(f.backend.id, f.backend.secret) }, {});
    }

    async function expectFreshLoginWorks(username: string, password = PASSWORD): Promise<void> {
      // A user's "not before" counts whole seconds: a token from the same second is revoked too.
      stack.clock.advance(SECOND);
      const fresh = await login(username, password);
      await expectActive(fresh.accessToken);
      const next = await refreshOk(fresh.refreshToken);
      await expectActive(next.accessToken);
    }

    it('revoker.revokeUser ends every session and every access token issued so far', async () => {
      const user = await newUser();
      const bystander = await login(); // alice is not affected
      const held = await holdings(user.username);

      const ids = await stack.services.revoker.revokeUser(user.id, 'test');
      expect(ids).toHaveLength(3);
      // On record: the user's not-before, and each of the three sessions.
      await expectDurableRevocation(stack, 'user', user.id);
      for (const sid of ids) await expectDurableRevocation(stack, 'sid', sid);

      await expectAllDead(held);
      await expectActive(bystander.accessToken);
      expect((await refreshAsWeb(bystander.refreshToken)).status).toBe(200);
      await expectFreshLoginWorks(user.username);
    });

    it('applies the user-wide not-before even when the user has no live session', async () => {
      const user = await newUser();
      const session = await login(user.username);
      // The session is revoked by another route first; the user-wide not-before still applies afterwards.
      expect((await revokeAsWeb(session.refreshToken)).status).toBe(200);
      expect(await stack.services.revoker.revokeUser(user.id, 'test')).toEqual([]);
      await expectDurableRevocation(stack, 'user', user.id);
      await expectInactive(session.accessToken);
      await expectFreshLoginWorks(user.username);
    });

    it('changing the password does the same', async () => {
      const user = await newUser();
      const held = await holdings(user.username);
      const newPassword = 'a brand new passphrase for this user';
      await stack.services.users.setPassword(user.username, newPassword);
      await expectDurableRevocation(stack, 'user', user.id);

      await expectAllDead(held);
      const old = await token(app, {
        grant_type: 'password',
        client_id: 'web',
        username: user.username,
        password: PASSWORD,
      });
      expect(old.status).toBe(400);
      await expectFreshLoginWorks(user.username, newPassword);
    });

    it('disabling the user does the same; once enabled again the user can log in afresh', async () => {
      const user = await newUser();
      const held = await holdings(user.username);
      await stack.services.users.setDisabled(user.username, true);
      await expectDurableRevocation(stack, 'user', user.id);

      await expectAllDead(held);
      const refused = await token(app, {
        grant_type: 'password',
        client_id: 'web',
        username: user.username,
        password: PASSWORD,
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_grant');

      await stack.services.users.setDisabled(user.username, false);
      // Enabling brings nothing back.
      await expectAllDead(held);
      await expectFreshLoginWorks(user.username);
    });
  });
});
