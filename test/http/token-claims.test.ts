import type { Express } from 'express';
import request from 'supertest';
import { MAX_TOKEN_LENGTH } from '../../src/tokens/jwt';
import { validateImportRecord } from '../../src/users/user-import';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, seedResourceServer, token, type Fixtures } from '../support/fixtures';

/**
 * Claims services need, per client: preferred_username / email / email_verified when the scope
 * asks for them, and named keys of the user's metadata; never a reserved claim; the same claims
 * from introspection; a refresh reads the user again.
 */
jest.setTimeout(120_000);

const ISSUER = 'https://authd.test';
const API = 'https://orders.example.test';

describe.each(backends())('user claims in access tokens on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let app: Express;
  let api: { id: string; secret: string };
  let dana: { id: string };

  const login = (scope: string, clientId = 'claims-web', username = 'dana') =>
    token(app, { grant_type: 'password', client_id: clientId, username, password: PASSWORD, scope });
  const claimsOf = (res: request.Response) => {
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
    return decodeJwt(res.body.access_token).payload;
  };
  /** Sets fields the user service has no setter for yet (email), through the importer. */
  const setFields = async (username: string, fields: Record<string, unknown>) => {
    const { username: display } = await stack.services.users.requireUser(username);
    await stack.services.userImporter.importBatch(
      [validateImportRecord({ username: display, ...fields }, 1)],
      'update',
    );
  };

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    app = f.app;
    api = await seedResourceServer(stack);
    await stack.services.clientService.create({
      id: 'claims-web',
      name: 'Orders app',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['profile', 'email', 'orders'],
      defaultScopes: ['orders'],
      audience: API,
      userClaims: ['preferred_username', 'email', 'email_verified'],
      metadataClaims: ['org_id', 'plan'],
    });
    dana = await stack.services.users.create({
      username: 'Dana',
      password: PASSWORD,
      roles: ['buyer'],
      scopes: ['profile', 'email', 'orders'],
    });
    await setFields('dana', {
      email: 'Dana@Example.com',
      email_verified: true,
      metadata: { org_id: 'org_42', plan: 'pro', internal_note: 'not for tokens' },
    });
  });
  afterAll(() => stack.close());

  it('carries preferred_username for profile, email and email_verified for email, and the named metadata keys', async () => {
    const payload = claimsOf(await login('profile email orders'));
    expect(payload).toEqual({
      iss: ISSUER,
      sub: dana.id,
      aud: API,
      exp: expect.any(Number),
      iat: expect.any(Number),
      jti: expect.any(String),
      client_id: 'claims-web',
      scope: 'profile email orders',
      roles: ['buyer'],
      sid: expect.any(String),
      amr: ['pwd'],
      acr: 'aal1',
      auth_time: expect.any(Number),
      preferred_username: 'Dana',
      email: 'Dana@Example.com',
      email_verified: true,
      org_id: 'org_42',
      plan: 'pro',
    });
  });

  it('leaves out the standard claims whose scope was not granted; metadata keys come regardless', async () => {
    const orders = claimsOf(await login('orders'));
    expect(
      Object.keys(orders)
        .filter((k) => ['preferred_username', 'email', 'email_verified', 'org_id', 'plan', 'internal_note'].includes(k))
        .sort(),
    ).toEqual(['org_id', 'plan']);
    const profile = claimsOf(await login('profile'));
    expect({
      preferred_username: profile.preferred_username,
      email: profile.email,
      email_verified: profile.email_verified,
    }).toEqual({ preferred_username: 'Dana', email: undefined, email_verified: undefined });
  });

  it('adds nothing for a client that asks for no claims, and nothing for a user without an email or the metadata key', async () => {
    const plain = claimsOf(
      await token(app, { grant_type: 'password', client_id: 'web', username: 'alice@example.com', password: PASSWORD }),
    );
    expect(Object.keys(plain).sort()).toEqual([
      'acr',
      'amr',
      'aud',
      'auth_time',
      'client_id',
      'exp',
      'iat',
      'iss',
      'jti',
      'roles',
      'scope',
      'sid',
      'sub',
    ]);
    await stack.services.users.create({ username: 'erin', password: PASSWORD, scopes: ['profile', 'email'] });
    const erin = claimsOf(await login('profile email', 'claims-web', 'erin'));
    expect({ ...erin, iat: 0, exp: 0, jti: '', sid: '', sub: '', auth_time: 0 }).toEqual({
      iss: ISSUER,
      sub: '',
      aud: API,
      exp: 0,
      iat: 0,
      jti: '',
      client_id: 'claims-web',
      scope: 'profile email',
      roles: [],
      sid: '',
      preferred_username: 'erin',
      amr: ['pwd'],
      acr: 'aal1',
      auth_time: 0,
    });
  });

  it('answers the same claims from introspection', async () => {
    const accessToken = (await login('profile email orders')).body.access_token;
    const res = await request(app)
      .post('/oauth/introspect')
      .type('form')
      .set({ Authorization: basic(api.id, api.secret) })
      .send({ token: accessToken });
    expect(res.body).toEqual({
      active: true,
      token_type: 'Bearer',
      iss: ISSUER,
      sub: dana.id,
      aud: API,
      exp: expect.any(Number),
      iat: expect.any(Number),
      jti: expect.any(String),
      client_id: 'claims-web',
      scope: 'profile email orders',
      roles: ['buyer'],
      sid: expect.any(String),
      amr: ['pwd'],
      acr: 'aal1',
      auth_time: expect.any(Number),
      preferred_username: 'Dana',
      email: 'Dana@Example.com',
      email_verified: true,
      org_id: 'org_42',
      plan: 'pro',
    });
  });

  it('reads the user again at every refresh: changed metadata and email reach the next access token', async () => {
    const first = await login('profile email orders');
    await stack.services.users.setMetadata({ id: dana.id }, { org_id: 'org_7', internal_note: 'moved' });
    await setFields('dana', { email: 'dana@new.example.com' });
    const refreshed = claimsOf(
      await token(app, {
        grant_type: 'refresh_token',
        client_id: 'claims-web',
        refresh_token: first.body.refresh_token,
      }),
    );
    expect({
      org_id: refreshed.org_id,
      plan: refreshed.plan,
      email: refreshed.email,
      email_verified: refreshed.email_verified,
    }).toEqual({ org_id: 'org_7', plan: undefined, email: 'dana@new.example.com', email_verified: false });
    await stack.services.users.setMetadata({ id: dana.id }, { org_id: 'org_42', plan: 'pro' });
    await setFields('dana', { email: 'Dana@Example.com', email_verified: true });
  });

  it('refuses metadata claims that would shadow a reserved or standard claim, and unknown user claims', async () => {
    for (const key of [
      'sub',
      'iss',
      'aud',
      'exp',
      'scope',
      'roles',
      'client_id',
      'sid',
      'act',
      'cnf',
      'email',
      'preferred_username',
    ]) {
      await expect(
        stack.services.clientService.update('claims-web', { metadataClaims: ['org_id', key] }),
      ).rejects.toThrow(`Invalid client: reserved claim names cannot come from metadata: ${key}.`);
    }
    await expect(stack.services.clientService.update('claims-web', { userClaims: ['name'] })).rejects.toThrow(
      'unknown user claim: name',
    );
    await expect(
      stack.services.clientService.update('claims-web', {
        metadataClaims: Array.from({ length: 21 }, (_, i) => `k${i}`),
      }),
    ).rejects.toThrow('at most 20 metadata claims');
    // Even a token issued with such a claim keeps the real ones.
    const issued = await stack.services.tokens.issueAccessToken({
      subject: dana.id,
      clientId: 'claims-web',
      audience: API,
      scopes: ['orders'],
      roles: ['buyer'],
      ttlSeconds: 60,
      userClaims: {
        sub: 'someone-else',
        iss: 'https://evil.test',
        aud: 'https://admin.test',
        roles: ['admin'],
        scope: 'everything',
        org_id: 'org_42',
      },
    });
    expect(decodeJwt(issued.token).payload).toEqual(
      expect.objectContaining({
        sub: dana.id,
        iss: ISSUER,
        aud: API,
        roles: ['buyer'],
        scope: 'orders',
        org_id: 'org_42',
      }),
    );
  });

  it("stays under the verifiers' length cap with the largest metadata and every claim; refuses to sign a token over it", async () => {
    const big = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'é'.repeat(18)]));
    expect(Buffer.byteLength(JSON.stringify(big))).toBeLessThanOrEqual(1024);
    await stack.services.clientService.update('claims-web', { metadataClaims: Object.keys(big) });
    const long = `${'ü'.repeat(60)}@${'ö'.repeat(60)}.example`;
    await stack.services.users.create({
      username: long,
      password: PASSWORD,
      roles: Array.from({ length: 20 }, (_, i) => `role-number-${i}`),
      scopes: ['profile', 'email', 'orders'],
    });
    await setFields(long, { email: long, metadata: big });
    const res = await login('profile email orders', 'claims-web', long);
    expect(claimsOf(res)).toEqual(
      expect.objectContaining({ k19: 'é'.repeat(18), preferred_username: long, email: long }),
    );
    expect(res.body.access_token.length).toBeLessThan(MAX_TOKEN_LENGTH);
    await stack.services.clientService.update('claims-web', { metadataClaims: ['org_id', 'plan'] });

    await expect(
      stack.services.tokens.issueAccessToken({
        subject: dana.id,
        clientId: 'claims-web',
        audience: API,
        scopes: ['orders'],
        roles: [],
        ttlSeconds: 60,
        userClaims: { blob: 'x'.repeat(7000) },
      }),
    ).rejects.toThrow(/the access token would be \d+ characters, over the verifiers' limit of 8192/);
  });

  describe('admin API', () => {
    let adminToken: string;
    beforeAll(async () => {
      await stack.services.clientService.create({
        id: 'admin-cli',
        name: 'Admin',
        confidential: false,
        firstParty: true,
        grantTypes: ['password'],
        scopes: ['authd:admin'],
        defaultScopes: ['authd:admin'],
        audience: ISSUER,
      });
      await stack.services.users.create({ username: 'root', password: PASSWORD, scopes: ['authd:admin'] });
      adminToken = (
        await token(app, { grant_type: 'password', client_id: 'admin-cli', username: 'root', password: PASSWORD })
      ).body.access_token;
    });
    const patch = (path: string, body: object) =>
      request(app).patch(path).set('Authorization', `Bearer ${adminToken}`).send(body);

    it("sets a user's metadata and a client's claims; refuses oversized metadata and reserved claims with 400", async () => {
      const user = await patch(`/admin/users/${dana.id}`, { metadata: { org_id: 'org_9', plan: 'team' } });
      expect({
        status: user.status,
        metadata: user.body.metadata,
        email: user.body.email,
        email_verified: user.body.email_verified,
      }).toEqual({
        status: 200,
        metadata: { org_id: 'org_9', plan: 'team' },
        email: 'Dana@Example.com',
        email_verified: true,
      });
      const client = await patch('/admin/clients/claims-web', { user_claims: ['email'], metadata_claims: ['plan'] });
      expect({
        status: client.status,
        user_claims: client.body.user_claims,
        metadata_claims: client.body.metadata_claims,
      }).toEqual({ status: 200, user_claims: ['email'], metadata_claims: ['plan'] });
      const payload = claimsOf(await login('profile email orders'));
      expect({
        preferred_username: payload.preferred_username,
        email: payload.email,
        plan: payload.plan,
        org_id: payload.org_id,
      }).toEqual({ preferred_username: undefined, email: 'Dana@Example.com', plan: 'team', org_id: undefined });

      const tooBig = await patch(`/admin/users/${dana.id}`, { metadata: { blob: 'x'.repeat(1100) } });
      expect({ status: tooBig.status, body: tooBig.body }).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          code: 'invalid_metadata',
          error_description: 'Metadata must be at most 1024 bytes as JSON (this is 1111).',
        },
      });
      const reserved = await patch('/admin/clients/claims-web', { metadata_claims: ['sub'] });
      expect({ status: reserved.status, error: reserved.body.error }).toEqual({
        status: 400,
        error: 'invalid_request',
      });
    });
  });
});
