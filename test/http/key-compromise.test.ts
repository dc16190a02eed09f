/**
 * The review's attack: with a copy of a signing key's .pem, anyone can mint
 * {kid: old, sub: <any uuid>, aud: issuer, scope: authd:admin}. Retiring the key does not stop
 * that (a retired key verifies until its last token expires); revoking it does, at once, on every
 * instance — and the genuine sessions whose refresh tokens it signed carry on.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import { revokedKeyKey } from '@authd/verifier';
import { SignJWT, type JWTPayload } from 'jose';
import request from 'supertest';
import { refreshTokenAudience } from '../../src/tokens/token-issuer';
import { revokeSigningKey, rotateSigningKey } from '../../src/tokens/key-management';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, seedResourceServer, token, type Fixtures } from '../support/fixtures';

const ISSUER = 'https://authd.test';
const SECOND = 1000;
const ADMIN_PASSWORD = 'the root of all administration';
const REVOKED = { error: 'invalid_token', error_description: 'The token has been revoked.' };
const INVALID = { error: 'invalid_token', error_description: 'The token is invalid or expired.' };
const UNKNOWN_SUBJECT = { error: 'invalid_token', error_description: "The token's subject is unknown or disabled." };
const INVALID_GRANT = {
  error: 'invalid_grant',
  error_description: 'The refresh token is invalid, expired or revoked.',
};

describe.each(backends({ postgresWithoutRedis: true }))('signing-key compromise on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  let api: { id: string; secret: string };
  let root: { id: string };

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
    api = await seedResourceServer(stack);
    await stack.services.clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: ISSUER,
    });
    root = await stack.services.users.create({
      username: 'root@example.com',
      password: ADMIN_PASSWORD,
      scopes: ['authd:admin', 'authd:account'],
    });
  });
  afterAll(() => stack.close());

  const km = () => stack.services.keyManagement;
  const currentKid = () => stack.services.ring.signingKey().kid;
  const published = async () =>
    ((await request(app).get('/.well-known/jwks.json')).body.keys as Array<{ kid: string }>).map((k) => k.kid);

  /** What the attacker holds: a copy of the key file. */
  const stealKey = (kid: string) =>
    crypto.createPrivateKey(fs.readFileSync(path.join(stack.config.keysDir, `${kid}.pem`), 'utf8'));

  async function forge(kid: string, typ: 'at+jwt' | 'rt+jwt', claims: JWTPayload): Promise<string> {
    const iat = Math.floor(stack.clock.now() / 1000);
    return new SignJWT({ iss: ISSUER, iat, exp: iat + 900, jti: crypto.randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'RS256', typ, kid })
      .sign(stealKey(kid));
  }
  const forgeAdmin = (kid: string, sub: string = crypto.randomUUID()) =>
    forge(kid, 'at+jwt', { sub, aud: ISSUER, scope: 'authd:admin authd:account', client_id: 'admin-cli' });

  const introspect = async (accessToken: string) =>
    (
      await request(app)
        .post('/oauth/introspect')
        .type('form')
        .set('Authorization', basic(api.id, api.secret))
        .send({ token: accessToken })
    ).body;
  const createUserAs = (bearer: string) =>
    request(app)
      .post('/admin/users')
      .set('Authorization', `Bearer ${bearer}`)
      .send({ username: `made-by-${crypto.randomUUID()}@example.com`, password: PASSWORD });
  const account = (bearer: string) => request(app).get('/account').set('Authorization', `Bearer ${bearer}`);
  const answer = (res: request.Response) => ({ status: res.status, body: res.body });

  async function aliceLogin(): Promise<{ access: string; refresh: string; sid: string }> {
    const res = await token(app, {
      grant_type: 'password',
      client_id: 'web',
      username: f.alice.username,
      password: PASSWORD,
    });
    expect(res.status).toBe(200);
    return {
      access: res.body.access_token,
      refresh: res.body.refresh_token,
      sid: String(decodeJwt(res.body.access_token).payload.sid),
    };
  }
  const refresh = (refreshToken: string) =>
    token(app, { grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken });

  /** An emergency rotation that every instance has picked up: the old key is retired, not distrusted. */
  async function rotateAway(): Promise<string> {
    const old = currentKid();
    await rotateSigningKey(km(), true);
    await stack.services.ring.reload();
    return old;
  }

  it('after a plain retire (rotate --immediate), a forged admin token of the old key is still accepted: retiring is not distrusting', async () => {
    const old = await rotateAway();
    const forged = await forgeAdmin(old, root.id);
    expect((await createUserAs(forged)).status).toBe(201);
    expect(await introspect(forged)).toMatchObject({ active: true, sub: root.id, scope: 'authd:admin authd:account' });
    expect((await account(forged)).status).toBe(200);
    expect(await published()).toContain(old);
  });

  it('/admin refuses a token whose subject is neither a live user nor a live client, even when its signature holds', async () => {
    const kid = currentKid(); // a leak nobody has noticed yet: the attacker signs with the current key
    expect(answer(await createUserAs(await forgeAdmin(kid)))).toEqual({ status: 401, body: UNKNOWN_SUBJECT });
    expect(answer(await createUserAs(await forgeAdmin(kid, 'not-a-uuid')))).toEqual({
      status: 401,
      body: UNKNOWN_SUBJECT,
    });

    const disabled = await stack.services.users.create({
      username: `disabled-admin-${crypto.randomUUID()}@example.com`,
      password: PASSWORD,
      scopes: ['authd:admin'],
    });
    await stack.services.users.setDisabled({ id: disabled.id }, true);
    stack.clock.advance(2 * SECOND); // issued after the disable's "not before": only the subject check stands
    expect(
      answer(
        await request(app)
          .get('/admin/keys')
          .set('Authorization', `Bearer ${await forgeAdmin(kid, disabled.id)}`),
      ),
    ).toEqual({ status: 401, body: UNKNOWN_SUBJECT });

    // A live user and a live client (client_credentials tokens speak for their client) pass.
    expect(
      (
        await request(app)
          .get('/admin/keys')
          .set('Authorization', `Bearer ${await forgeAdmin(kid, root.id)}`)
      ).status,
    ).toBe(200);
    expect(
      (
        await request(app)
          .get('/admin/keys')
          .set('Authorization', `Bearer ${await forgeAdmin(kid, 'machine')}`)
      ).status,
    ).toBe(200);
  });

  it('keys revoke: forged and genuine tokens of the key are refused by /admin, introspection and /account at once, before the ring reloads', async () => {
    const genuine = await aliceLogin();
    const old = await rotateAway();
    const forgedRoot = await forgeAdmin(old, root.id);
    const forgedAnyone = await forgeAdmin(old);
    expect((await createUserAs(forgedRoot)).status).toBe(201);

    // The CLI revokes from its own process: this server's key ring has not reloaded yet.
    stack.clock.advance(SECOND);
    expect(await revokeSigningKey(km(), old)).toEqual({ liveRefreshTokens: 1 });
    for (const forged of [forgedRoot, forgedAnyone]) {
      expect(answer(await createUserAs(forged))).toEqual({ status: 401, body: REVOKED });
      expect(await introspect(forged)).toEqual({ active: false });
      expect(answer(await account(forged))).toEqual({ status: 401, body: REVOKED });
    }
    expect(await introspect(genuine.access)).toEqual({ active: false });
    // Where the verifier kit looks, in its one MGET: <prefix>{rv}:kid:<kid> (the connection adds the prefix).
    if (stack.backend === 'postgres+redis')
      expect(await stack.services.redis!.get(revokedKeyKey(old))).toBe(String(stack.clock.now()));

    // Within AUTHD_KEY_RING_REFRESH every instance reloads: the key leaves the JWKS and the ring.
    expect(await published()).toContain(old);
    await stack.services.ring.reload();
    expect(await published()).not.toContain(old);
    expect(answer(await createUserAs(forgedRoot))).toEqual({ status: 401, body: INVALID });
    expect(await introspect(forgedAnyone)).toEqual({ active: false });
    expect(answer(await account(forgedRoot))).toEqual({ status: 401, body: INVALID });
  });

  it('a genuine refresh token signed by the revoked key continues its session on the current key; a forged one is refused; both are audited', async () => {
    const genuine = await aliceLogin();
    const old = await rotateAway();
    await rotateSigningKey(km(), true, true); // revoke-old, the one-step emergency
    await stack.services.ring.reload();
    expect(decodeJwt(genuine.refresh).header.kid).toBe(old);

    // A forgery naming alice's real session (sids are no secret: access tokens carry them) but not a live jti.
    const forged = await forge(old, 'rt+jwt', {
      sub: f.alice.id,
      aud: refreshTokenAudience(ISSUER),
      client_id: 'web',
      sid: genuine.sid,
    });
    expect(answer(await refresh(forged))).toEqual({ status: 400, body: INVALID_GRANT });

    const continued = await refresh(genuine.refresh);
    expect(continued.status).toBe(200);
    expect(decodeJwt(continued.body.refresh_token).header.kid).toBe(currentKid());
    expect(decodeJwt(continued.body.access_token).payload.sid).toBe(genuine.sid);
    expect(await introspect(continued.body.access_token)).toMatchObject({ active: true, sub: f.alice.id });
    expect((await refresh(continued.body.refresh_token)).status).toBe(200);

    await stack.services.audit.flush();
    const events = await stack.services.audit.query({ types: ['refresh_token_of_revoked_key'], limit: 2 });
    expect(events.map((e) => ({ userId: e.userId, clientId: e.clientId, details: e.details }))).toEqual([
      { userId: f.alice.id, clientId: 'web', details: { kid: old, outcome: 'confirmed', sid: genuine.sid } },
      { userId: null, clientId: 'web', details: { kid: old, outcome: 'refused' } },
    ]);
  });

  it("a genuine refresh token of a revoked key still logs out at /oauth/revoke; a forged one naming a victim's session does not end it", async () => {
    const victim = await aliceLogin();
    const leaving = await aliceLogin();
    const old = await rotateAway();
    await revokeSigningKey(km(), old);
    await stack.services.ring.reload();

    const forged = await forge(old, 'rt+jwt', {
      sub: f.alice.id,
      aud: refreshTokenAudience(ISSUER),
      client_id: 'web',
      sid: victim.sid,
    });
    expect(
      (await request(app).post('/oauth/revoke').type('form').send({ client_id: 'web', token: forged })).status,
    ).toBe(200);
    expect(
      (await request(app).post('/oauth/revoke').type('form').send({ client_id: 'web', token: leaving.refresh })).status,
    ).toBe(200);

    expect(answer(await refresh(leaving.refresh))).toEqual({ status: 400, body: INVALID_GRANT });
    expect((await refresh(victim.refresh)).status).toBe(200);
  });

  describe('through the admin API', () => {
    let adminToken: string;
    const admin = (method: 'get' | 'post', route: string, body?: object) => {
      const req = request(app)[method](route).set('Authorization', `Bearer ${adminToken}`);
      return body === undefined ? req : req.send(body);
    };
    beforeEach(async () => {
      const res = await token(app, {
        grant_type: 'password',
        client_id: 'admin-cli',
        username: 'root@example.com',
        password: ADMIN_PASSWORD,
      });
      expect(res.status).toBe(200);
      adminToken = res.body.access_token;
    });

    it('POST /admin/keys/{kid}/revoke distrusts a key at once on this instance (ring and JWKS), audited with the acting admin', async () => {
      const genuine = await aliceLogin();
      const old = await rotateAway();
      const forged = await forgeAdmin(old, root.id);
      adminToken = (
        await token(app, {
          grant_type: 'password',
          client_id: 'admin-cli',
          username: 'root@example.com',
          password: ADMIN_PASSWORD,
        })
      ).body.access_token;

      const res = await admin('post', `/admin/keys/${old}/revoke`);
      expect(answer(res)).toEqual({ status: 200, body: { kid: old, live_refresh_tokens: expect.any(Number) } });
      // At least alice's session and the admin's own, both logged in on the old key.
      expect(res.body.live_refresh_tokens).toBeGreaterThanOrEqual(2);
      expect(await published()).not.toContain(old);
      expect(answer(await createUserAs(forged))).toEqual({ status: 401, body: INVALID });
      expect((await refresh(genuine.refresh)).status).toBe(200);

      const listed = (await admin('get', '/admin/keys')).body.keys as Array<{
        kid: string;
        state: string;
        revoked_at: string | null;
      }>;
      expect(listed.find((k) => k.kid === old)).toEqual(
        expect.objectContaining({ state: 'revoked', revoked_at: new Date(stack.clock.now()).toISOString() }),
      );
      await stack.services.audit.flush();
      const [event] = await stack.services.audit.query({ types: ['key_revoked'], limit: 1 });
      expect(event.details).toEqual({ actor: root.id, kid: old, live_refresh_tokens: res.body.live_refresh_tokens });

      expect(answer(await admin('post', `/admin/keys/${old}/revoke`))).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          code: 'key_already_revoked',
          error_description: `Key ${old} is already revoked.`,
        },
      });
      expect(answer(await admin('post', `/admin/keys/${'A'.repeat(43)}/revoke`))).toEqual({
        status: 404,
        body: { error: 'invalid_request', code: 'key_not_found', error_description: expect.any(String) },
      });
      expect(answer(await admin('post', `/admin/keys/${currentKid()}/revoke`))).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          code: 'only_active_key',
          error_description:
            'This is the only active key: run "authd keys rotate --immediate --revoke-old" to replace and revoke it in one step.',
        },
      });
      expect(answer(await admin('post', `/admin/keys/${old}/revoke`, { force: true }))).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          code: 'invalid_request',
          error_description: expect.stringContaining('force'),
        },
      });
    });

    it('POST /admin/keys/rotate {immediate, revoke_old} replaces and revokes in one step; revoke_old alone is refused', async () => {
      expect(answer(await admin('post', '/admin/keys/rotate', { revoke_old: true }))).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          code: 'immediate_rotation_required',
          error_description: expect.any(String),
        },
      });
      const old = currentKid();
      const forged = await forgeAdmin(old, root.id);
      const res = await admin('post', '/admin/keys/rotate', { immediate: true, revoke_old: true });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        kid: currentKid(),
        activates_at: new Date(stack.clock.now()).toISOString(),
        revoked: expect.arrayContaining([old]),
      });
      expect(await published()).toEqual([res.body.kid]);
      expect(answer(await createUserAs(forged))).toEqual({ status: 401, body: INVALID });
      // The admin's own token was signed by the old key too: a new login works, on the new key.
      expect((await admin('get', '/admin/keys')).status).toBe(401);
      const again = await token(app, {
        grant_type: 'password',
        client_id: 'admin-cli',
        username: 'root@example.com',
        password: ADMIN_PASSWORD,
      });
      expect(decodeJwt(again.body.access_token).header.kid).toBe(res.body.kid);
    });
  });
});
