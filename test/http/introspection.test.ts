import crypto from 'node:crypto';
import type { Express } from 'express';
import { exportJWK, SignJWT, type JWTPayload } from 'jose';
import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { expectDurableRevocation } from '../support/durable-revocations';
import { basic, decodeJwt, PASSWORD, seed, seedResourceServer, token, type Fixtures } from '../support/fixtures';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const ISSUER = 'https://authd.test';

const INACTIVE = { active: false };
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed.' };
const MAY_NOT_INTROSPECT = { error: 'unauthorized_client', error_description: 'The client may not introspect tokens.' };
const BASIC_CHALLENGE = 'Basic realm="authd", charset="UTF-8"';

const b64url = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe.each(backends({ postgresWithoutRedis: true }))('token introspection (RFC 7662) on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  let api: { id: string; secret: string };

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
    api = await seedResourceServer(stack);
  });
  afterAll(() => stack.close());

  // --- helpers -------------------------------------------------------------------------------

  const nowSeconds = () => Math.floor(stack.clock.now() / 1000);

  function introspectRequest(
    params: Record<string, string>,
    headers: Record<string, string> = { Authorization: basic(api.id, api.secret) },
  ) {
    return request(app).post('/oauth/introspect').type('form').set(headers).send(params);
  }

  async function introspect(tokenValue: string): Promise<Record<string, unknown>> {
    const res = await introspectRequest({ token: tokenValue });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    return res.body;
  }

  async function login(username = f.alice.username): Promise<{ accessToken: string; refreshToken: string }> {
    const res = await token(app, { grant_type: 'password', client_id: 'web', username, password: PASSWORD });
    expect(res.status).toBe(200);
    return { accessToken: res.body.access_token, refreshToken: res.body.refresh_token };
  }

  /** Claims as authd itself would put in an access token issued now to alice on `web`. */
  function accessClaims(overrides: JWTPayload = {}): JWTPayload {
    const iat = nowSeconds();
    return {
      iss: ISSUER,
      sub: f.alice.id,
      aud: 'https://api.test',
      exp: iat + 900,
      iat,
      jti: crypto.randomUUID(),
      client_id: 'web',
      scope: 'profile read',
      roles: ['user', 'editor'],
      sid: crypto.randomUUID(),
      ...overrides,
    };
  }

  /** Signs with the stack's own signing key (so only what the test changes can make it invalid). */
  function signWithStackKey(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    const key = stack.services.ring.signingKey();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid, ...header })
      .sign(key.privateKey!);
  }

  async function expectInactive(tokenValue: string): Promise<void> {
    const res = await introspectRequest({ token: tokenValue });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual(INACTIVE);
  }

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

  // --- active tokens -------------------------------------------------------------------------

  describe('an active token', () => {
    it('describes a password-grant access token in full, uncacheable', async () => {
      const { accessToken } = await login();
      const claims = decodeJwt(accessToken).payload;
      const res = await introspectRequest({ token: accessToken });
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBe('no-cache');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        active: true,
        scope: 'profile read',
        client_id: 'web',
        sub: f.alice.id,
        aud: 'https://api.test',
        iss: ISSUER,
        exp: nowSeconds() + 900,
        iat: nowSeconds(),
        jti: claims.jti,
        token_type: 'Bearer',
        sid: claims.sid,
        roles: ['user', 'editor'],
        amr: ['pwd'],
        acr: 'aal1',
        auth_time: nowSeconds(),
      });
      expect(claims.jti).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
      expect(claims.sid).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    });

    it('describes a client_credentials token: sub is the client, no sid, no roles granted', async () => {
      const issued = await token(
        app,
        { grant_type: 'client_credentials' },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      expect(issued.status).toBe(200);
      const claims = decodeJwt(issued.body.access_token).payload;
      expect(await introspect(issued.body.access_token)).toEqual({
        active: true,
        scope: 'invoices:read',
        client_id: 'machine',
        sub: 'machine',
        aud: 'https://billing.test',
        iss: ISSUER,
        exp: nowSeconds() + 900,
        iat: nowSeconds(),
        jti: claims.jti,
        token_type: 'Bearer',
        roles: [],
      });
    });

    it('accepts the resource server authenticating with client_secret_post too, and ignores token_type_hint', async () => {
      const { accessToken } = await login();
      const res = await introspectRequest(
        { token: accessToken, client_id: api.id, client_secret: api.secret, token_type_hint: 'refresh_token' },
        {},
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expect.objectContaining({ active: true, jti: decodeJwt(accessToken).payload.jti }));
    });

    it('stays active just before exp, and is inactive from exp on', async () => {
      const { accessToken } = await login();
      stack.clock.advance(900 * SECOND - 1);
      expect(await introspect(accessToken)).toEqual(expect.objectContaining({ active: true }));
      stack.clock.advance(1);
      await expectInactive(accessToken);
    });
  });

  // --- inactive tokens -----------------------------------------------------------------------

  describe('answers exactly {active:false} for', () => {
    it('an expired token (16 minutes later)', async () => {
      const { accessToken } = await login();
      stack.clock.advance(16 * MINUTE);
      await expectInactive(accessToken);
    });

    it('a token whose jti was revoked', async () => {
      const { accessToken } = await login();
      expect(
        (
          await request(app)
            .post('/oauth/revoke')
            .type('form')
            .send({ client_id: 'web', token: accessToken, token_type_hint: 'access_token' })
        ).status,
      ).toBe(200);
      await expectInactive(accessToken);
      // Inactive because of a durable record (the database row under any Redis index), not a cache entry alone.
      const { jti, exp } = decodeJwt(accessToken).payload;
      await expectDurableRevocation(stack, 'jti', String(jti), Number(exp) * 1000);
    });

    it('a token whose family (session) was revoked', async () => {
      const { accessToken, refreshToken } = await login();
      expect(
        (await request(app).post('/oauth/revoke').type('form').send({ client_id: 'web', token: refreshToken })).status,
      ).toBe(200);
      await expectInactive(accessToken);
      await expectDurableRevocation(stack, 'sid', String(decodeJwt(accessToken).payload.sid));
    });

    it("a token issued before its user's not-before (or in the same second)", async () => {
      const user = await newUser();
      // A session-less token, so that only the user's not-before can make it inactive.
      const kiosk = await token(app, {
        grant_type: 'password',
        client_id: 'kiosk',
        username: user.username,
        password: PASSWORD,
      });
      expect(kiosk.status).toBe(200);
      expect(decodeJwt(kiosk.body.access_token).payload.sid).toBeUndefined();
      expect(await introspect(kiosk.body.access_token)).toEqual(
        expect.objectContaining({ active: true, sub: user.id }),
      );
      const { accessToken } = await login(user.username);

      expect(await stack.services.revoker.revokeUser(user.id, 'test')).toHaveLength(1);
      await expectDurableRevocation(stack, 'user', user.id);
      await expectInactive(kiosk.body.access_token);
      await expectInactive(accessToken);

      stack.clock.advance(SECOND);
      expect(await introspect((await login(user.username)).accessToken)).toEqual(
        expect.objectContaining({ active: true, sub: user.id }),
      );
    });

    it('a token issued in the future (iat an hour ahead), signed with the right key', async () => {
      const iat = nowSeconds() + 3600;
      await expectInactive(await signWithStackKey(accessClaims({ iat, exp: iat + 900 })));
    });

    it('a token signed by an unknown key (a fresh RSA key, a random 43-character kid)', async () => {
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const kid = crypto.randomBytes(32).toString('base64url').slice(0, 43);
      expect(kid).toMatch(/^[\w-]{43}$/);
      const forged = await new SignJWT(accessClaims())
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid })
        .sign(privateKey);
      await expectInactive(forged);
    });

    it('a token signed by a fresh key that claims the real kid', async () => {
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = await new SignJWT(accessClaims())
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: stack.services.ring.signingKey().kid })
        .sign(privateKey);
      await expectInactive(forged);
    });

    it('a token with typ JWT, signed with the right key', async () => {
      await expectInactive(await signWithStackKey(accessClaims(), { typ: 'JWT' }));
    });

    it('a token with no typ, signed with the right key', async () => {
      const key = stack.services.ring.signingKey();
      const untyped = await new SignJWT(accessClaims())
        .setProtectedHeader({ alg: 'RS256', kid: key.kid })
        .sign(key.privateKey!);
      await expectInactive(untyped);
    });

    it('a refresh token (typ rt+jwt): a resource server must never accept one', async () => {
      const { refreshToken } = await login();
      expect(decodeJwt(refreshToken).header.typ).toBe('rt+jwt');
      await expectInactive(refreshToken);
    });

    it('a token whose payload was tampered with', async () => {
      const { accessToken } = await login();
      const [header, payload, signature] = accessToken.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const tampered = `${header}.${b64url({ ...claims, scope: 'profile read write', roles: ['admin'] })}.${signature}`;
      await expectInactive(tampered);
      // The original, untouched, is still active: only the tampering made it inactive.
      expect(await introspect(accessToken)).toEqual(expect.objectContaining({ active: true }));
    });

    it('a token whose signature was altered', async () => {
      const { accessToken } = await login();
      const [header, payload, signature] = accessToken.split('.');
      const bytes = Buffer.from(signature, 'base64url');
      bytes[0] ^= 0x01;
      await expectInactive(`${header}.${payload}.${bytes.toString('base64url')}`);
    });

    it('an unsigned token (alg none)', async () => {
      const kid = stack.services.ring.signingKey().kid;
      await expectInactive(`${b64url({ alg: 'none', typ: 'at+jwt', kid })}.${b64url(accessClaims())}.`);
      await expectInactive(`${b64url({ alg: 'none', typ: 'at+jwt', kid })}.${b64url(accessClaims())}`);
      await expectInactive(`${b64url({ alg: 'None', typ: 'at+jwt', kid })}.${b64url(accessClaims())}.`);
    });

    it.each([
      [
        'PEM',
        (key: crypto.KeyObject) => Promise.resolve(Buffer.from(key.export({ type: 'spki', format: 'pem' }) as string)),
      ],
      ['DER', (key: crypto.KeyObject) => Promise.resolve(key.export({ type: 'spki', format: 'der' }))],
      ['JWK', async (key: crypto.KeyObject) => Buffer.from(JSON.stringify(await exportJWK(key)))],
      [
        'published JWK',
        async (_key: crypto.KeyObject) => Buffer.from(JSON.stringify(stack.services.ring.signingKey().publicJwk)),
      ],
    ])("an HS256 token keyed with the public key's %s bytes (algorithm confusion)", async (_label, secretOf) => {
      const key = stack.services.ring.signingKey();
      const secret = new Uint8Array(await secretOf(key.publicKey));
      const confused = await new SignJWT(accessClaims())
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
        .sign(secret);
      await expectInactive(confused);
    });

    it('a token carrying a jku header, signed with the right key', async () => {
      await expectInactive(await signWithStackKey(accessClaims(), { jku: 'https://attacker.test/jwks.json' }));
    });

    it('a token carrying an embedded jwk header (its own verification key)', async () => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const jwk = await exportJWK(publicKey);
      const selfSigned = await new SignJWT(accessClaims())
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: stack.services.ring.signingKey().kid, jwk })
        .sign(privateKey);
      await expectInactive(selfSigned);
      // Even signed with the right key, a jwk header is refused.
      const published = stack.services.ring.signingKey().publicJwk;
      await expectInactive(
        await signWithStackKey(accessClaims(), { jwk: { kty: published.kty, n: published.n, e: published.e } }),
      );
    });

    it('a token carrying an x5u header, signed with the right key', async () => {
      await expectInactive(await signWithStackKey(accessClaims(), { x5u: 'https://attacker.test/cert.pem' }));
    });

    it.each([
      ['garbage', 'not a token at all'],
      ['three dots of nothing', '..'],
      ['a JWT-shaped string of junk', 'eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl'],
      ['a header that is not JSON', `${b64url('{"alg":')}.${b64url({})}.sig`],
    ])('%s', async (_label, value) => {
      await expectInactive(value);
    });

    it('a 9000-character token', async () => {
      const { accessToken } = await login();
      const huge = accessToken + 'A'.repeat(9000 - accessToken.length);
      expect(huge).toHaveLength(9000);
      await expectInactive(huge);
    });

    it('a token from another issuer, signed with the right key', async () => {
      await expectInactive(await signWithStackKey(accessClaims({ iss: 'https://evil.test' })));
    });

    it('a token lacking a jti, signed with the right key', async () => {
      const claims = accessClaims();
      delete claims.jti;
      await expectInactive(await signWithStackKey(claims));
    });
  });

  it('accepts a well-formed token the test signs itself with the stack key (so the cases above fail only for their flaw)', async () => {
    const claims = accessClaims();
    expect(await introspect(await signWithStackKey(claims))).toEqual({
      active: true,
      scope: 'profile read',
      client_id: 'web',
      sub: f.alice.id,
      aud: 'https://api.test',
      iss: ISSUER,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer',
      sid: claims.sid,
      roles: ['user', 'editor'],
    });
  });

  // --- who may introspect --------------------------------------------------------------------

  describe('only resource servers may introspect', () => {
    it('refuses the public client web (it authenticates, but may not introspect): 403 unauthorized_client', async () => {
      const { accessToken } = await login();
      const res = await introspectRequest({ client_id: 'web', token: accessToken }, {});
      expect(res.status).toBe(403);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(MAY_NOT_INTROSPECT);
    });

    it('refuses the confidential client machine: 403 unauthorized_client', async () => {
      const { accessToken } = await login();
      const res = await introspectRequest(
        { token: accessToken },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      expect(res.status).toBe(403);
      expect(res.body).toEqual(MAY_NOT_INTROSPECT);
    });

    it('refuses a wrong secret: 401 invalid_client with a Basic challenge', async () => {
      const { accessToken } = await login();
      const res = await introspectRequest({ token: accessToken }, { Authorization: basic(api.id, 'not-the-secret') });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(BASIC_CHALLENGE);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual(INVALID_CLIENT);
    });

    it('refuses an unknown client with Basic: 401 invalid_client with a Basic challenge', async () => {
      const res = await introspectRequest({ token: 'x' }, { Authorization: basic('nobody', 'whatever') });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(BASIC_CHALLENGE);
      expect(res.body).toEqual(INVALID_CLIENT);
    });

    it('refuses the resource server without its secret: 401 invalid_client', async () => {
      const res = await introspectRequest({ client_id: api.id, token: 'x' }, {});
      expect(res.status).toBe(401);
      expect(res.body).toEqual(INVALID_CLIENT);
    });

    it('refuses a request with no client authentication: 401 invalid_client', async () => {
      const res = await introspectRequest({ token: 'x' }, {});
      expect(res.status).toBe(401);
      expect(res.body).toEqual(INVALID_CLIENT);
    });

    it('answers 400 invalid_request when the token is missing', async () => {
      const res = await introspectRequest({});
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'The token parameter is missing.' });
    });

    it('answers 405 to GET, with Allow: POST', async () => {
      const res = await request(app).get('/oauth/introspect').set('Authorization', basic(api.id, api.secret));
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('POST');
      expect(res.body).toEqual({ error: 'invalid_request', error_description: 'Use POST.' });
    });
  });

  // --- discovery -----------------------------------------------------------------------------

  it('discovery lists the revocation and introspection endpoints and their authentication methods', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const res = await request(app).get(path);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        expect.objectContaining({
          issuer: ISSUER,
          revocation_endpoint: `${ISSUER}/oauth/revoke`,
          revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
          introspection_endpoint: `${ISSUER}/oauth/introspect`,
          introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        }),
      );
    }
  });
});
