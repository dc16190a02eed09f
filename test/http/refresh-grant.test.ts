import type { Express } from 'express';
import { rotateSigningKey } from '../../src/tokens/key-management';
import { backends, openStack, type Backend, type TestStack } from '../support/backends';
import { basic, decodeJwt, passwordLogin, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

const SECOND = 1000;
const DAY = 86_400 * SECOND;

const INVALID_GRANT = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};
const INVALID_SCOPE = { error: 'invalid_scope', error_description: 'The requested scope exceeds the scope granted.' };
const MISSING_REFRESH_TOKEN = {
  error: 'invalid_request',
  error_description: 'The refresh_token parameter is missing.',
};

/** POST /oauth/token with grant_type=refresh_token for the public client `web`. */
function refresh(app: Express, refreshToken: string, params: Record<string, string> = {}) {
  return token(app, { grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken, ...params });
}

/** A password login as alice on `web`: its refresh token and the session (family) id. */
async function login(app: Express): Promise<{ refreshToken: string; accessToken: string; sid: string }> {
  const res = await passwordLogin(app);
  expect(res.status).toBe(200);
  return {
    refreshToken: res.body.refresh_token,
    accessToken: res.body.access_token,
    sid: String(decodeJwt(res.body.access_token).payload.sid),
  };
}

const claims = (jwt: string) => decodeJwt(jwt).payload;
const kidOf = (jwt: string) => decodeJwt(jwt).header.kid;

async function openSeeded(
  backend: Backend,
  env: Record<string, string> = {},
): Promise<{ stack: TestStack; f: Fixtures }> {
  const stack = await openStack(backend, env);
  return { stack, f: await seed(stack) };
}

/** Unconsumed refresh tokens of a session: a healthy family has exactly one, its head. */
async function liveTokenCount(stack: TestStack, sid: string): Promise<number> {
  const [row] = await stack.services.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1 AND consumed_at IS NULL',
    [sid],
  );
  return row.n;
}

async function isConsumed(stack: TestStack, refreshToken: string): Promise<boolean> {
  const [row] = await stack.services.db.query<{ consumed_at: Date | null }>(
    'SELECT consumed_at FROM refresh_tokens WHERE jti = $1',
    [claims(refreshToken).jti],
  );
  return row.consumed_at !== null;
}

/** Whether access tokens of the session would now be refused (the family's `sid` revocation). */
function sessionRevoked(stack: TestStack, f: Fixtures, sid: string): Promise<boolean> {
  return stack.services.revocations.isRevoked({
    jti: 'x',
    sid,
    sub: f.alice.id,
    iat: Math.floor(stack.clock.now() / 1000),
  });
}

describe.each(backends())('refresh_token grant on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    ({ stack, f } = await openSeeded(backend));
  });
  afterAll(() => stack.close());

  /**
   * Proves a refused token was left unconsumed: past the grace window, a consumed token would
   * revoke its family instead of rotating.
   */
  async function expectStillRefreshes(refreshToken: string): Promise<void> {
    expect(await isConsumed(stack, refreshToken)).toBe(false);
    stack.clock.advance(11 * SECOND);
    const res = await refresh(f.app, refreshToken);
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).not.toBe(refreshToken);
  }

  describe('rotation', () => {
    it('returns a new pair for the same session, with the session scope, uncacheable', async () => {
      const session = await login(f.app);
      stack.clock.advance(60 * SECOND);

      const res = await refresh(f.app, session.refreshToken);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBe('no-cache');
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: expect.any(String),
        scope: 'profile read',
      });
      expect(res.body.refresh_token).not.toBe(session.refreshToken);

      const now = Math.floor(stack.clock.now() / 1000);
      expect(claims(res.body.access_token)).toEqual({
        iss: 'https://authd.test',
        sub: f.alice.id,
        aud: 'https://api.test',
        exp: now + 900,
        iat: now,
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        client_id: 'web',
        scope: 'profile read',
        roles: ['user', 'editor'],
        sid: session.sid,
        // The session's sign-in, a minute ago: a refresh is no new authentication.
        amr: ['pwd'],
        acr: 'aal1',
        auth_time: now - 60,
      });
      expect(decodeJwt(res.body.refresh_token).header).toEqual({
        alg: 'RS256',
        typ: 'rt+jwt',
        kid: kidOf(session.refreshToken),
      });
      expect(claims(res.body.refresh_token)).toEqual({
        iss: 'https://authd.test',
        sub: f.alice.id,
        aud: 'https://authd.test/oauth/token',
        exp: now + 14 * 86_400,
        iat: now,
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        client_id: 'web',
        sid: session.sid,
      });
      expect(claims(res.body.refresh_token).jti).not.toBe(claims(session.refreshToken).jti);
      expect(await liveTokenCount(stack, session.sid)).toBe(1);
    });

    it('revokes the whole family when a rotated token is reused after the grace window', async () => {
      const session = await login(f.app);
      const rotated = await refresh(f.app, session.refreshToken);
      expect(rotated.status).toBe(200);
      expect(await sessionRevoked(stack, f, session.sid)).toBe(false);

      stack.clock.advance(11 * SECOND);
      const reuse = await refresh(f.app, session.refreshToken);
      expect(reuse.status).toBe(400);
      expect(reuse.body).toEqual(INVALID_GRANT);

      const newest = await refresh(f.app, rotated.body.refresh_token);
      expect(newest.status).toBe(400);
      expect(newest.body).toEqual(INVALID_GRANT);
      expect(await sessionRevoked(stack, f, session.sid)).toBe(true);
    });
  });

  describe('reuse inside the grace window', () => {
    it("answers with the family's current refresh token, byte for byte, without forking", async () => {
      const session = await login(f.app);
      const first = await refresh(f.app, session.refreshToken);
      expect(first.status).toBe(200);

      stack.clock.advance(2 * SECOND);
      const retry = await refresh(f.app, session.refreshToken);
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual({ ...first.body, access_token: expect.any(String) });
      expect(retry.body.refresh_token).toBe(first.body.refresh_token);
      expect(claims(retry.body.access_token).sid).toBe(session.sid);
      expect(claims(retry.body.access_token).jti).not.toBe(claims(first.body.access_token).jti);
      expect(await liveTokenCount(stack, session.sid)).toBe(1);

      const next = await refresh(f.app, first.body.refresh_token);
      expect(next.status).toBe(200);
      expect(next.body.refresh_token).not.toBe(first.body.refresh_token);
      expect(await sessionRevoked(stack, f, session.sid)).toBe(false);
    });

    it('treats a token whose child was spent in turn as reuse: T1→T2, T2→T3, then T1 revokes the family', async () => {
      const session = await login(f.app);
      const second = await refresh(f.app, session.refreshToken);
      const third = await refresh(f.app, second.body.refresh_token);
      expect([second.status, third.status]).toEqual([200, 200]);

      stack.clock.advance(2 * SECOND);
      const retry = await refresh(f.app, session.refreshToken);
      expect(retry.status).toBe(400);
      expect(retry.body).toEqual(INVALID_GRANT);
      expect(await sessionRevoked(stack, f, session.sid)).toBe(true);
      const head = await refresh(f.app, third.body.refresh_token);
      expect(head.status).toBe(400);
      expect(head.body).toEqual(INVALID_GRANT);
    });

    it('gives a retried middle token its own child only: T1→T2→T3, then T2 again gets T3', async () => {
      const session = await login(f.app);
      const second = await refresh(f.app, session.refreshToken);
      const third = await refresh(f.app, second.body.refresh_token);

      stack.clock.advance(2 * SECOND);
      const retry = await refresh(f.app, second.body.refresh_token);
      expect(retry.status).toBe(200);
      expect(retry.body.refresh_token).toBe(third.body.refresh_token);
      expect(claims(retry.body.access_token).iat).toBe(Math.floor(stack.clock.now() / 1000));
      expect(await liveTokenCount(stack, session.sid)).toBe(1);
      expect(await sessionRevoked(stack, f, session.sid)).toBe(false);
    });
  });

  describe('concurrency', () => {
    it('rotates one token refreshed ten times at once into exactly one child', async () => {
      const session = await login(f.app);

      const results = await Promise.all(Array.from({ length: 10 }, () => refresh(f.app, session.refreshToken)));
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
      const children = new Set(results.map((r) => r.body.refresh_token));
      expect(children.size).toBe(1);
      const [child] = children;
      expect(child).not.toBe(session.refreshToken);
      expect(await liveTokenCount(stack, session.sid)).toBe(1);

      const next = await refresh(f.app, child);
      expect(next.status).toBe(200);
      expect(claims(next.body.access_token).sid).toBe(session.sid);
      expect(await liveTokenCount(stack, session.sid)).toBe(1);
    });
  });

  describe('scope', () => {
    it('narrows the access token only: the next refresh gets the whole session scope back', async () => {
      const session = await login(f.app);

      const narrowed = await refresh(f.app, session.refreshToken, { scope: 'read' });
      expect(narrowed.status).toBe(200);
      expect(narrowed.body.scope).toBe('read');
      expect(claims(narrowed.body.access_token).scope).toBe('read');

      const widened = await refresh(f.app, narrowed.body.refresh_token);
      expect(widened.status).toBe(200);
      expect(widened.body.scope).toBe('profile read');
      expect(claims(widened.body.access_token).scope).toBe('profile read');
    });

    it.each([
      ['a scope the session lacks (client and user have it)', 'write'],
      ['a scope the session lacks among granted ones', 'read write'],
      ['a scope no one has', 'admin'],
    ])('refuses %s with invalid_scope and leaves the token unconsumed', async (_label, scope) => {
      const session = await login(f.app);
      const res = await refresh(f.app, session.refreshToken, { scope });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(INVALID_SCOPE);
      await expectStillRefreshes(session.refreshToken);
    });
  });

  describe('tokens this client may not refresh, and malformed requests', () => {
    it('refuses a refresh token presented by another client, and leaves it unconsumed', async () => {
      const session = await login(f.app);
      const res = await token(
        f.app,
        { grant_type: 'refresh_token', refresh_token: session.refreshToken },
        { Authorization: basic(f.backend.id, f.backend.secret) },
      );
      expect(res.status).toBe(400);
      expect(res.body).toEqual(INVALID_GRANT);
      await expectStillRefreshes(session.refreshToken);
    });

    it('refuses an access token presented as the refresh token', async () => {
      const session = await login(f.app);
      const res = await refresh(f.app, session.accessToken);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(INVALID_GRANT);
    });

    it('refuses a refresh token with one character of its payload changed', async () => {
      const session = await login(f.app);
      const [header, payload, signature] = session.refreshToken.split('.');
      const i = Math.floor(payload.length / 2);
      const tampered = [
        header,
        payload.slice(0, i) + (payload[i] === 'A' ? 'B' : 'A') + payload.slice(i + 1),
        signature,
      ].join('.');
      const res = await refresh(f.app, tampered);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(INVALID_GRANT);
      await expectStillRefreshes(session.refreshToken);
    });

    it.each(['garbage', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.'])('refuses the string %j', async (garbage) => {
      const res = await refresh(f.app, garbage);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(INVALID_GRANT);
    });

    it.each([
      ['missing', { grant_type: 'refresh_token', client_id: 'web' }],
      ['empty', { grant_type: 'refresh_token', client_id: 'web', refresh_token: '' }],
    ])('answers invalid_request when refresh_token is %s', async (_label, params) => {
      const res = await token(f.app, params);
      expect(res.status).toBe(400);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(MISSING_REFRESH_TOKEN);
    });
  });

  describe('lifetimes', () => {
    it('still refreshes a token one second before its idle lifetime ends', async () => {
      const session = await login(f.app);
      stack.clock.advance(14 * DAY - SECOND);
      expect((await refresh(f.app, session.refreshToken)).status).toBe(200);
    });

    it('refuses a token unused for 14 days and a second', async () => {
      const session = await login(f.app);
      stack.clock.advance(14 * DAY + SECOND);
      const res = await refresh(f.app, session.refreshToken);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(INVALID_GRANT);
    });

    it('ends the family 30 days after login however often it is refreshed, and never issues past that', async () => {
      const session = await login(f.app);
      const endOfSession = Math.floor(stack.clock.now() / 1000) + 30 * 86_400;

      stack.clock.advance(10 * DAY);
      const day10 = await refresh(f.app, session.refreshToken);
      expect(day10.status).toBe(200);
      expect(claims(day10.body.refresh_token).exp).toBe(Math.floor(stack.clock.now() / 1000) + 14 * 86_400);

      stack.clock.advance(10 * DAY);
      const day20 = await refresh(f.app, day10.body.refresh_token);
      expect(day20.status).toBe(200);
      // Idle lifetime would reach day 34: the absolute lifetime caps it.
      expect(claims(day20.body.refresh_token).exp).toBeLessThanOrEqual(endOfSession);
      expect(claims(day20.body.refresh_token).exp).toBe(endOfSession);

      stack.clock.advance(10 * DAY);
      const day30 = await refresh(f.app, day20.body.refresh_token);
      expect(day30.status).toBe(400);
      expect(day30.body).toEqual(INVALID_GRANT);
    });
  });

  describe('signing key rotation', () => {
    it('accepts a refresh token signed by a just-retired key and signs the new pair with the new key', async () => {
      const session = await login(f.app);
      const oldKid = kidOf(session.refreshToken);

      const newKey = await rotateSigningKey(stack.services.keyManagement, true);
      await stack.services.ring.reload();
      expect(newKey.kid).not.toBe(oldKid);

      const res = await refresh(f.app, session.refreshToken);
      expect(res.status).toBe(200);
      expect(kidOf(res.body.access_token)).toBe(newKey.kid);
      expect(kidOf(res.body.refresh_token)).toBe(newKey.kid);
      expect(claims(res.body.access_token).sid).toBe(session.sid);

      expect((await refresh(f.app, res.body.refresh_token)).status).toBe(200);
    });
  });

  // Their own database: these change alice and revoke all her sessions.
  describe('changes to the user', () => {
    let userStack: TestStack;
    let uf: Fixtures;

    beforeAll(async () => {
      ({ stack: userStack, f: uf } = await openSeeded(backend));
    });
    afterAll(() => userStack.close());

    it('refuses a refresh once the user is disabled, and re-enabling does not revive the session', async () => {
      const session = await login(uf.app);
      await userStack.services.users.setDisabled(uf.alice.username, true);
      try {
        const res = await refresh(uf.app, session.refreshToken);
        expect(res.status).toBe(400);
        expect(res.body).toEqual(INVALID_GRANT);
      } finally {
        await userStack.services.users.setDisabled(uf.alice.username, false);
      }
      const afterEnable = await refresh(uf.app, session.refreshToken);
      expect(afterEnable.status).toBe(400);
      expect(afterEnable.body).toEqual(INVALID_GRANT);
    });

    it('re-reads the user on every refresh (disabled in storage, sessions untouched)', async () => {
      const session = await login(uf.app);
      const setDisabled = (disabled: boolean) =>
        userStack.services.userRepository.update(uf.alice.id, { disabled }, new Date(userStack.clock.now()));
      await setDisabled(true);
      try {
        const res = await refresh(uf.app, session.refreshToken);
        expect(res.status).toBe(400);
        expect(res.body).toEqual(INVALID_GRANT);
      } finally {
        await setDisabled(false);
      }
      expect((await refresh(uf.app, session.refreshToken)).status).toBe(200);
    });

    it('drops a scope taken from the user from the next access token', async () => {
      const session = await login(uf.app);
      await userStack.services.users.setScopes(uf.alice.username, ['profile', 'write']);
      const rotated = await refresh(uf.app, session.refreshToken);
      await userStack.services.users.setScopes(uf.alice.username, ['profile', 'read', 'write']);
      expect(rotated.status).toBe(200);
      expect(rotated.body.scope).toBe('profile');
      expect(claims(rotated.body.access_token).scope).toBe('profile');

      const restored = await refresh(uf.app, rotated.body.refresh_token);
      expect(restored.body.scope).toBe('profile read');
    });

    it('ends the session when the password changes', async () => {
      const session = await login(uf.app);
      await userStack.services.users.setPassword(uf.alice.username, 'a new long passphrase 42');
      try {
        const res = await refresh(uf.app, session.refreshToken);
        expect(res.status).toBe(400);
        expect(res.body).toEqual(INVALID_GRANT);
      } finally {
        await userStack.services.users.setPassword(uf.alice.username, PASSWORD);
      }
    });
  });

  describe('with AUTHD_REFRESH_REUSE_GRACE=0', () => {
    let strict: TestStack;
    let sf: Fixtures;

    beforeAll(async () => {
      ({ stack: strict, f: sf } = await openSeeded(backend, { AUTHD_REFRESH_REUSE_GRACE: '0' }));
    });
    afterAll(() => strict.close());

    it('revokes the family on an immediate reuse', async () => {
      const session = await login(sf.app);
      const rotated = await refresh(sf.app, session.refreshToken);
      expect(rotated.status).toBe(200);

      const reuse = await refresh(sf.app, session.refreshToken);
      expect(reuse.status).toBe(400);
      expect(reuse.body).toEqual(INVALID_GRANT);
      expect((await refresh(sf.app, rotated.body.refresh_token)).body).toEqual(INVALID_GRANT);
      expect(await sessionRevoked(strict, sf, session.sid)).toBe(true);
    });

    it('revokes the family on a reuse one millisecond later', async () => {
      const session = await login(sf.app);
      const rotated = await refresh(sf.app, session.refreshToken);
      expect(rotated.status).toBe(200);

      strict.clock.advance(1);
      const reuse = await refresh(sf.app, session.refreshToken);
      expect(reuse.status).toBe(400);
      expect(reuse.body).toEqual(INVALID_GRANT);
      expect((await refresh(sf.app, rotated.body.refresh_token)).body).toEqual(INVALID_GRANT);
    });
  });
});
