import type { Express } from 'express';
import request from 'supertest';
import { ensureHostedPagesClient } from '../../src/hosted-pages-client';
import { backends, openStack, type Backend, type TestStack } from '../support/backends';
import { decodeJwt, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Cookie mode: a first-party web client gets its refresh token as an HttpOnly authd_rt cookie
 * scoped to /oauth, never in the body; refresh reads it, revoke without a token logs out and
 * clears it; every request of such a client must carry an Origin from its allowedOrigins.
 */

type Response = request.Response;

const APP_ORIGIN = 'https://app.test';
const SECOND = 1000;
const THIRTY_DAYS = 30 * 86400;
const WRONG_ORIGIN = {
  error: 'invalid_request',
  error_description: "The request must come from one of the client's origins.",
};
const INVALID_GRANT_REFRESH = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** The one Set-Cookie of a response, or undefined. */
function setCookies(res: Response): string[] {
  const header = res.headers['set-cookie'] as unknown;
  if (header === undefined) return [];
  // The device cookie a sign-in also sets is test/http/distributed-lockout.test.ts's concern.
  return (Array.isArray(header) ? header : [String(header)]).filter((c: string) => !c.startsWith('authd_device='));
}

/** The refresh token from `authd_rt=<token>; Path=/oauth; Max-Age=…; HttpOnly; SameSite=Strict[; Secure]`. */
function refreshCookie(res: Response, secure = true): string {
  const cookies = setCookies(res);
  expect(cookies).toHaveLength(1);
  const match = /^authd_rt=([^;]*); /.exec(cookies[0]);
  expect(match).not.toBeNull();
  expect(cookies[0]).toBe(
    `authd_rt=${match![1]}; Path=/oauth; Max-Age=${THIRTY_DAYS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
  );
  expect(match![1]).toMatch(JWT);
  return match![1];
}

function expectError(res: Response, status: number, body: Record<string, unknown>): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body });
  expect(res.headers['cache-control']).toBe('no-store');
}

const SPA = {
  id: 'spa',
  name: 'Web app',
  confidential: false,
  firstParty: true,
  grantTypes: ['password', 'refresh_token'],
  scopes: ['profile', 'read'],
  defaultScopes: ['profile'],
  audience: 'https://api.test',
  cookieMode: true,
  allowedOrigins: [APP_ORIGIN],
};

async function openWithSpa(
  backend: Backend,
  env: Record<string, string> = {},
): Promise<{ stack: TestStack; f: Fixtures }> {
  const stack = await openStack(backend, env);
  const f = await seed(stack);
  await stack.services.clientService.create(SPA);
  return { stack, f };
}

describe.each(backends())('cookie mode on $name', (backend) => {
  describe('with an https issuer', () => {
    let stack: TestStack;
    let f: Fixtures;
    let app: Express;

    beforeAll(async () => {
      ({ stack, f } = await openWithSpa(backend));
      app = f.app;
    });
    afterAll(() => stack.close());

    function login(headers: Record<string, string> = { Origin: APP_ORIGIN }) {
      return token(
        app,
        { grant_type: 'password', client_id: 'spa', username: f.alice.username, password: PASSWORD },
        headers,
      );
    }

    async function loginOk() {
      const res = await login();
      expect(res.status).toBe(200);
      return {
        accessToken: res.body.access_token as string,
        cookie: refreshCookie(res),
        sid: String(decodeJwt(res.body.access_token).payload.sid),
      };
    }

    function refreshWithCookie(cookie: string, headers: Record<string, string> = { Origin: APP_ORIGIN }) {
      return token(
        app,
        { grant_type: 'refresh_token', client_id: 'spa' },
        { Cookie: `authd_rt=${cookie}`, ...headers },
      );
    }

    function revoke(params: Record<string, string>, headers: Record<string, string>) {
      return request(app)
        .post('/oauth/revoke')
        .type('form')
        .set(headers)
        .send({ client_id: 'spa', ...params });
    }

    async function isConsumed(refreshToken: string): Promise<boolean> {
      const found = await stack.services.sessions.inspect(
        String(decodeJwt(refreshToken).payload.jti),
        new Date(stack.clock.now()),
      );
      return found!.consumedAt !== null;
    }

    async function accessRevoked(accessToken: string): Promise<boolean> {
      const { payload } = decodeJwt(accessToken);
      return stack.services.revocations.isRevoked({
        jti: String(payload.jti),
        sub: String(payload.sub),
        iat: Number(payload.iat),
        sid: String(payload.sid),
      });
    }

    it('login: the body has no refresh_token; it comes as an HttpOnly, SameSite=Strict, Secure cookie for /oauth only', async () => {
      const res = await login();
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({
        access_token: expect.stringMatching(JWT),
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'profile',
      });
      const cookie = refreshCookie(res);
      const refresh = decodeJwt(cookie);
      expect(refresh.header.typ).toBe('rt+jwt');
      expect(refresh.payload.sid).toBe(decodeJwt(res.body.access_token).payload.sid);
      expect(res.text).not.toContain(cookie);
    });

    it.each([
      ['no Origin', {}],
      ['a foreign Origin', { Origin: 'https://evil.test' }],
      ['a look-alike Origin', { Origin: 'https://app.test.evil.test' }],
      ['an Origin with an explicit port', { Origin: 'https://app.test:443' }],
      ['Origin: null', { Origin: 'null' }],
    ])('login with %s is 403 invalid_request and sets no cookie', async (_label, headers) => {
      const res = await login(headers);
      expectError(res, 403, WRONG_ORIGIN);
      expect(setCookies(res)).toEqual([]);
    });

    it('refresh with only the cookie: 200, no refresh_token in the body, a rotated cookie', async () => {
      const first = await loginOk();
      stack.clock.advance(SECOND);
      const res = await refreshWithCookie(first.cookie);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.stringMatching(JWT),
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'profile',
      });
      const rotated = refreshCookie(res);
      expect(rotated).not.toBe(first.cookie);
      expect(decodeJwt(rotated).payload.sid).toBe(first.sid);
      expect(decodeJwt(res.body.access_token).payload.sid).toBe(first.sid);
      expect(await isConsumed(first.cookie)).toBe(true);

      // The rotated cookie works in turn; the old one, replayed after the grace window, ends the session.
      stack.clock.advance(SECOND);
      const next = await refreshWithCookie(rotated);
      expect(next.status).toBe(200);
      stack.clock.advance(11 * SECOND);
      expectError(await refreshWithCookie(first.cookie), 400, INVALID_GRANT_REFRESH);
      expectError(await refreshWithCookie(refreshCookie(next)), 400, INVALID_GRANT_REFRESH);
    });

    it.each([
      ['a wrong Origin', { Origin: 'https://evil.test' }],
      ['no Origin', {}],
    ])("refresh with %s is 403 invalid_request and the cookie's token is not consumed", async (_label, headers) => {
      const { cookie } = await loginOk();
      const res = await refreshWithCookie(cookie, headers);
      expectError(res, 403, WRONG_ORIGIN);
      expect(setCookies(res)).toEqual([]);
      expect(await isConsumed(cookie)).toBe(false);
      // Past the reuse grace window: only a token that was never consumed still rotates.
      stack.clock.advance(11 * SECOND);
      const ok = await refreshWithCookie(cookie);
      expect(ok.status).toBe(200);
      refreshCookie(ok);
    });

    it('refresh without a cookie (and no refresh_token) is 400 invalid_request', async () => {
      const res = await token(app, { grant_type: 'refresh_token', client_id: 'spa' }, { Origin: APP_ORIGIN });
      expectError(res, 400, { error: 'invalid_request', error_description: 'The refresh_token parameter is missing.' });
      expect(setCookies(res)).toEqual([]);
    });

    it('the cookie means nothing to a client that is not in cookie mode', async () => {
      const { cookie } = await loginOk();
      const res = await token(app, { grant_type: 'refresh_token', client_id: 'web' }, { Cookie: `authd_rt=${cookie}` });
      expectError(res, 400, { error: 'invalid_request', error_description: 'The refresh_token parameter is missing.' });
      expect(await isConsumed(cookie)).toBe(false);
    });

    it('revoke with the cookie and no token logs out: 200, a clearing cookie, the session revoked', async () => {
      const session = await loginOk();
      const res = await revoke({}, { Origin: APP_ORIGIN, Cookie: `authd_rt=${session.cookie}` });
      expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(setCookies(res)).toEqual(['authd_rt=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Strict; Secure']);

      expectError(await refreshWithCookie(session.cookie), 400, INVALID_GRANT_REFRESH);
      expect(await accessRevoked(session.accessToken)).toBe(true);
      const sessions = await stack.services.sessions.listForUser(f.alice.id, new Date(stack.clock.now()), true);
      expect(sessions.find((s) => s.id === session.sid)).toEqual(
        expect.objectContaining({ revokedReason: 'revoked_by_client' }),
      );

      // Logging out again, without a cookie: still 200 and still clearing.
      const again = await revoke({}, { Origin: APP_ORIGIN });
      expect({ status: again.status, text: again.text }).toEqual({ status: 200, text: '' });
      expect(setCookies(again)).toEqual(['authd_rt=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Strict; Secure']);
    });

    it('revoke with a wrong or missing Origin is 403, clears nothing and revokes nothing', async () => {
      const session = await loginOk();
      for (const headers of [{ Origin: 'https://evil.test' }, {}] as Array<Record<string, string>>) {
        const res = await revoke({}, { ...headers, Cookie: `authd_rt=${session.cookie}` });
        expectError(res, 403, WRONG_ORIGIN);
        expect(setCookies(res)).toEqual([]);
      }
      expect(await accessRevoked(session.accessToken)).toBe(false);
      const ok = await refreshWithCookie(session.cookie);
      expect(ok.status).toBe(200);
    });
  });

  describe.each([
    ['http://localhost:3000', false],
    ['http://127.0.0.1:8080', false],
    ['http://auth.example.com', true],
    ['https://auth.example.com', true],
  ])('with AUTHD_ISSUER=%s', (issuer, secure) => {
    let stack: TestStack;
    let f: Fixtures;

    beforeAll(async () => {
      ({ stack, f } = await openWithSpa(backend, { AUTHD_ISSUER: issuer }));
    });
    afterAll(() => stack.close());

    it(`sets and clears the cookie ${secure ? 'with' : 'without'} Secure (only plain-http localhost is relaxed)`, async () => {
      expect(stack.config.secureCookies).toBe(secure);
      const res = await token(
        f.app,
        { grant_type: 'password', client_id: 'spa', username: f.alice.username, password: PASSWORD },
        { Origin: APP_ORIGIN },
      );
      expect(res.status).toBe(200);
      const cookie = refreshCookie(res, secure);
      const refreshed = await token(
        f.app,
        { grant_type: 'refresh_token', client_id: 'spa' },
        { Origin: APP_ORIGIN, Cookie: `authd_rt=${cookie}` },
      );
      expect(refreshed.status).toBe(200);
      const rotated = refreshCookie(refreshed, secure);
      const out = await request(f.app)
        .post('/oauth/revoke')
        .type('form')
        .set({ Origin: APP_ORIGIN, Cookie: `authd_rt=${rotated}` })
        .send({ client_id: 'spa' });
      expect(out.status).toBe(200);
      expect(setCookies(out)).toEqual([
        `authd_rt=; Path=/oauth; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
      ]);
    });
  });

  describe('the hosted pages client', () => {
    it("ensureHostedPagesClient creates authd-pages in cookie mode for the issuer's origin; running it twice is fine", async () => {
      const stack = await openStack(backend);
      try {
        expect(await stack.services.clients.findById('authd-pages')).toBeUndefined();
        await ensureHostedPagesClient(stack.config, stack.services);
        const created = await stack.services.clientService.get('authd-pages');
        expect(created).toEqual({
          id: 'authd-pages',
          name: 'authd account pages',
          confidential: false,
          firstParty: true,
          canIntrospect: false,
          grantTypes: ['password', 'refresh_token'],
          scopes: ['authd:account'],
          defaultScopes: ['authd:account'],
          audience: 'https://authd.test',
          accessTokenTtl: null,
          refreshIdleTtl: null,
          refreshAbsoluteTtl: null,
          cookieMode: true,
          allowedOrigins: ['https://authd.test'],
          redirectUris: [],
          userClaims: [],
          metadataClaims: [],
          requireMfa: false,
          createdAt: new Date(stack.clock.now()),
          updatedAt: new Date(stack.clock.now()),
        });

        stack.clock.advance(SECOND);
        await ensureHostedPagesClient(stack.config, stack.services);
        expect(await stack.services.clientService.get('authd-pages')).toEqual(created);
        expect((await stack.services.clientService.list()).filter((c) => c.id === 'authd-pages')).toHaveLength(1);

        // The pages sign in from the issuer's own origin and use the account API with the token.
        const seeded = await seed(stack);
        const res = await token(
          seeded.app,
          { grant_type: 'password', client_id: 'authd-pages', username: seeded.alice.username, password: PASSWORD },
          { Origin: 'https://authd.test' },
        );
        expect(res.status).toBe(200);
        expect(res.body).not.toHaveProperty('refresh_token');
        refreshCookie(res);
        const account = await request(seeded.app)
          .get('/account')
          .set('Authorization', `Bearer ${res.body.access_token}`);
        expect({ status: account.status, id: account.body.id }).toEqual({ status: 200, id: seeded.alice.id });
        expectError(
          await token(
            seeded.app,
            { grant_type: 'password', client_id: 'authd-pages', username: seeded.alice.username, password: PASSWORD },
            { Origin: APP_ORIGIN },
          ),
          403,
          WRONG_ORIGIN,
        );
      } finally {
        await stack.close();
      }
    });

    it('two instances starting at once both succeed and one client exists', async () => {
      const stack = await openStack(backend, { AUTHD_ISSUER: 'http://localhost:4000/', AUTHD_BRAND_NAME: 'Acme' });
      try {
        await Promise.all([
          ensureHostedPagesClient(stack.config, stack.services),
          ensureHostedPagesClient(stack.config, stack.services),
        ]);
        expect(await stack.services.clientService.get('authd-pages')).toEqual(
          expect.objectContaining({
            name: 'Acme account pages',
            audience: 'http://localhost:4000',
            allowedOrigins: ['http://localhost:4000'],
            cookieMode: true,
          }),
        );
        expect((await stack.services.clientService.list()).filter((c) => c.id === 'authd-pages')).toHaveLength(1);
        // The client both runs agreed on signs in from the issuer's origin.
        const seeded = await seed(stack);
        const res = await token(
          seeded.app,
          { grant_type: 'password', client_id: 'authd-pages', username: seeded.alice.username, password: PASSWORD },
          { Origin: 'http://localhost:4000' },
        );
        expect({ status: res.status, tokenType: res.body.token_type }).toEqual({ status: 200, tokenType: 'Bearer' });
      } finally {
        await stack.close();
      }
    });

    it('does nothing when the hosted pages are off', async () => {
      const stack = await openStack(backend, { AUTHD_HOSTED_PAGES: 'false' });
      try {
        await ensureHostedPagesClient(stack.config, stack.services);
        expect(await stack.services.clients.findById('authd-pages')).toBeUndefined();
      } finally {
        await stack.close();
      }
    });
  });
});
