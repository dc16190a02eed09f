/**
 * authd's access tokens are plain RFC 9068 JWTs: services that already use jose, jwks-rsa +
 * jsonwebtoken or express-oauth2-jwt-bearer verify them as those libraries' docs show, against a
 * real authd listening on a port (its discovery metadata and JWKS), and each refuses a refresh
 * token, an expired token and a token for another audience.
 *
 * The libraries read the real clock, so authd runs on a clock that follows it here, with a short
 * AUTHD_ACCESS_TOKEN_TTL (30 s) so that "expired" is one library clock option away.
 */
import express from 'express';
import { auth, requiredScopes, type AuthResult } from 'express-oauth2-jwt-bearer';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';
import request from 'supertest';
import { createVerifier } from '@authd/verifier';
import { backends, type TestStack } from '../support/backends';
import type { TestClock } from '../support/clock';
import { decodeJwt, PASSWORD } from '../support/fixtures';
import { loginAt, startLiveAuthd, type LiveAuthd } from './live-authd';

const AUDIENCE = 'https://orders.test';
const OTHER_AUDIENCE = 'https://billing.test';
const ACCESS_TTL = 30;

/** A clock that follows the real one (the libraries read Date.now()), movable forward. */
function realClock(): TestClock {
  let skew = 0;
  return {
    now: () => Date.now() + skew,
    advance: (ms) => {
      skew += ms;
    },
    set: (ms) => {
      skew = ms - Date.now();
    },
  };
}

describe.each(backends())('interop with common JWT libraries, authd on $name', (backend) => {
  let stack: TestStack;
  let authd: LiveAuthd;
  let issuer: string;
  let jwksUri: string;

  beforeAll(async () => {
    authd = await startLiveAuthd(backend, { AUTHD_ACCESS_TOKEN_TTL: String(ACCESS_TTL) }, realClock());
    ({ stack, issuer } = authd);
    jwksUri = `${issuer}/.well-known/jwks.json`;
    const { clientService, users } = stack.services;
    for (const [id, audience] of [
      ['orders-web', AUDIENCE],
      ['billing-web', OTHER_AUDIENCE],
    ]) {
      await clientService.create({
        id,
        name: id,
        confidential: false,
        firstParty: true,
        grantTypes: ['password', 'refresh_token'],
        scopes: ['read', 'write'],
        defaultScopes: ['read'],
        audience,
      });
    }
    // The issuer as audience (allowed to authd's own clients, and kept by clients made before audiences were required).
    await clientService.create({
      id: 'default-web',
      name: 'default-web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:account'],
      defaultScopes: ['authd:account'],
      audience: issuer,
    });
    await users.create({ username: 'ada@example.com', password: PASSWORD, roles: ['user'], scopes: ['read', 'write'] });
  });

  afterAll(() => authd?.close());

  const login = (options: { clientId?: string; scope?: string } = {}) =>
    loginAt(issuer, {
      clientId: options.clientId ?? 'orders-web',
      username: 'ada@example.com',
      ...(options.scope && { scope: options.scope }),
    });

  /** A token that expired a minute ago, signed by authd's own current key (for libraries without a clock option). */
  async function expiredToken(): Promise<string> {
    const { access } = await login();
    const { payload } = decodeJwt(access);
    const key = stack.services.ring.signingKey();
    const nowSeconds = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...payload, iat: nowSeconds - ACCESS_TTL - 60, exp: nowSeconds - 60 })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid })
      .sign(key.privateKey!);
  }

  it('publishes discovery metadata naming the real issuer and jwks_uri', async () => {
    const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({ issuer, jwks_uri: jwksUri });
  });

  describe('jose: createRemoteJWKSet + jwtVerify', () => {
    // As authd's README walkthrough shows it: issuer, audience and typ.
    const verify = (token: string, extra: { currentDate?: Date } = {}) =>
      jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), { issuer, audience: AUDIENCE, typ: 'at+jwt', ...extra });

    it('verifies a valid access token', async () => {
      const { access } = await login();
      const { payload, protectedHeader } = await verify(access);
      expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: stack.services.ring.signingKey().kid });
      expect(payload).toMatchObject({
        iss: issuer,
        aud: AUDIENCE,
        client_id: 'orders-web',
        scope: 'read',
        roles: ['user'],
      });
    });

    it('rejects a refresh token, by its typ', async () => {
      const { refresh } = await login();
      const error = await verify(refresh).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
      expect(error).toMatchObject({ claim: 'typ' });
    });

    it("rejects a refresh token by its aud too, when typ is not checked (jose's generic examples)", async () => {
      const { refresh } = await login();
      const error = await jwtVerify(refresh, createRemoteJWKSet(new URL(jwksUri)), {
        issuer,
        audience: AUDIENCE,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
      expect(error).toMatchObject({ claim: 'aud' });
    });

    it('rejects an expired token (currentDate past exp)', async () => {
      const { access } = await login();
      const error = await verify(access, { currentDate: new Date(Date.now() + (ACCESS_TTL + 5) * 1000) }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(joseErrors.JWTExpired);
    });

    it('rejects a token for another audience', async () => {
      const { access } = await login({ clientId: 'billing-web' });
      const error = await verify(access).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
      expect(error).toMatchObject({ claim: 'aud' });
    });
  });

  describe('jwks-rsa + jsonwebtoken', () => {
    // As their READMEs show them: a JWKS client, the signing key by the token's kid, then verify
    // with the algorithm pinned and the issuer and audience checked.
    async function verify(token: string, extra: { clockTimestamp?: number } = {}) {
      const client = jwksClient({ jwksUri });
      const { header } = jwt.decode(token, { complete: true })!;
      const key = await client.getSigningKey(header.kid);
      return jwt.verify(token, key.getPublicKey(), { algorithms: ['RS256'], audience: AUDIENCE, issuer, ...extra });
    }

    it('verifies a valid access token', async () => {
      const { access } = await login();
      const payload = await verify(access);
      expect(payload).toMatchObject({ iss: issuer, aud: AUDIENCE, client_id: 'orders-web', scope: 'read' });
    });

    it('rejects a refresh token — by its aud (the issuer itself), since jsonwebtoken does not check typ', async () => {
      // jsonwebtoken has no typ option: a refresh token (typ rt+jwt) is signed by the same key as
      // access tokens, so nothing but its audience (authd's issuer, never a resource server's)
      // keeps it out here.
      const { refresh } = await login();
      expect(decodeJwt(refresh).payload.aud).not.toBe(AUDIENCE);
      const error = await verify(refresh).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(jwt.JsonWebTokenError);
      expect((error as Error).message).toBe(`jwt audience invalid. expected: ${AUDIENCE}`);
    });

    it('rejects an expired token (clockTimestamp past exp)', async () => {
      const { access } = await login();
      const error = await verify(access, { clockTimestamp: Math.floor(Date.now() / 1000) + ACCESS_TTL + 5 }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(jwt.TokenExpiredError);
    });

    it('rejects a token for another audience', async () => {
      const { access } = await login({ clientId: 'billing-web' });
      const error = await verify(access).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(jwt.JsonWebTokenError);
      expect((error as Error).message).toBe(`jwt audience invalid. expected: ${AUDIENCE}`);
    });
  });

  describe('express-oauth2-jwt-bearer: auth() + requiredScopes()', () => {
    // As its README shows it: issuerBaseURL (discovery) and audience. Over http, which the library
    // refuses only under NODE_ENV=production; authd publishes no id_token_signing_alg_values_supported,
    // so the library's own asymmetric-algorithm allowlist applies (never "none", never HS*).
    /** The Bearer challenge, without the DPoP one the library appends (it accepts DPoP by default). */
    const bearerChallenge = (header: string | undefined) => header?.replace(/, DPoP algs="[^"]*"$/, '');

    function api() {
      const app = express();
      app.use(auth({ issuerBaseURL: issuer, audience: AUDIENCE }));
      // Both this library and authd's kit declare Express's req.auth; in this project the kit's
      // declaration is the one TypeScript sees, so name the library's type.
      app.get('/orders', requiredScopes('read'), (req, res) =>
        res.json({ sub: (req.auth as unknown as AuthResult).payload.sub }),
      );
      return app;
    }

    it('lets a valid token through', async () => {
      const { access } = await login();
      const res = await request(api()).get('/orders').set('Authorization', `Bearer ${access}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ sub: decodeJwt(access).payload.sub });
    });

    it('answers a token without the scope 403 insufficient_scope', async () => {
      const { access } = await login({ scope: 'write' });
      const res = await request(api()).get('/orders').set('Authorization', `Bearer ${access}`);
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
      expect(res.headers['www-authenticate']).toContain('scope="read"');
    });

    it('rejects a refresh token (401 invalid_token) — by its aud: the library checks typ only with strict: true', async () => {
      const { refresh } = await login();
      const res = await request(api()).get('/orders').set('Authorization', `Bearer ${refresh}`);
      expect(res.status).toBe(401);
      expect(bearerChallenge(res.headers['www-authenticate'])).toBe(
        `Bearer realm="api", error="invalid_token", error_description="Unexpected 'aud' value"`,
      );
    });

    it('rejects an expired token (401 invalid_token)', async () => {
      const res = await request(api())
        .get('/orders')
        .set('Authorization', `Bearer ${await expiredToken()}`);
      expect(res.status).toBe(401);
      expect(bearerChallenge(res.headers['www-authenticate'])).toBe(
        `Bearer realm="api", error="invalid_token", error_description="'exp' claim timestamp check failed"`,
      );
    });

    it('rejects a token for another audience (401 invalid_token)', async () => {
      const { access } = await login({ clientId: 'billing-web' });
      const res = await request(api()).get('/orders').set('Authorization', `Bearer ${access}`);
      expect(res.status).toBe(401);
      expect(bearerChallenge(res.headers['www-authenticate'])).toBe(
        `Bearer realm="api", error="invalid_token", error_description="Unexpected 'aud' value"`,
      );
    });
  });

  /**
   * The README says "jsonwebtoken ignores typ, so it is the aud check that keeps refresh tokens
   * out". That holds only while no access token carries the issuer as its audience. authd's own
   * clients (and clients made before an audience was required) still have the issuer as their
   * audience, and refresh tokens once carried the issuer as aud too: a service set up that way, verifying with jsonwebtoken or with
   * express-oauth2-jwt-bearer as documented, takes a refresh token (valid for weeks, and still
   * verifiable after it has been rotated away or its session revoked) for an access token.
   */
  describe('a service on the default audience (the issuer itself)', () => {
    async function defaultAudienceTokens() {
      const tokens = await login({ clientId: 'default-web' });
      expect(decodeJwt(tokens.access).payload.aud).toBe(issuer);
      return tokens;
    }

    it('controls: the verifier kit and jose with typ refuse the refresh token, and accept the access token', async () => {
      const { access, refresh } = await defaultAudienceTokens();
      const verifier = createVerifier({ issuer, audience: issuer });
      await expect(verifier.verifyAccessToken(access)).resolves.toMatchObject({ clientId: 'default-web' });
      await expect(verifier.verifyAccessToken(refresh)).rejects.toMatchObject({ code: 'invalid_token' });
      await expect(
        jwtVerify(refresh, createRemoteJWKSet(new URL(jwksUri)), { issuer, audience: issuer, typ: 'at+jwt' }),
      ).rejects.toMatchObject({ claim: 'typ' });
    });

    it('jwks-rsa + jsonwebtoken refuse a refresh token as an access token', async () => {
      const { access, refresh } = await defaultAudienceTokens();
      const key = await jwksClient({ jwksUri }).getSigningKey(decodeJwt(access).header.kid as string);
      const options = { algorithms: ['RS256' as const], audience: issuer, issuer };
      expect(jwt.verify(access, key.getPublicKey(), options)).toMatchObject({ client_id: 'default-web' });
      expect(() => jwt.verify(refresh, key.getPublicKey(), options)).toThrow(jwt.JsonWebTokenError);
    });

    it('express-oauth2-jwt-bearer refuses a refresh token as an access token', async () => {
      const app = express();
      app.use(auth({ issuerBaseURL: issuer, audience: issuer }));
      app.get('/me', (req, res) => res.json({ sub: (req.auth as unknown as AuthResult).payload.sub }));
      const { access, refresh } = await defaultAudienceTokens();
      expect((await request(app).get('/me').set('Authorization', `Bearer ${access}`)).status).toBe(200);
      expect((await request(app).get('/me').set('Authorization', `Bearer ${refresh}`)).status).toBe(401);
    });
  });
});
