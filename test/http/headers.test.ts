import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, passwordLogin, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Response headers do not depend on storage, so these run on the embedded backend only, through
 * the same openStack + seed as every HTTP test: security headers, caching of token-bearing
 * answers, CORS, X-Forwarded-For under trust proxy, and request ids.
 */

type Response = request.Response;

const embedded = backends().find((b) => b.name === 'embedded')!;
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function openSeeded(
  env: Record<string, string> = {},
): Promise<{ stack: TestStack; f: Fixtures; rs: { id: string; secret: string } }> {
  const stack = await openStack(embedded, env);
  const f = await seed(stack);
  const created = await stack.services.clientService.create({
    id: 'resource-server',
    name: 'RS',
    confidential: true,
    canIntrospect: true,
    grantTypes: [],
    audience: 'https://api.test',
  });
  return { stack, f, rs: { id: 'resource-server', secret: created.secret! } };
}

/** A password login as alice through the public client web, as a supertest request (so headers can be added). */
function login(app: Fixtures['app'], params: Record<string, string> = {}): request.Test {
  return token(app, {
    grant_type: 'password',
    client_id: 'web',
    username: 'alice@example.com',
    password: PASSWORD,
    ...params,
  });
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d{7,}/);
  expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
  expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
  expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers).not.toHaveProperty('x-powered-by');
}

function expectNoStore(res: Response): void {
  expect({ 'cache-control': res.headers['cache-control'], pragma: res.headers.pragma }).toEqual({
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
}

describe('response headers (embedded)', () => {
  let stack: TestStack;
  let f: Fixtures;
  let rs: { id: string; secret: string };

  beforeAll(async () => {
    ({ stack, f, rs } = await openSeeded({ AUTHD_REGISTRATION: 'true' }));
  });
  afterAll(() => stack.close());

  describe('security headers (helmet)', () => {
    it('on a token response', async () => {
      const res = await passwordLogin(f.app);
      expect(res.status).toBe(200);
      expectSecurityHeaders(res);
    });

    it('on an error', async () => {
      const res = await passwordLogin(f.app, { password: 'not the password' });
      expect(res.status).toBe(400);
      expectSecurityHeaders(res);
    });

    it('on a 404', async () => {
      const res = await request(f.app).get('/nope');
      expect(res.status).toBe(404);
      expectSecurityHeaders(res);
    });

    it('on the JWKS', async () => {
      const res = await request(f.app).get('/.well-known/jwks.json');
      expect(res.status).toBe(200);
      expectSecurityHeaders(res);
    });
  });

  describe('Cache-Control: no-store and Pragma: no-cache on every token-bearing answer', () => {
    it('/oauth/token: success of each grant', async () => {
      const login = await passwordLogin(f.app);
      const refreshed = await token(f.app, {
        grant_type: 'refresh_token',
        client_id: 'web',
        refresh_token: login.body.refresh_token,
      });
      const cc = await token(
        f.app,
        { grant_type: 'client_credentials' },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      for (const res of [login, refreshed, cc]) {
        expect(res.status).toBe(200);
        expectNoStore(res);
      }
    });

    it.each<[string, () => request.Test]>([
      ['invalid_grant', () => login(f.app, { password: 'not the password' })],
      [
        'invalid_client',
        () => token(f.app, { grant_type: 'client_credentials' }, { Authorization: basic(f.machine.id, 'wrong') }),
      ],
      ['invalid_request', () => token(f.app, { grant_type: 'password', client_id: 'web' })],
      ['unsupported_grant_type', () => token(f.app, { grant_type: 'urn:nope', client_id: 'web' })],
      ['a malformed JSON body', () => request(f.app).post('/oauth/token').type('json').send('{"grant_type":')],
      ['a body over 16 kB', () => token(f.app, { grant_type: 'password', padding: 'x'.repeat(17 * 1024) })],
    ])('/oauth/token: an error (%s)', async (_label, send) => {
      const res = await send();
      expect(res.status).toBeGreaterThanOrEqual(400);
      expectNoStore(res);
    });

    it('/oauth/revoke: success and error', async () => {
      const { body } = await passwordLogin(f.app);
      const ok = await request(f.app)
        .post('/oauth/revoke')
        .type('form')
        .send({ client_id: 'web', token: body.access_token });
      const refused = await request(f.app).post('/oauth/revoke').type('form').send({ client_id: 'web' });
      expect([ok.status, refused.status]).toEqual([200, 400]);
      expectNoStore(ok);
      expectNoStore(refused);
    });

    it('/oauth/introspect: success and error', async () => {
      const { body } = await passwordLogin(f.app);
      const ok = await request(f.app)
        .post('/oauth/introspect')
        .type('form')
        .set('Authorization', basic(rs.id, rs.secret))
        .send({ token: body.access_token });
      const refused = await request(f.app)
        .post('/oauth/introspect')
        .type('form')
        .set('Authorization', basic(rs.id, 'wrong'))
        .send({ token: body.access_token });
      expect([ok.status, ok.body.active, refused.status]).toEqual([200, true, 401]);
      expectNoStore(ok);
      expectNoStore(refused);
    });

    it('/register: success and error', async () => {
      const ok = await request(f.app)
        .post('/register')
        .type('form')
        .send({ username: 'headers@example.com', password: 'a perfectly fine passphrase' });
      const refused = await request(f.app)
        .post('/register')
        .type('form')
        .send({ username: 'headers2@example.com', password: 'short' });
      expect([ok.status, refused.status]).toEqual([202, 400]);
      expectNoStore(ok);
      expectNoStore(refused);
    });
  });

  describe('CORS with no AUTHD_CORS_ORIGINS', () => {
    it('gives a cross-origin request no Access-Control-Allow-Origin, but varies on Origin', async () => {
      const res = await login(f.app).set('Origin', 'https://app.test');
      expect(res.status).toBe(200);
      expect(res.headers).not.toHaveProperty('access-control-allow-origin');
      expect(res.headers).not.toHaveProperty('access-control-allow-credentials');
      expect(res.headers.vary).toMatch(/\bOrigin\b/);
    });

    it('answers a preflight without any CORS grant', async () => {
      const res = await request(f.app)
        .options('/oauth/token')
        .set('Origin', 'https://app.test')
        .set('Access-Control-Request-Method', 'POST');
      expect(res.headers).not.toHaveProperty('access-control-allow-origin');
      expect(res.headers).not.toHaveProperty('access-control-allow-methods');
    });
  });

  describe('request ids', () => {
    it.each<[string, () => request.Test]>([
      ['a token response', () => login(f.app)],
      ['an error', () => login(f.app, { password: 'nope' })],
      ['a 404', () => request(f.app).get('/nope')],
      ['a 405', () => request(f.app).get('/oauth/token')],
      ['the JWKS', () => request(f.app).get('/.well-known/jwks.json')],
      ['discovery', () => request(f.app).get('/.well-known/openid-configuration')],
      ['readiness', () => request(f.app).get('/health/ready')],
      ['a body-parser error', () => request(f.app).post('/oauth/token').type('json').send('{')],
    ])('every response carries a fresh X-Request-Id: %s', async (_label, send) => {
      const [a, b] = [await send(), await send()];
      expect(a.headers['x-request-id']).toMatch(UUID);
      expect(b.headers['x-request-id']).toMatch(UUID);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });

    it('echoes a sane incoming X-Request-Id and records it in the audit event', async () => {
      const res = await login(f.app).set('X-Request-Id', 'edge-7f3a.42:retry-1');
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toBe('edge-7f3a.42:retry-1');
      const [event] = (await stack.services.audit.query({ types: ['login_succeeded'] })).filter(
        (e) => e.requestId === 'edge-7f3a.42:retry-1',
      );
      expect(event).toMatchObject({
        type: 'login_succeeded',
        userId: f.alice.id,
        clientId: 'web',
        requestId: 'edge-7f3a.42:retry-1',
      });
    });

    it('echoes it on an error too, and records it in the failure event', async () => {
      const res = await login(f.app, { password: 'nope' }).set('X-Request-Id', 'failed-login-1');
      expect(res.status).toBe(400);
      expect(res.headers['x-request-id']).toBe('failed-login-1');
      const events = await stack.services.audit.query({ types: ['login_failed'] });
      expect(events.find((e) => e.requestId === 'failed-login-1')).toMatchObject({
        userId: f.alice.id,
        clientId: 'web',
      });
    });

    it.each([
      ['with spaces', 'has spaces in it'],
      ['too long', 'a'.repeat(129)],
      ['with a quote and angle brackets', '"><script>'],
      ['with a slash', '../../etc/passwd'],
      ['with a comma', 'a,b'],
    ])('replaces an incoming X-Request-Id %s with its own', async (_label, incoming) => {
      const res = await login(f.app).set('X-Request-Id', incoming);
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toMatch(UUID);
      const events = await stack.services.audit.query({ types: ['login_succeeded'] });
      expect(events.some((e) => e.requestId === incoming)).toBe(false);
      expect(events.some((e) => e.requestId === res.headers['x-request-id'])).toBe(true);
    });
  });

  describe('without AUTHD_TRUST_PROXY', () => {
    it('ignores X-Forwarded-For: the session and the audit event record the socket address', async () => {
      const res = await login(f.app).set('X-Forwarded-For', '203.0.113.9').set('X-Request-Id', 'xff-ignored');
      expect(res.status).toBe(200);
      const sid = String(decodeJwt(res.body.access_token).payload.sid);
      const session = (await stack.services.sessions.listForUser(f.alice.id, new Date(stack.clock.now()))).find(
        (s) => s.id === sid,
      );
      expect(session?.ip).toMatch(LOOPBACK);
      const [event] = (await stack.services.audit.query({ types: ['login_succeeded'] })).filter(
        (e) => e.requestId === 'xff-ignored',
      );
      expect(event.ip).toMatch(LOOPBACK);
    });
  });
});

describe('CORS with AUTHD_CORS_ORIGINS (embedded)', () => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    ({ stack, f } = await openSeeded({ AUTHD_CORS_ORIGINS: 'https://app.test' }));
  });
  afterAll(() => stack.close());

  it('grants the configured origin on a token response, with Vary: Origin', async () => {
    const res = await login(f.app).set('Origin', 'https://app.test');
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.test');
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('grants it on an error too, so the app can read the error', async () => {
    const res = await login(f.app, { password: 'nope' }).set('Origin', 'https://app.test');
    expect(res.status).toBe(400);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.test');
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('answers its preflight with 204, the allowed methods and headers, and no body', async () => {
    const res = await request(f.app)
      .options('/oauth/token')
      .set('Origin', 'https://app.test')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.test');
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(res.headers['access-control-allow-headers']).toBe('Authorization, Content-Type');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
    expect(res.text).toBe('');
  });

  it.each([
    ['another origin', 'https://evil.test'],
    ['a sibling subdomain', 'https://x.app.test'],
    ['the same host over http', 'http://app.test'],
    ['the origin with a trailing slash', 'https://app.test/'],
    ['the origin with a port', 'https://app.test:443'],
    ['null', 'null'],
  ])('gives %s no CORS headers, on a request or a preflight', async (_label, origin) => {
    const res = await login(f.app).set('Origin', origin);
    expect(res.status).toBe(200);
    const preflight = await request(f.app)
      .options('/oauth/token')
      .set('Origin', origin)
      .set('Access-Control-Request-Method', 'POST');
    for (const r of [res, preflight]) {
      expect(r.headers).not.toHaveProperty('access-control-allow-origin');
      expect(r.headers).not.toHaveProperty('access-control-allow-methods');
      expect(r.headers).not.toHaveProperty('access-control-allow-credentials');
    }
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
  });
});

describe('AUTHD_TRUST_PROXY (embedded)', () => {
  describe('loopback (the proxy on this host)', () => {
    let stack: TestStack;
    let f: Fixtures;

    beforeAll(async () => {
      ({ stack, f } = await openSeeded({ AUTHD_TRUST_PROXY: 'loopback' }));
    });
    afterAll(() => stack.close());

    it('records the X-Forwarded-For address in the session and in the audit event', async () => {
      const res = await login(f.app)
        .set('X-Forwarded-For', '203.0.113.9')
        .set('User-Agent', 'headers-test/1.0')
        .set('X-Request-Id', 'xff-login');
      expect(res.status).toBe(200);
      const sid = String(decodeJwt(res.body.access_token).payload.sid);
      const session = (await stack.services.sessions.listForUser(f.alice.id, new Date(stack.clock.now()))).find(
        (s) => s.id === sid,
      );
      expect(session).toMatchObject({ ip: '203.0.113.9', userAgent: 'headers-test/1.0' });
      const [event] = (await stack.services.audit.query({ types: ['login_succeeded'] })).filter(
        (e) => e.requestId === 'xff-login',
      );
      expect(event).toMatchObject({
        ip: '203.0.113.9',
        userAgent: 'headers-test/1.0',
        userId: f.alice.id,
        clientId: 'web',
      });
    });

    it('records it on a failed login too', async () => {
      const res = await login(f.app, { password: 'nope' })
        .set('X-Forwarded-For', '198.51.100.23')
        .set('X-Request-Id', 'xff-failed');
      expect(res.status).toBe(400);
      const [event] = (await stack.services.audit.query({ types: ['login_failed'] })).filter(
        (e) => e.requestId === 'xff-failed',
      );
      expect(event.ip).toBe('198.51.100.23');
    });
  });

  describe('a hop count of 1 (one proxy in front)', () => {
    let stack: TestStack;
    let f: Fixtures;

    beforeAll(async () => {
      ({ stack, f } = await openSeeded({ AUTHD_TRUST_PROXY: '1' }));
    });
    afterAll(() => stack.close());

    it('takes the address the proxy appended, not one the client put in front of it', async () => {
      const res = await login(f.app).set('X-Forwarded-For', '203.0.113.9, 198.51.100.7').set('X-Request-Id', 'xff-hop');
      expect(res.status).toBe(200);
      const [event] = (await stack.services.audit.query({ types: ['login_succeeded'] })).filter(
        (e) => e.requestId === 'xff-hop',
      );
      expect(event.ip).toBe('198.51.100.7');
    });
  });
});
