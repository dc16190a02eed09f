/**
 * The verifier kit (@authd/verifier) against a real authd listening on a real port, so the issuer
 * URL, discovery and the JWKS are the real thing: requireAuth/requireScope/requireRole over
 * supertest, the JWKS cache and its kid-miss cooldown, a key rotation under traffic, and both
 * opt-in revocation modes (authd's Redis index, and the introspection endpoint).
 *
 * authd runs on the stack's test clock, and every verifier here is given the same clock (plus,
 * where a test needs time to pass for the verifier only, a local offset), so expiry, max-age,
 * cooldowns and caches are driven deterministically.
 */
import crypto from 'node:crypto';
import express from 'express';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import {
  BearerError,
  createVerifier,
  requireAuth,
  requireRole,
  requireScope,
  VerifierUnavailableError,
  type RedisLike,
  type VerifierOptions,
  type VerifierReason,
} from '@authd/verifier';
import { rotateSigningKey } from '../../src/tokens/key-management';
import { backends, type TestStack } from '../support/backends';
import { decodeJwt, PASSWORD } from '../support/fixtures';
import { freePort } from '../support/processes';
import { loginAt, startLiveAuthd, type LiveAuthd } from './live-authd';
import { scaled } from '../support/timing';

jest.setTimeout(scaled(60_000));

const AUDIENCE = 'https://orders.test';
const OTHER_AUDIENCE = 'https://billing.test';
const REALM = `realm="${AUDIENCE}"`;
const JWKS_PATH = '/.well-known/jwks.json';
const METADATA_PATH = '/.well-known/oauth-authorization-server';
const INTROSPECT_PATH = '/oauth/introspect';
const ACCESS_TTL = 900;
const JWKS_MAX_AGE = 600;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A fetch that records every URL it is asked for, so tests can count JWKS and introspection calls. */
function countingFetch() {
  const urls: string[] = [];
  const wrapped: typeof fetch = (input, init) => {
    urls.push(input instanceof Request ? input.url : String(input));
    return fetch(input, init);
  };
  return { fetch: wrapped, calls: (path: string) => urls.filter((u) => new URL(u).pathname === path).length };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The WWW-Authenticate value of an invalid_token answer. */
const invalidToken = (description: string) =>
  `Bearer ${REALM}, error="invalid_token", error_description="${description}"`;

/** The reasons the services' onError hook saw, newest last (each test starts empty). */
let refusals: VerifierReason[] = [];
beforeEach(() => {
  refusals = [];
});

/** A 401 invalid_token answer, refused for `reason` (the stable code, not the description prose). */
function expectInvalidToken(res: request.Response, reason: VerifierReason): void {
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(
    new RegExp(`^Bearer ${REALM}, error="invalid_token", error_description="[^"]+"$`),
  );
  expect(res.body).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
  expect(refusals.at(-1)).toBe(reason);
}

describe.each(backends())('verifier kit against authd on $name', (backend) => {
  let stack: TestStack;
  let authd: LiveAuthd;
  let issuer: string;
  let resourceServerSecret: string;
  const userIds: Record<string, string> = {};

  beforeAll(async () => {
    authd = await startLiveAuthd(backend, {
      AUTHD_JWKS_MAX_AGE: String(JWKS_MAX_AGE),
      AUTHD_ACCESS_TOKEN_TTL: String(ACCESS_TTL),
    });
    ({ stack, issuer } = authd);
    const { clientService, users } = stack.services;
    await clientService.create({
      id: 'orders-web',
      name: 'Orders web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read', 'write'],
      defaultScopes: ['read'],
      audience: AUDIENCE,
    });
    await clientService.create({
      id: 'billing-web',
      name: 'Billing web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['read', 'write'],
      defaultScopes: ['read'],
      audience: OTHER_AUDIENCE,
    });
    // The orders service itself, as a resource server allowed to introspect.
    const resourceServer = await clientService.create({
      id: 'orders-api',
      name: 'Orders API',
      confidential: true,
      canIntrospect: true,
      grantTypes: [],
      audience: AUDIENCE,
    });
    resourceServerSecret = resourceServer.secret!;
    for (const [name, roles] of [
      ['ada', ['user', 'admin']],
      ['bob', ['user']],
      ['carol', ['user']],
    ] as const) {
      const user = await users.create({
        username: `${name}@example.com`,
        password: PASSWORD,
        roles: [...roles],
        scopes: ['read', 'write'],
      });
      userIds[name] = user.id;
    }
  });

  afterAll(() => authd?.close());

  /** A password login at authd over HTTP. */
  const login = (user: string, options: { scope?: string; clientId?: string } = {}) =>
    loginAt(issuer, {
      clientId: options.clientId ?? 'orders-web',
      username: `${user}@example.com`,
      ...(options.scope && { scope: options.scope }),
    });

  /** RFC 7009 at authd, as the public client orders-web. */
  async function revokeAtAuthd(token: string): Promise<void> {
    const response = await fetch(`${issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'orders-web', token }).toString(),
    });
    expect(response.status).toBe(200);
  }

  /** authd's own answer about a token (RFC 7662), as the resource server. */
  async function introspectAtAuthd(token: string): Promise<{ active: boolean }> {
    const response = await fetch(`${issuer}/oauth/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from(`orders-api:${resourceServerSecret}`).toString('base64'),
      },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { active: boolean };
  }

  const options = (extra: Partial<VerifierOptions> = {}): VerifierOptions => ({
    issuer,
    audience: AUDIENCE,
    now: () => stack.clock.now(),
    ...extra,
  });

  /** A small protected service, as a team would write it with the kit. */
  function api(extra: Partial<VerifierOptions> = {}) {
    const verifier = createVerifier(options(extra));
    const app = express();
    const auth = requireAuth({
      ...options(extra),
      verifier,
      onError: (error) => {
        refusals.push(error.reason);
      },
    });
    app.get('/me', auth, (req, res) => res.json(req.auth));
    app.post('/notes', auth, requireScope('write'), (req, res) => res.status(201).json({ created_by: req.auth!.sub }));
    app.get('/admin', auth, requireRole('admin'), (_req, res) => res.json({ ok: true }));
    return { app, verifier };
  }

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  describe('a valid token', () => {
    it('sets req.auth from the claims, with jwks_uri found through discovery', async () => {
      const counter = countingFetch();
      const { app } = api({ fetch: counter.fetch });
      const { access } = await login('ada', { scope: 'read write' });
      const { payload } = decodeJwt(access);

      const res = await request(app).get('/me').set(bearer(access));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        sub: userIds.ada,
        clientId: 'orders-web',
        scopes: ['read', 'write'],
        roles: ['user', 'admin'],
        sid: payload.sid,
        // The login's assurance (RFC 9470 / RFC 8176) as the token states it; none is [] for amr.
        acr: payload.acr,
        amr: payload.amr ?? [],
        authTime: payload.auth_time,
        claims: payload,
        token: access,
      });
      expect(payload.sid).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
      // Discovery: the metadata first, then the jwks_uri it names.
      expect(counter.calls(METADATA_PATH)).toBe(1);
      expect(counter.calls(JWKS_PATH)).toBe(1);
    });

    it('verifies with a jwksUri given directly, without discovery', async () => {
      const counter = countingFetch();
      const verifier = createVerifier(options({ fetch: counter.fetch, jwksUri: `${issuer}${JWKS_PATH}` }));
      const { access } = await login('bob');
      const auth = await verifier.verifyAccessToken(access);
      expect(auth).toMatchObject({ sub: userIds.bob, clientId: 'orders-web', scopes: ['read'], roles: ['user'] });
      expect(counter.calls(METADATA_PATH)).toBe(0);
      expect(counter.calls(JWKS_PATH)).toBe(1);
    });

    it('accepts a token whose audience is one of several the service answers to', async () => {
      const verifier = createVerifier(options({ audience: ['https://other.test', AUDIENCE] }));
      const { access } = await login('bob');
      await expect(verifier.verifyAccessToken(access)).resolves.toMatchObject({ sub: userIds.bob });
    });

    it('passes requireScope with the scope and requireRole with the role', async () => {
      const { app } = api();
      const { access } = await login('ada', { scope: 'read write' });
      const created = await request(app).post('/notes').set(bearer(access));
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ created_by: userIds.ada });
      const admin = await request(app).get('/admin').set(bearer(access));
      expect(admin.status).toBe(200);
    });
  });

  describe('RFC 6750 errors', () => {
    it.each([
      ['without Authorization', undefined],
      ['with another scheme (RFC 6750 §3.1: an unsupported authentication method)', 'Basic eDp5'],
    ])('answers a request %s 401 with a bare challenge (no error code)', async (_label, header) => {
      const { app } = api();
      const res = await (header === undefined
        ? request(app).get('/me')
        : request(app).get('/me').set('Authorization', header));
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`Bearer ${REALM}`);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({ error: 'unauthorized', error_description: 'Authentication required.' });
      expect(refusals).toEqual(['missing_token']);
    });

    it.each([
      ['"Bearer" alone', 'Bearer'],
      ['"Bearer" and a space', 'Bearer '],
      ['two tokens', 'Bearer abc.def.ghi jkl.mno.pqr'],
      ['a token with a forbidden character', 'Bearer abc,def'],
    ])('answers a malformed Authorization header (%s) 400 invalid_request', async (_label, header) => {
      const { app } = api();
      const res = await request(app).get('/me').set('Authorization', header);
      expect(res.status).toBe(400);
      expect(res.headers['www-authenticate']).toBe(
        `Bearer ${REALM}, error="invalid_request", error_description="The Authorization header must be Bearer <token>."`,
      );
      expect(res.body).toEqual({
        error: 'invalid_request',
        error_description: 'The Authorization header must be "Bearer <token>".',
      });
      expect(refusals).toEqual(['malformed_header']);
    });

    it('accepts the scheme name in any case (RFC 7235 §2.1)', async () => {
      const { app } = api();
      const { access } = await login('bob');
      expect((await request(app).get('/me').set('Authorization', `bearer ${access}`)).status).toBe(200);
    });

    it('answers an expired token 401 invalid_token, after the 30 s tolerance', async () => {
      const { access } = await login('bob');
      const issuedAt = stack.clock.now();
      const within = api({ now: () => issuedAt + (ACCESS_TTL + 29) * 1000 });
      expect((await request(within.app).get('/me').set(bearer(access))).status).toBe(200);

      const after = api({ now: () => issuedAt + (ACCESS_TTL + 31) * 1000 });
      const res = await request(after.app).get('/me').set(bearer(access));
      expectInvalidToken(res, 'expired');
      // The whole answer, as RFC 6750 §3 has it (the reason stays out of it).
      expect(res.headers['www-authenticate']).toBe(invalidToken('The token has expired.'));
      expect(res.body).toEqual({ error: 'invalid_token', error_description: 'The token has expired.' });
    });

    it('answers a token for another audience 401 invalid_token', async () => {
      const { app } = api();
      const { access } = await login('bob', { clientId: 'billing-web' });
      expect(decodeJwt(access).payload.aud).toBe(OTHER_AUDIENCE);
      const res = await request(app).get('/me').set(bearer(access));
      expectInvalidToken(res, 'audience');
    });

    it('answers a refresh token (typ rt+jwt) 401 invalid_token', async () => {
      const { app } = api();
      const { refresh } = await login('bob');
      expect(decodeJwt(refresh).header.typ).toBe('rt+jwt');
      const res = await request(app).get('/me').set(bearer(refresh));
      expectInvalidToken(res, 'type');
    });

    it('answers a tampered token (a scope added, the signature kept) 401 invalid_token', async () => {
      const { app } = api();
      const { access } = await login('bob');
      const [header, payload, signature] = access.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const forged = `${header}.${b64({ ...claims, scope: 'read write', roles: ['admin'] })}.${signature}`;
      const res = await request(app).get('/admin').set(bearer(forged));
      expectInvalidToken(res, 'signature');
    });

    it('answers an unsigned token (alg none) 401 invalid_token', async () => {
      const { app } = api();
      const { access } = await login('bob');
      const { header, payload } = decodeJwt(access);
      const unsigned = `${b64({ ...header, alg: 'none' })}.${b64(payload)}.`;
      const res = await request(app).get('/me').set(bearer(unsigned));
      expectInvalidToken(res, 'algorithm');
    });

    it('answers a token HMAC-signed with the public key (HS256) 401 invalid_token', async () => {
      const { app } = api();
      const { access } = await login('bob');
      const { header, payload } = decodeJwt(access);
      const publicPem = stack.services.ring.signingKey().publicKey.export({ type: 'spki', format: 'pem' });
      const input = `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}`;
      const forged = `${input}.${crypto.createHmac('sha256', publicPem).update(input).digest('base64url')}`;
      const res = await request(app).get('/me').set(bearer(forged));
      expectInvalidToken(res, 'algorithm');
    });

    it('answers a token signed by a key authd does not publish (unknown kid) 401 invalid_token', async () => {
      const { app } = api();
      const { access } = await login('bob');
      const { payload } = decodeJwt(access);
      const { privateKey } = await generateKeyPair('RS256');
      const foreign = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: crypto.randomBytes(32).toString('base64url') })
        .sign(privateKey);
      const res = await request(app).get('/me').set(bearer(foreign));
      expectInvalidToken(res, 'unknown_key');
    });

    it('answers a token carrying its own key (jwk header) 401 invalid_token', async () => {
      const { app } = api();
      const { access } = await login('bob');
      const { payload } = decodeJwt(access);
      const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
      const jwk = await exportJWK(publicKey);
      const token = await new SignJWT(payload)
        .setProtectedHeader({
          alg: 'RS256',
          typ: 'at+jwt',
          kid: stack.services.ring.signingKey().kid,
          jwk: { kty: 'RSA', n: jwk.n!, e: jwk.e! },
        })
        .sign(privateKey);
      const res = await request(app).get('/me').set(bearer(token));
      expectInvalidToken(res, 'header');
    });

    it('answers a token that is not a JWT 401 invalid_token', async () => {
      const { app } = api();
      const res = await request(app).get('/me').set(bearer('not-a-jwt'));
      expectInvalidToken(res, 'malformed');
    });

    it('answers a token without the scope 403 insufficient_scope naming the scope', async () => {
      const { app } = api();
      const { access } = await login('ada'); // default scope: read
      const res = await request(app).post('/notes').set(bearer(access));
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toBe(
        `Bearer ${REALM}, error="insufficient_scope", error_description="The token lacks the scope this resource needs.", scope="write"`,
      );
      expect(res.body).toEqual({
        error: 'insufficient_scope',
        error_description: 'The token lacks the scope this resource needs.',
      });
      expect(refusals).toEqual(['insufficient_scope']);
    });

    it('answers a user without the role 403', async () => {
      const { app } = api();
      const { access } = await login('bob', { scope: 'read write' });
      const res = await request(app).get('/admin').set(bearer(access));
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toBe(
        `Bearer ${REALM}, error="insufficient_scope", error_description="The caller lacks the role: admin."`,
      );
      expect(refusals).toEqual(['insufficient_role']);
    });

    it('throws a BearerError with the same code outside Express', async () => {
      const verifier = createVerifier(options());
      const { refresh } = await login('bob');
      const error = await verifier.verifyAccessToken(refresh).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BearerError);
      expect(error).toMatchObject({ code: 'invalid_token', status: 401, reason: 'type' });
    });

    it('answers 503 (not 401, not 200) when authd cannot be reached for its keys', async () => {
      const closed = await freePort();
      const { app } = api({ issuer: `http://127.0.0.1:${closed}` });
      const { access } = await login('bob');
      const res = await request(app).get('/me').set(bearer(access));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'Token verification is unavailable.',
      });
      expect(refusals).toEqual(['unavailable']);
    });
  });

  describe('keys', () => {
    it('fetches the JWKS once per max-age: 100 verifications, 1 fetch', async () => {
      const counter = countingFetch();
      let offset = 0;
      const verifier = createVerifier(options({ fetch: counter.fetch, now: () => stack.clock.now() + offset }));
      const { access } = await login('bob');

      await Promise.all(Array.from({ length: 50 }, () => verifier.verifyAccessToken(access)));
      for (let i = 0; i < 50; i++) await verifier.verifyAccessToken(access);
      expect(counter.calls(JWKS_PATH)).toBe(1);
      expect(counter.calls(METADATA_PATH)).toBe(1);

      offset += (JWKS_MAX_AGE - 1) * 1000;
      await verifier.verifyAccessToken(access);
      expect(counter.calls(JWKS_PATH)).toBe(1);

      offset += 1000; // max-age has passed
      await verifier.verifyAccessToken(access);
      expect(counter.calls(JWKS_PATH)).toBe(2);
      // The metadata is not fetched again for it.
      expect(counter.calls(METADATA_PATH)).toBe(1);
    });

    it('refetches for unknown kids at most once per cooldown (50 random kids: at most 1 fetch)', async () => {
      const counter = countingFetch();
      let offset = 0;
      const verifier = createVerifier(options({ fetch: counter.fetch, now: () => stack.clock.now() + offset }));
      const { access } = await login('bob');
      const { payload } = decodeJwt(access);
      await verifier.verifyAccessToken(access);
      expect(counter.calls(JWKS_PATH)).toBe(1);

      const { privateKey } = await generateKeyPair('RS256');
      const randomKid = () =>
        new SignJWT(payload)
          .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: crypto.randomBytes(32).toString('base64url') })
          .sign(privateKey);
      const fire = async (n: number) => {
        const tokens = await Promise.all(Array.from({ length: n }, randomKid));
        const results = await Promise.all(
          tokens.map((t) =>
            verifier.verifyAccessToken(t).then(
              () => 'accepted',
              (e: unknown) => e,
            ),
          ),
        );
        for (const result of results) expect(result).toMatchObject({ code: 'invalid_token', reason: 'unknown_key' });
      };

      // Right after a fetch: inside the cooldown, no refetch at all.
      await fire(50);
      expect(counter.calls(JWKS_PATH)).toBe(1);

      // The cooldown (30 s) has passed: 50 at once cause one refetch between them.
      offset += 31_000;
      await fire(50);
      expect(counter.calls(JWKS_PATH)).toBe(2);
      // ... and 50 more right after, none.
      await fire(50);
      expect(counter.calls(JWKS_PATH)).toBe(2);

      // Genuine tokens keep verifying throughout.
      await expect(verifier.verifyAccessToken(access)).resolves.toMatchObject({ sub: userIds.bob });
    });

    it('picks up a key rotated during traffic without a restart: one refetch, old and new tokens verify', async () => {
      const counter = countingFetch();
      let offset = 0;
      const verifier = createVerifier(options({ fetch: counter.fetch, now: () => stack.clock.now() + offset }));
      const oldKid = stack.services.ring.signingKey().kid;
      const old = await login('bob');
      await verifier.verifyAccessToken(old.access);
      expect(counter.calls(JWKS_PATH)).toBe(1);
      // Some time has passed since the verifier fetched the keys (more than the kid-miss cooldown).
      // (Within the cooldown, a token from a key rotated with --immediate would be refused until
      // the cooldown ends: the price of not letting random kids hammer authd.)
      offset += 31_000;

      const tokens = [old.access, (await login('ada')).access];
      const verifiedByKid = new Map<string, number>();
      const failures: unknown[] = [];
      let stop = false;
      const loop = async (start: number) => {
        for (let i = start; !stop; i++) {
          const token = tokens[i % tokens.length];
          try {
            await verifier.verifyAccessToken(token);
            const kid = String(decodeJwt(token).header.kid);
            verifiedByKid.set(kid, (verifiedByKid.get(kid) ?? 0) + 1);
          } catch (error) {
            failures.push(error);
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const traffic = [0, 1, 2, 3].map(loop);
      await waitUntil('traffic with the old key', () => (verifiedByKid.get(oldKid) ?? 0) >= 20);

      const rotated = await rotateSigningKey(stack.services.keyManagement, true);
      await stack.services.ring.reload();
      expect(stack.services.ring.signingKey().kid).toBe(rotated.kid);
      const fresh = await login('bob');
      expect(decodeJwt(fresh.access).header.kid).toBe(rotated.kid);
      tokens.push(fresh.access, (await login('ada')).access);

      await waitUntil('traffic with the new key', () => (verifiedByKid.get(rotated.kid) ?? 0) >= 20);
      const oldAfterRotation = verifiedByKid.get(oldKid)!;
      await waitUntil('more traffic with the old key', () => verifiedByKid.get(oldKid)! >= oldAfterRotation + 20);
      stop = true;
      await Promise.all(traffic);

      expect(failures).toEqual([]);
      expect(counter.calls(JWKS_PATH)).toBe(2);
      expect(verifier.keySet.stats().keys.sort()).toEqual([oldKid, rotated.kid].sort());
      await expect(verifier.verifyAccessToken(old.access)).resolves.toMatchObject({ sub: userIds.bob });
      await expect(verifier.verifyAccessToken(fresh.access)).resolves.toMatchObject({ sub: userIds.bob });
    });

    // The deterministic form of what the traffic above runs into: the refetch caused by a new kid
    // takes a round trip, and requests meeting the same kid meanwhile must wait for it. (The
    // cooldown is there to stop *new* fetches; it must not refuse a kid a fetch in flight brings.)
    it('lets requests meeting a new kid while its refetch is in flight wait for it, instead of refusing them', async () => {
      const counter = countingFetch();
      let offset = 0;
      let slowJwks = false;
      const slowFetch: typeof fetch = async (input, init) => {
        if (slowJwks && new URL(String(input)).pathname === JWKS_PATH) await sleep(200);
        return counter.fetch(input, init);
      };
      const verifier = createVerifier(options({ fetch: slowFetch, now: () => stack.clock.now() + offset }));
      await verifier.verifyAccessToken((await login('bob')).access);
      expect(counter.calls(JWKS_PATH)).toBe(1);
      offset += 31_000; // past the kid-miss cooldown

      const rotated = await rotateSigningKey(stack.services.keyManagement, true);
      await stack.services.ring.reload();
      const fresh = await login('bob');
      expect(decodeJwt(fresh.access).header.kid).toBe(rotated.kid);

      slowJwks = true; // authd's JWKS answers in 200 ms, as over a real network under load
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          verifier.verifyAccessToken(fresh.access).then(
            () => 'verified',
            (error: { reason?: string }) => error.reason,
          ),
        ),
      );
      expect(results).toEqual(Array(10).fill('verified'));
      expect(counter.calls(JWKS_PATH)).toBe(2);
    });
  });

  if (backend.redisUrl) {
    describe("revocation, Redis mode (reading authd's index)", () => {
      let redis: Redis;
      const epochKey = () => `${stack.config.redisPrefix}{rv}:epoch`;
      const redisApi = (extra: { failOpen?: boolean; client?: RedisLike } = {}) =>
        api({
          revocation: {
            redis: extra.client ?? redis,
            keyPrefix: stack.config.redisPrefix,
            ...(extra.failOpen !== undefined && { failOpen: extra.failOpen }),
          },
        });

      /** Redis answers nothing: a port nobody listens on, no queueing, no retries. */
      async function unreachableRedis(): Promise<Redis> {
        const client = new Redis({
          port: await freePort(),
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => {});
        return client;
      }

      /** Has authd's index (re)built: any lookup at authd with the epoch missing asks for a re-seed. */
      async function waitForReseed(anyToken: string): Promise<void> {
        await waitUntil('authd to re-seed its revocation index', async () => {
          if ((await redis.exists(epochKey())) === 1) return true;
          await introspectAtAuthd(anyToken);
          return false;
        });
      }

      beforeAll(async () => {
        redis = new Redis(backend.redisUrl!);
        // authd seeds the index (and its epoch) right after connecting.
        await waitUntil('the revocation index epoch', async () => (await redis.exists(epochKey())) === 1);
      });
      afterAll(async () => {
        await redis?.quit();
      });

      it('accepts a token nobody revoked', async () => {
        const { app } = redisApi();
        const { access } = await login('bob');
        expect((await request(app).get('/me').set(bearer(access))).status).toBe(200);
      });

      it('refuses an access token revoked at authd (POST /oauth/revoke) at once; others of the user still pass', async () => {
        const { app } = redisApi();
        const revoked = await login('bob');
        const other = await login('bob');
        expect((await request(app).get('/me').set(bearer(revoked.access))).status).toBe(200);

        await revokeAtAuthd(revoked.access);
        const res = await request(app).get('/me').set(bearer(revoked.access));
        expectInvalidToken(res, 'revoked');
        expect((await request(app).get('/me').set(bearer(other.access))).status).toBe(200);
      });

      it('refuses the access tokens of a session ended at authd (its refresh token revoked: a logout)', async () => {
        const { app } = redisApi();
        const session = await login('bob');
        const otherSession = await login('bob');
        await revokeAtAuthd(session.refresh);
        const res = await request(app).get('/me').set(bearer(session.access));
        expectInvalidToken(res, 'revoked');
        expect((await request(app).get('/me').set(bearer(otherSession.access))).status).toBe(200);
      });

      it('refuses every token issued to a user signed out everywhere (revokeUser), and accepts later ones', async () => {
        const { app } = redisApi();
        const first = await login('carol');
        const second = await login('carol');
        await stack.services.revoker.revokeUser(userIds.carol, 'test_sign_out');
        for (const token of [first.access, second.access]) {
          const res = await request(app).get('/me').set(bearer(token));
          expectInvalidToken(res, 'revoked');
        }
        stack.clock.advance(1000); // "not before" counts whole seconds
        const later = await login('carol');
        expect((await request(app).get('/me').set(bearer(later.access))).status).toBe(200);
      });

      it('fails closed (503) when Redis is unreachable, and lets the request through with failOpen', async () => {
        const { access } = await login('bob');
        const down = await unreachableRedis();
        try {
          const closed = redisApi({ client: down });
          const res = await request(closed.app).get('/me').set(bearer(access));
          expect(res.status).toBe(503);
          expect(res.headers['retry-after']).toBe('5');
          expect(refusals).toEqual(['unavailable']);
          expect(res.headers['www-authenticate']).toBeUndefined();
          expect(res.body).toEqual({
            error: 'temporarily_unavailable',
            error_description: 'Token verification is unavailable.',
          });

          const open = redisApi({ client: down, failOpen: true });
          expect((await request(open.app).get('/me').set(bearer(access))).status).toBe(200);
          // failOpen trades revocation for availability; it does not let bad tokens in.
          const { refresh } = await login('bob');
          expect((await request(open.app).get('/me').set(bearer(refresh))).status).toBe(401);
        } finally {
          down.disconnect();
        }
      });

      it('fails closed (503) while the epoch is missing, until authd re-seeds the index', async () => {
        const { app } = redisApi();
        const { access } = await login('bob');
        expect(await redis.del(epochKey())).toBe(1);

        const res = await request(app).get('/me').set(bearer(access));
        expect(res.status).toBe(503);
        expect(res.body.error).toBe('temporarily_unavailable');
        expect(refusals).toEqual(['unavailable']);
        const open = redisApi({ failOpen: true });
        expect((await request(open.app).get('/me').set(bearer(access))).status).toBe(200);

        await waitForReseed(access);
        expect((await request(app).get('/me').set(bearer(access))).status).toBe(200);
      });

      it('never accepts a revoked token while the index is lost (a flush), and refuses it again after the re-seed', async () => {
        const { app } = redisApi();
        const revoked = await login('bob');
        const valid = await login('bob');
        await revokeAtAuthd(revoked.access);
        expect((await request(app).get('/me').set(bearer(revoked.access))).status).toBe(401);

        // Everything under authd's prefix is gone, as after a FLUSHALL or a restart without persistence.
        const keys = await redis.keys(`${stack.config.redisPrefix}*`);
        expect(keys.length).toBeGreaterThan(1);
        await redis.del(...keys);

        expect((await request(app).get('/me').set(bearer(revoked.access))).status).toBe(503);
        expect((await request(app).get('/me').set(bearer(valid.access))).status).toBe(503);

        await waitForReseed(valid.access);
        const res = await request(app).get('/me').set(bearer(revoked.access));
        expectInvalidToken(res, 'revoked');
        expect((await request(app).get('/me').set(bearer(valid.access))).status).toBe(200);
      });

      // Redis can stay readable while refusing writes (maxmemory with noeviction answers writes
      // "OOM command not allowed", reads still work; or a write times out under load). authd then
      // has the revocation in the database only; verifiers reading the index must not take the
      // missing entry for "not revoked" (authd drops the epoch, so they fail closed until a re-seed).
      /** Revokes at authd while its Redis client refuses writes (for the duration of that request). */
      async function revokeWhileRedisRefusesWrites(token: string): Promise<void> {
        const failingWrites = jest.spyOn(stack.services.redis as Redis, 'pipeline').mockImplementation(() => {
          throw new Error("OOM command not allowed when used memory > 'maxmemory' (injected)");
        });
        let failedWrites: number;
        try {
          await revokeAtAuthd(token);
        } finally {
          failedWrites = failingWrites.mock.calls.length;
          failingWrites.mockRestore();
        }
        expect(failedWrites).toBeGreaterThan(0);
      }

      it('does not accept a token whose revocation authd could not write to Redis, and refuses it once authd has repaired the index', async () => {
        const { app } = redisApi();
        const { access } = await login('bob');
        expect((await request(app).get('/me').set(bearer(access))).status).toBe(200);

        await revokeWhileRedisRefusesWrites(access);
        // Revoked (in the database) at authd: 401, or 503 while the index is known to be
        // incomplete; never 200.
        expect((await request(app).get('/me').set(bearer(access))).status).not.toBe(200);

        // authd answers its own lookups from the database, and they make it repair the index.
        await waitUntil('authd to re-seed the missed revocation', async () => {
          expect(await introspectAtAuthd(access)).toEqual({ active: false });
          const status = (await request(app).get('/me').set(bearer(access))).status;
          expect(status).not.toBe(200);
          return status === 401;
        });
      });

      // Services use the Redis mode precisely so that they need not call authd per request; after
      // a short write failure their index must come back without anything asking authd.
      it('gives Redis-mode verifiers their index back within seconds of a write failure, without lookups at authd', async () => {
        const { app } = redisApi();
        const revoked = await login('bob');
        const valid = await login('bob');
        await revokeWhileRedisRefusesWrites(revoked.access);

        // Only the verifier is asked from here on (no introspection, no token requests at authd).
        const deadline = Date.now() + 10_000;
        let status = 0;
        while (Date.now() < deadline) {
          status = (await request(app).get('/me').set(bearer(valid.access))).status;
          if (status === 200) break;
          await sleep(250);
        }
        expect(status).toBe(200);
        expect((await request(app).get('/me').set(bearer(revoked.access))).status).toBe(401);
      });
    });
  } else {
    it('has no Redis index on the embedded backend (introspection is the revocation mode there); a Redis-mode verifier reading an index nobody keeps fails closed', async () => {
      expect(stack.services.redis).toBeUndefined();
      const empty: RedisLike = { mget: async (...keys) => keys.map(() => null) };
      const { app } = api({ revocation: { redis: empty } });
      const { access } = await login('bob');
      expect((await request(app).get('/me').set(bearer(access))).status).toBe(503);
    });
  }

  describe('revocation, introspection mode', () => {
    const introspection = (
      extra: Partial<{ cacheSeconds: number; failOpen: boolean; endpoint: string; clientSecret: string }> = {},
    ) => ({
      introspection: { clientId: 'orders-api', clientSecret: resourceServerSecret, cacheSeconds: 30, ...extra },
    });

    it('caches a positive answer, sees a revocation once the cache has run out, and keeps a negative answer', async () => {
      const counter = countingFetch();
      let offset = 0;
      const { app } = api({ fetch: counter.fetch, now: () => stack.clock.now() + offset, revocation: introspection() });
      const { access } = await login('bob');

      for (let i = 0; i < 5; i++) expect((await request(app).get('/me').set(bearer(access))).status).toBe(200);
      expect(counter.calls(INTROSPECT_PATH)).toBe(1);

      await revokeAtAuthd(access);
      expect(await introspectAtAuthd(access)).toEqual({ active: false });
      // Within cacheSeconds the cached "active" still stands (the documented staleness) ...
      offset += 29_000;
      expect((await request(app).get('/me').set(bearer(access))).status).toBe(200);
      expect(counter.calls(INTROSPECT_PATH)).toBe(1);

      // ... and once it has run out, authd is asked again and the token is refused.
      offset += 2_000;
      const res = await request(app).get('/me').set(bearer(access));
      expectInvalidToken(res, 'revoked');
      expect(counter.calls(INTROSPECT_PATH)).toBe(2);

      // A negative answer is final: no more calls, however much time passes before exp.
      offset += 5 * 60_000;
      for (let i = 0; i < 5; i++) expect((await request(app).get('/me').set(bearer(access))).status).toBe(401);
      expect(counter.calls(INTROSPECT_PATH)).toBe(2);
    });

    it('asks for each token separately and refuses a token of a revoked session', async () => {
      const counter = countingFetch();
      const { app } = api({ fetch: counter.fetch, revocation: introspection() });
      const session = await login('bob');
      const other = await login('bob');
      expect((await request(app).get('/me').set(bearer(session.access))).status).toBe(200);
      expect((await request(app).get('/me').set(bearer(other.access))).status).toBe(200);
      expect(counter.calls(INTROSPECT_PATH)).toBe(2);

      await revokeAtAuthd(session.refresh);
      // A verifier that has not cached the token sees the logout at once.
      const fresh = api({ revocation: introspection() });
      expect((await request(fresh.app).get('/me').set(bearer(session.access))).status).toBe(401);
      expect((await request(fresh.app).get('/me').set(bearer(other.access))).status).toBe(200);
    });

    it('does not introspect a token that fails offline verification', async () => {
      const counter = countingFetch();
      const { app } = api({ fetch: counter.fetch, revocation: introspection() });
      const { refresh } = await login('bob');
      expect((await request(app).get('/me').set(bearer(refresh))).status).toBe(401);
      expect(counter.calls(INTROSPECT_PATH)).toBe(0);
    });

    it('fails closed (503) when the introspection endpoint cannot be reached or refuses the client; failOpen lets it through', async () => {
      const { access } = await login('bob');
      const endpoint = `http://127.0.0.1:${await freePort()}/oauth/introspect`;
      const unreachable = api({ revocation: introspection({ endpoint }) });
      const res = await request(unreachable.app).get('/me').set(bearer(access));
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('temporarily_unavailable');
      expect(refusals).toEqual(['unavailable']);

      const wrongSecret = api({ revocation: introspection({ clientSecret: 'not-the-secret' }) });
      expect((await request(wrongSecret.app).get('/me').set(bearer(access))).status).toBe(503);

      const open = api({ revocation: introspection({ endpoint, failOpen: true }) });
      expect((await request(open.app).get('/me').set(bearer(access))).status).toBe(200);
    });

    it('throws VerifierUnavailableError outside Express when it cannot tell', async () => {
      const { access } = await login('bob');
      const verifier = createVerifier(
        options({ revocation: introspection({ endpoint: `http://127.0.0.1:${await freePort()}/x` }) }),
      );
      await expect(verifier.verifyAccessToken(access)).rejects.toBeInstanceOf(VerifierUnavailableError);
    });
  });
});
