import type { Express } from 'express';
import { createLocalJWKSet, jwtVerify } from 'jose';
import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * The token endpoint's edge: client authentication (RFC 6749 §2.3), the error responses of
 * RFC 6749 §5.2, and how the request body is read. The grants themselves have their own suites.
 */

type Response = request.Response;

const BASIC_CHALLENGE = expect.stringMatching(/^Basic realm="[^"]+"/);

/** The one error shape: status, code, exactly two string members, uncacheable, nothing internal. */
function expectOAuthError(res: Response, status: number, error: string): void {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(Object.keys(res.body).sort()).toEqual(['error', 'error_description']);
  expect(res.body.error_description).toEqual(expect.any(String));
  expectNothingInternal(res);
}

/** No stack frames, source paths or module names in what a client can read. */
function expectNothingInternal(res: Response): void {
  expect(res.text).not.toMatch(/\bat \S+ \(|\bat \/|\.[jt]s:\d+|node_modules|\/work\/|\/src\/|Error:/);
}

const basicHeader = (id: string, secret: string) => ({ Authorization: basic(id, secret) });
/** A Basic header around exactly these bytes, encoded or not. */
const basicRaw = (userPass: string) => ({ Authorization: 'Basic ' + Buffer.from(userPass, 'utf8').toString('base64') });
/** Every byte percent-encoded: unusual but valid form-urlencoding, so it must decode to the same. */
const encodeAll = (s: string) =>
  [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');

/** POST /oauth/token with a raw, pre-encoded form body (for what an object cannot express). */
function rawForm(app: Express, body: string, headers: Record<string, string> = {}) {
  return request(app).post('/oauth/token').type('form').set(headers).send(body);
}

/** POST /oauth/token with a JSON body, given as an object or as raw text. */
function json(app: Express, body: object | string, headers: Record<string, string> = {}) {
  return request(app).post('/oauth/token').type('json').set(headers).send(body);
}

describe.each(backends())('token endpoint on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  /** Headers that authenticate `machine` with client_secret_basic. */
  let machineBasic: Record<string, string>;
  /** A confidential client whose id must be form-urlencoded inside Basic (RFC 6749 §2.3.1). */
  let oddClient: { id: string; secret: string };

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    machineBasic = basicHeader(f.machine.id, f.machine.secret);
    const created = await stack.services.clientService.create({
      id: 'a:b.c',
      name: 'Colon in its id',
      confidential: true,
      grantTypes: ['client_credentials'],
      scopes: ['reports'],
      defaultScopes: ['reports'],
      audience: 'https://reports.test',
    });
    oddClient = { id: created.client.id, secret: created.secret! };
  });
  afterAll(() => stack.close());

  /** A password grant for alice, without client authentication. */
  const alicePassword = { grant_type: 'password', username: 'alice@example.com', password: PASSWORD };
  /** The same through the public client `web` (authentication method none). */
  const webLogin = { ...alicePassword, client_id: 'web' };

  describe('client_credentials', () => {
    it('issues an RFC 9068 access token for the client itself, with its default scope and no refresh token', async () => {
      const res = await token(f.app, { grant_type: 'client_credentials' }, machineBasic);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBe('no-cache');
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'invoices:read',
      });

      const jwks = (await request(f.app).get('/.well-known/jwks.json')).body;
      const { payload, protectedHeader } = await jwtVerify(res.body.access_token, createLocalJWKSet(jwks), {
        issuer: 'https://authd.test',
        audience: 'https://billing.test',
        typ: 'at+jwt',
        currentDate: new Date(stack.clock.now()),
      });
      expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: expect.stringMatching(/^[\w-]{43}$/) });
      const now = Math.floor(stack.clock.now() / 1000);
      expect(payload).toEqual({
        iss: 'https://authd.test',
        sub: 'machine',
        aud: 'https://billing.test',
        exp: now + 900,
        iat: now,
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        client_id: 'machine',
        scope: 'invoices:read',
        roles: [],
      });
    });

    it.each([
      ['one allowed scope', 'invoices:write', 'invoices:write'],
      ['every allowed scope', 'invoices:read invoices:write', 'invoices:read invoices:write'],
      ['a repeated scope, once', 'invoices:write invoices:write', 'invoices:write'],
    ])('grants %s when requested', async (_label, scope, granted) => {
      const res = await token(f.app, { grant_type: 'client_credentials', scope }, machineBasic);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        scope: granted,
      });
      expect(decodeJwt(res.body.access_token).payload.scope).toBe(granted);
    });

    it.each([
      ['a scope of another client', 'read'],
      ['an allowed scope with one more', 'invoices:read admin'],
    ])('refuses %s with invalid_scope', async (_label, scope) => {
      const res = await token(f.app, { grant_type: 'client_credentials', scope }, machineBasic);
      expectOAuthError(res, 400, 'invalid_scope');
    });

    it('accepts client_secret_post as well as Basic', async () => {
      const res = await token(f.app, {
        grant_type: 'client_credentials',
        client_id: f.machine.id,
        client_secret: f.machine.secret,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'invoices:read',
      });
    });
  });

  describe('client authentication methods', () => {
    it.each<[string, () => Record<string, string>, () => Record<string, string>]>([
      ['client_secret_basic', () => ({}), () => basicHeader(f.machine.id, f.machine.secret)],
      [
        'client_secret_basic and a lower-case scheme name',
        () => ({}),
        () => ({ Authorization: basic(f.machine.id, f.machine.secret).replace(/^Basic/, 'basic') }),
      ],
      [
        'client_secret_basic and a client_id parameter that agrees',
        () => ({ client_id: f.machine.id }),
        () => basicHeader(f.machine.id, f.machine.secret),
      ],
      [
        'client_secret_basic, id and secret percent-encoded throughout',
        () => ({}),
        () => basicRaw(`${encodeAll(f.machine.id)}:${encodeAll(f.machine.secret)}`),
      ],
    ])('authenticates a confidential client with %s', async (_label, params, headers) => {
      const res = await token(f.app, { grant_type: 'client_credentials', ...params() }, headers());
      expect(res.status).toBe(200);
      expect(decodeJwt(res.body.access_token).payload.client_id).toBe('machine');
    });

    it('decodes a client id that needs form-urlencoding inside Basic (RFC 6749 §2.3.1)', async () => {
      expect(basic(oddClient.id, oddClient.secret)).toBe(
        'Basic ' + Buffer.from(`a%3Ab.c:${oddClient.secret}`).toString('base64'),
      );
      const res = await token(
        f.app,
        { grant_type: 'client_credentials' },
        { Authorization: basic(oddClient.id, oddClient.secret) },
      );
      expect(res.status).toBe(200);
      expect(res.body.scope).toBe('reports');
      expect(decodeJwt(res.body.access_token).payload).toMatchObject({
        sub: 'a:b.c',
        client_id: 'a:b.c',
        aud: 'https://reports.test',
      });
    });

    it('does not guess when the colon in the client id was left unencoded', async () => {
      // "a:b.c:secret" splits at the first colon: client "a" with secret "b.c:secret".
      const res = await token(
        f.app,
        { grant_type: 'client_credentials' },
        basicRaw(`${oddClient.id}:${oddClient.secret}`),
      );
      expectOAuthError(res, 401, 'invalid_client');
      expect(res.headers['www-authenticate']).toEqual(BASIC_CHALLENGE);
    });

    it('authenticates the same client with client_secret_post', async () => {
      const res = await token(f.app, {
        grant_type: 'client_credentials',
        client_id: oddClient.id,
        client_secret: oddClient.secret,
      });
      expect(res.status).toBe(200);
      expect(decodeJwt(res.body.access_token).payload.client_id).toBe('a:b.c');
    });

    it('authenticates a confidential first-party client with client_secret_post on the password grant', async () => {
      const res = await token(f.app, { ...webLogin, client_id: f.backend.id, client_secret: f.backend.secret });
      expect(res.status).toBe(200);
      expect(decodeJwt(res.body.access_token).payload.client_id).toBe('backend');
    });

    it('identifies a public client by client_id alone (none)', async () => {
      const res = await token(f.app, webLogin);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: expect.any(String),
        scope: 'profile read',
      });
      expect(decodeJwt(res.body.access_token).payload.client_id).toBe('web');
    });
  });

  describe('invalid_client', () => {
    const cc = { grant_type: 'client_credentials' };

    // [label, body, headers, whether Basic was used]
    const cases: Array<[string, () => Record<string, string>, () => Record<string, string>, boolean]> = [
      ['an unknown client (Basic)', () => cc, () => basicHeader('nobody', 'secret'), true],
      ['an unknown client (post)', () => ({ ...cc, client_id: 'nobody', client_secret: 'secret' }), () => ({}), false],
      ['an unknown client (none)', () => ({ ...webLogin, client_id: 'nobody' }), () => ({}), false],
      ['an over-long client id (Basic)', () => cc, () => basicHeader('x'.repeat(300), 'secret'), true],
      ['a wrong secret (Basic)', () => cc, () => basicHeader(f.machine.id, f.machine.secret + 'x'), true],
      [
        'a wrong secret (post)',
        () => ({ ...cc, client_id: f.machine.id, client_secret: f.thirdParty.secret }),
        () => ({}),
        false,
      ],
      ['a confidential client sending no secret', () => ({ ...cc, client_id: f.machine.id }), () => ({}), false],
      [
        'a confidential client sending an empty secret (post)',
        () => ({ ...cc, client_id: f.machine.id, client_secret: '' }),
        () => ({}),
        false,
      ],
      ['a confidential client sending an empty secret (Basic)', () => cc, () => basicHeader(f.machine.id, ''), true],
      [
        'a public client sending a secret (post)',
        () => ({ ...webLogin, client_secret: 'anything' }),
        () => ({}),
        false,
      ],
      ['a public client sending a secret (Basic)', () => alicePassword, () => basicHeader('web', 'anything'), true],
      ['no client authentication at all', () => cc, () => ({}), false],
      ['Basic credentials without a colon', () => cc, () => basicRaw('machine'), true],
      ['Basic credentials that are not form-urlencoded', () => cc, () => basicRaw('machine:%E0%A4%A'), true],
      // No client id can hold a NUL byte, so these are unknown clients, not server errors.
      ['a client id holding a NUL byte (none)', () => ({ ...webLogin, client_id: 'we\u0000b' }), () => ({}), false],
      [
        'a client id holding a NUL byte (post)',
        () => ({ ...cc, client_id: 'mach\u0000ine', client_secret: 'secret' }),
        () => ({}),
        false,
      ],
      ['a client id holding a NUL byte (Basic)', () => cc, () => basicHeader('mach\u0000ine', 'secret'), true],
    ];

    it.each(cases)(
      'is 401 for %s, with a Basic challenge only when Basic was used',
      async (_label, body, headers, usedBasic) => {
        const res = await token(f.app, body(), headers());
        expectOAuthError(res, 401, 'invalid_client');
        expect(res.body).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed.' });
        if (usedBasic) expect(res.headers['www-authenticate']).toEqual(BASIC_CHALLENGE);
        else expect(res.headers['www-authenticate']).toBeUndefined();
      },
    );

    it('is 401 for an Authorization header of another scheme (Bearer)', async () => {
      // Not Basic, so read as no client authentication. RFC 6749 §5.2 asks for a challenge "matching
      // the scheme used", which has no sense for Bearer here; the header is left unasserted.
      const res = await token(f.app, cc, { Authorization: 'Bearer abc.def.ghi' });
      expectOAuthError(res, 401, 'invalid_client');
    });

    it('refuses two authentication methods at once (Basic and client_secret) with invalid_request', async () => {
      const res = await token(f.app, { ...cc, client_secret: f.machine.secret }, machineBasic);
      expectOAuthError(res, 400, 'invalid_request');
      expect(res.headers['www-authenticate']).toBeUndefined();
    });

    it('refuses a client_id parameter that contradicts the Basic credentials with invalid_request', async () => {
      const res = await token(f.app, { ...cc, client_id: f.thirdParty.id }, machineBasic);
      expectOAuthError(res, 400, 'invalid_request');
    });
  });

  describe('grant_type', () => {
    it.each([
      ['absent', {}],
      ['empty (treated as absent, RFC 6749 §3.1)', { grant_type: '' }],
      ['too long', { grant_type: 'x'.repeat(300) }],
      ['holding a control character', { grant_type: 'client_credentials\n' }],
    ])('is invalid_request when %s', async (_label, params) => {
      const res = await token(f.app, params, machineBasic);
      expectOAuthError(res, 400, 'invalid_request');
    });

    it.each([
      'authorization_code',
      'implicit',
      'urn:foo',
      'urn:ietf:params:oauth:grant-type:device_code',
      'urn:ietf:params:oauth:grant-type:jwt-bearer',
    ])('answers unsupported_grant_type for %s', async (grantType) => {
      const res = await token(f.app, { grant_type: grantType }, machineBasic);
      expectOAuthError(res, 400, 'unsupported_grant_type');
    });

    it.each<[string, () => Record<string, string>, () => Record<string, string>]>([
      [
        'a public password client asking client_credentials',
        () => ({ grant_type: 'client_credentials', client_id: 'web' }),
        () => ({}),
      ],
      ['a machine client asking password', () => alicePassword, () => machineBasic],
      [
        'a machine client asking refresh_token',
        () => ({ grant_type: 'refresh_token', refresh_token: 'whatever' }),
        () => machineBasic,
      ],
      [
        'a third-party client asking password',
        () => alicePassword,
        () => basicHeader(f.thirdParty.id, f.thirdParty.secret),
      ],
      [
        'a first-party confidential client asking client_credentials',
        () => ({ grant_type: 'client_credentials' }),
        () => basicHeader(f.backend.id, f.backend.secret),
      ],
    ])('answers unauthorized_client for %s', async (_label, params, headers) => {
      const res = await token(f.app, params(), headers());
      expectOAuthError(res, 400, 'unauthorized_client');
    });
  });

  describe('reading the request body', () => {
    it.each([
      ['a repeated grant_type', 'grant_type=client_credentials&grant_type=client_credentials'],
      ['a repeated grant_type with different values', 'grant_type=client_credentials&grant_type=password'],
      ['a repeated scope', 'grant_type=client_credentials&scope=invoices:read&scope=invoices:write'],
    ])('refuses %s with invalid_request (RFC 6749 §3.2)', async (_label, body) => {
      const res = await rawForm(f.app, body, machineBasic);
      expectOAuthError(res, 400, 'invalid_request');
    });

    it('refuses a repeated client_id before trusting either', async () => {
      const res = await rawForm(
        f.app,
        'grant_type=password&client_id=web&client_id=backend&username=alice%40example.com&password=x',
      );
      expectOAuthError(res, 400, 'invalid_request');
    });

    it('accepts a JSON body', async () => {
      const res = await json(f.app, {
        grant_type: 'client_credentials',
        client_id: f.machine.id,
        client_secret: f.machine.secret,
        scope: 'invoices:write',
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'invoices:write',
      });
    });

    it.each<[string, Record<string, unknown>]>([
      ['a number', { client_secret: 12345 }],
      ['a boolean', { scope: true }],
      ['null', { scope: null }],
      ['an array', { scope: ['invoices:read'] }],
      ['an object', { scope: { value: 'invoices:read' } }],
    ])('refuses a JSON parameter that is %s with invalid_request', async (_label, override) => {
      const res = await json(f.app, {
        grant_type: 'client_credentials',
        client_id: f.machine.id,
        client_secret: f.machine.secret,
        ...override,
      });
      expectOAuthError(res, 400, 'invalid_request');
    });

    it.each([
      ['malformed JSON', '{"grant_type": "client_credentials",'],
      ['a JSON string instead of an object', '"grant_type=client_credentials"'],
      ['a JSON array instead of an object', '[["grant_type", "client_credentials"]]'],
    ])('refuses %s with invalid_request', async (_label, body) => {
      const res = await json(f.app, body, machineBasic);
      expectOAuthError(res, 400, 'invalid_request');
    });

    it.each([
      ['text/plain', 'grant_type=client_credentials'],
      ['application/xml', '<grant_type>client_credentials</grant_type>'],
    ])('answers 415 invalid_request to a body of type %s', async (type, body) => {
      const res = await request(f.app).post('/oauth/token').set(machineBasic).set('Content-Type', type).send(body);
      expectOAuthError(res, 415, 'invalid_request');
    });

    it('answers 415 invalid_request to a form body in a charset it cannot read', async () => {
      const res = await request(f.app)
        .post('/oauth/token')
        .set(machineBasic)
        .set('Content-Type', 'application/x-www-form-urlencoded; charset=utf-16')
        .send('grant_type=client_credentials');
      expectOAuthError(res, 415, 'invalid_request');
    });

    it.each([
      [
        'form',
        (app: Express) =>
          token(app, { grant_type: 'client_credentials', padding: 'x'.repeat(17 * 1024) }, machineBasic),
      ],
      [
        'JSON',
        (app: Express) => json(app, { grant_type: 'client_credentials', padding: 'x'.repeat(17 * 1024) }, machineBasic),
      ],
    ])('answers 413 in the OAuth shape to a %s body over 16 kB', async (_label, send) => {
      const res = await send(f.app);
      expectOAuthError(res, 413, 'invalid_request');
    });

    it('answers 413 in the OAuth shape to a form with too many parameters', async () => {
      const body = Array.from({ length: 60 }, (_, i) => `p${i}=x`).join('&');
      const res = await rawForm(f.app, `grant_type=client_credentials&${body}`, machineBasic);
      expectOAuthError(res, 413, 'invalid_request');
    });

    describe('__proto__ and constructor are ordinary, unknown names', () => {
      afterEach(() => {
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.prototype).not.toHaveProperty('polluted');
      });

      it.each([
        ['__proto__=x&constructor=y'],
        ['__proto__%5Bpolluted%5D=yes'],
        ['__proto__[polluted]=yes'],
        ['constructor[prototype][polluted]=yes'],
        ['constructor=function&prototype=yes&hasOwnProperty=no&toString=no'],
      ])('in a form body: %s', async (extra) => {
        const res = await rawForm(f.app, `grant_type=client_credentials&${extra}`, machineBasic);
        expect(res.status).toBe(200);
        expect(res.body.scope).toBe('invoices:read');
      });

      it('in a JSON body, with string values: accepted and ignored', async () => {
        const body = `{"grant_type":"client_credentials","__proto__":"x","constructor":"y","hasOwnProperty":"z"}`;
        const res = await json(f.app, body, machineBasic);
        expect(res.status).toBe(200);
        expect(res.body.scope).toBe('invoices:read');
      });

      it.each([
        ['{"grant_type":"client_credentials","__proto__":{"polluted":"yes"}}'],
        ['{"grant_type":"client_credentials","constructor":{"prototype":{"polluted":"yes"}}}'],
      ])('in a JSON body, with object values: invalid_request (%s)', async (body) => {
        const res = await json(f.app, body, machineBasic);
        expectOAuthError(res, 400, 'invalid_request');
      });

      it('cannot stand in for client authentication or grant_type through the prototype', async () => {
        const res = await json(f.app, '{"__proto__":{"grant_type":"client_credentials","client_id":"web"}}');
        expectOAuthError(res, 400, 'invalid_request');
      });
    });
  });

  describe('routing', () => {
    it.each(['get', 'put', 'delete', 'patch'] as const)(
      'answers %s /oauth/token with 405 and Allow: POST',
      async (method) => {
        const res = await request(f.app)[method]('/oauth/token');
        expectOAuthError(res, 405, 'invalid_request');
        expect(res.headers.allow).toBe('POST');
      },
    );

    it.each([
      ['GET', '/nope'],
      ['POST', '/oauth/tokens'],
      ['GET', '/oauth'],
    ])('answers %s %s with 404 in the OAuth shape', async (method, path) => {
      const res = await request(f.app)[method === 'GET' ? 'get' : 'post'](path);
      expectOAuthError(res, 404, 'invalid_request');
    });
  });

  describe('error responses', () => {
    it('leak neither a stack trace nor a file path even when the request is hostile', async () => {
      const responses = await Promise.all([
        json(f.app, '{"grant_type":', machineBasic),
        json(f.app, '{"grant_type":"client_credentials","scope":"\\u0000"}', machineBasic),
        rawForm(f.app, 'grant_type=%ZZ', machineBasic),
        token(f.app, { grant_type: 'client_credentials', scope: '"><script>' }, machineBasic),
        token(f.app, {
          grant_type: 'password',
          client_id: 'web',
          username: 'alice@example.com',
          password: 'x'.repeat(5000),
        }),
        token(f.app, { grant_type: 'refresh_token', client_id: 'web', refresh_token: 'a.b.c' }),
      ]);
      for (const res of responses) {
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expectOAuthError(res, res.status, res.body.error);
      }
    });
  });
});
