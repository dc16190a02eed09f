import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { rotateSigningKey } from '../../src/tokens/key-management';
import { backends, openStack, type Backend, type TestStack } from '../support/backends';
import { basic, decodeJwt, passwordLogin, seed, token, type Fixtures } from '../support/fixtures';

/** RFC 8414 metadata, the JWKS (with caching and key rotation) and the health endpoints. */

const ISSUER = 'https://authd.test';
const METADATA_PATHS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];
const JWKS_PATH = '/.well-known/jwks.json';
/** The scopes of the seeded clients, all of them. */
const SEEDED_SCOPES = ['invoices:read', 'invoices:write', 'profile', 'read', 'write'];
/** A new key waits AUTHD_JWKS_MAX_AGE + AUTHD_KEY_RING_REFRESH (600 s + 60 s by default) before it signs. */
const STANDBY_MS = (600 + 60) * 1000;

const kidOf = (jwt: string) => decodeJwt(jwt).header.kid;

async function openSeeded(backend: Backend): Promise<{ stack: TestStack; f: Fixtures }> {
  const stack = await openStack(backend);
  return { stack, f: await seed(stack) };
}

describe.each(backends())('discovery on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    ({ stack, f } = await openSeeded(backend));
  });
  afterAll(() => stack.close());

  describe('authorization server metadata (RFC 8414)', () => {
    it.each(METADATA_PATHS)('is served at %s', async (path) => {
      const res = await request(f.app).get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        issuer: ISSUER,
        token_endpoint: `${ISSUER}/oauth/token`,
        jwks_uri: `${ISSUER}/.well-known/jwks.json`,
        grant_types_supported: [
          'password',
          'refresh_token',
          'client_credentials',
          'urn:authd:params:oauth:grant-type:mfa-otp',
        ],
        // No authorization endpoint, so no response type.
        response_types_supported: [],
        scopes_supported: expect.any(Array),
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
        revocation_endpoint: `${ISSUER}/oauth/revoke`,
        revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
        introspection_endpoint: `${ISSUER}/oauth/introspect`,
        introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      });
      expect([...res.body.scopes_supported].sort()).toEqual(SEEDED_SCOPES);
    });

    it('is the same document at both paths', async () => {
      const [oauth, openid] = await Promise.all(METADATA_PATHS.map((path) => request(f.app).get(path)));
      expect(openid.body).toEqual(oauth.body);
    });

    it('names endpoints that are absolute URLs under the issuer and answer on this server', async () => {
      const { body } = await request(f.app).get(METADATA_PATHS[0]);
      for (const name of ['token_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint']) {
        const url = new URL(body[name]);
        expect(url.href).toBe(body[name]);
        expect(url.origin).toBe(ISSUER);
      }
      expect((await request(f.app).get(new URL(body.jwks_uri).pathname)).status).toBe(200);
      const issued = await token(
        f.app,
        { grant_type: 'client_credentials' },
        { Authorization: basic(f.machine.id, f.machine.secret) },
      );
      expect(new URL(body.token_endpoint).pathname).toBe('/oauth/token');
      expect(issued.status).toBe(200);
    });
  });

  describe('JWKS', () => {
    it('publishes the signing key with its public members only, cacheable, with an ETag', async () => {
      const res = await request(f.app).get(JWKS_PATH);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('public, max-age=600');
      expect(res.headers.etag).toMatch(/^"[^"]+"$/);
      const { keys } = JSON.parse(res.text) as JSONWebKeySet;
      expect(keys).toHaveLength(1);
      for (const key of keys) {
        expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
        expect(key).toEqual({
          kty: 'RSA',
          n: expect.stringMatching(/^[\w-]{342}$/),
          e: 'AQAB',
          kid: expect.any(String),
          alg: 'RS256',
          use: 'sig',
        });
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(secret);
      }
    });

    it('names each key by its RFC 7638 thumbprint, the kid tokens carry', async () => {
      const { keys } = (await request(f.app).get(JWKS_PATH)).body as JSONWebKeySet;
      for (const key of keys) {
        expect(key.kid).toBe(await calculateJwkThumbprint({ kty: key.kty, n: key.n, e: key.e }, 'sha256'));
      }
      const login = await passwordLogin(f.app);
      expect(keys.map((k) => k.kid)).toContain(kidOf(login.body.access_token));
    });

    it('verifies the tokens the server issues', async () => {
      const jwks = (await request(f.app).get(JWKS_PATH)).body;
      const login = await passwordLogin(f.app);
      const { protectedHeader } = await jwtVerify(login.body.access_token, createLocalJWKSet(jwks), {
        issuer: ISSUER,
        audience: 'https://api.test',
        typ: 'at+jwt',
        currentDate: new Date(stack.clock.now()),
      });
      expect(protectedHeader.alg).toBe('RS256');
    });

    it.each<[string, (etag: string) => string]>([
      ['the ETag', (etag) => etag],
      ['the ETag marked weak', (etag) => `W/${etag}`],
      ['a list holding the ETag', (etag) => `"something-else", ${etag}`],
      ['*', () => '*'],
    ])('answers a conditional GET with If-None-Match: %s with 304 and no body', async (_label, ifNoneMatch) => {
      const { headers } = await request(f.app).get(JWKS_PATH);
      const res = await request(f.app).get(JWKS_PATH).set('If-None-Match', ifNoneMatch(headers.etag));
      expect(res.status).toBe(304);
      expect(res.text ?? '').toBe('');
      expect(res.headers.etag).toBe(headers.etag);
      expect(res.headers['cache-control']).toBe('public, max-age=600');
    });

    it('answers a conditional GET with a stale ETag with the whole set', async () => {
      const res = await request(f.app).get(JWKS_PATH).set('If-None-Match', '"stale"');
      expect(res.status).toBe(200);
      expect(res.body.keys).toHaveLength(1);
    });

    it('keeps the same ETag while the key set is unchanged', async () => {
      const [a, b] = await Promise.all([request(f.app).get(JWKS_PATH), request(f.app).get(JWKS_PATH)]);
      expect(a.headers.etag).toBe(b.headers.etag);
      expect(a.text).toBe(b.text);
    });
  });

  describe('signing key rotation', () => {
    // A stack of its own: rotation and the clock jump would disturb the other tests.
    let rotating: TestStack;
    let rf: Fixtures;
    beforeAll(async () => {
      ({ stack: rotating, f: rf } = await openSeeded(backend));
    });
    afterAll(() => rotating.close());

    it('publishes the standby key at once, and signs with it only once the JWKS caches have expired', async () => {
      const { app } = rf;
      const machine = { Authorization: basic(rf.machine.id, rf.machine.secret) };
      const before = await request(app).get(JWKS_PATH);
      const [oldKey] = before.body.keys;
      const early = await passwordLogin(app);
      expect(kidOf(early.body.access_token)).toBe(oldKey.kid);

      const rotated = await rotateSigningKey(rotating.services.keyManagement);
      await rotating.services.ring.reload();
      expect(rotated.kid).not.toBe(oldKey.kid);
      expect(rotated.activatesAt.getTime()).toBe(rotating.clock.now() + STANDBY_MS);

      // Both keys published, under a new ETag: caches holding the old set will fetch again.
      const after = await request(app).get(JWKS_PATH);
      expect(after.status).toBe(200);
      expect(after.body.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([oldKey.kid, rotated.kid].sort());
      expect(after.headers.etag).not.toBe(before.headers.etag);
      expect((await request(app).get(JWKS_PATH).set('If-None-Match', before.headers.etag)).status).toBe(200);
      expect((await request(app).get(JWKS_PATH).set('If-None-Match', after.headers.etag)).status).toBe(304);
      const newKey = after.body.keys.find((k: { kid: string }) => k.kid === rotated.kid);
      expect(newKey.kid).toBe(await calculateJwkThumbprint({ kty: newKey.kty, n: newKey.n, e: newKey.e }, 'sha256'));
      expect(Object.keys(newKey).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);

      // Standby: the old key still signs, up to the last millisecond before activation.
      expect(kidOf((await passwordLogin(app)).body.access_token)).toBe(oldKey.kid);
      rotating.clock.advance(STANDBY_MS - 1);
      expect(kidOf((await passwordLogin(app)).body.access_token)).toBe(oldKey.kid);
      expect(kidOf((await token(app, { grant_type: 'client_credentials' }, machine)).body.access_token)).toBe(
        oldKey.kid,
      );

      // Active: new logins carry the new kid; the old key stays published for tokens still alive.
      rotating.clock.advance(2);
      const late = await passwordLogin(app);
      expect(late.status).toBe(200);
      expect(kidOf(late.body.access_token)).toBe(rotated.kid);
      expect(kidOf(late.body.refresh_token)).toBe(rotated.kid);
      expect(kidOf((await token(app, { grant_type: 'client_credentials' }, machine)).body.access_token)).toBe(
        rotated.kid,
      );

      const jwks = (await request(app).get(JWKS_PATH)).body;
      expect(jwks.keys).toHaveLength(2);
      const keySet = createLocalJWKSet(jwks);
      const options = {
        issuer: ISSUER,
        audience: 'https://api.test',
        typ: 'at+jwt',
        currentDate: new Date(rotating.clock.now()),
      };
      // A verifier holding the new set accepts tokens of both keys, each checked against its own key.
      await expect(jwtVerify(early.body.access_token, keySet, options)).resolves.toMatchObject({
        protectedHeader: { kid: oldKey.kid },
        payload: { iss: ISSUER },
      });
      await expect(jwtVerify(late.body.access_token, keySet, options)).resolves.toMatchObject({
        protectedHeader: { kid: rotated.kid },
        payload: { iss: ISSUER },
      });
    });
  });

  describe('health', () => {
    it('answers /health/live while the process runs', async () => {
      const res = await request(f.app).get('/health/live');
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({ status: 'ok' });
    });

    it('answers /health/ready with every dependency checked', async () => {
      const res = await request(f.app).get('/health/ready');
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({
        status: 'ok',
        checks: { database: 'ok', keys: 'ok', ...(backend.name === 'postgres+redis' && { redis: 'ok' }), audit: 'ok' },
      });
    });
  });
});
