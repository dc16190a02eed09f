/**
 * Access tokens carry roles and scopes until they expire. Taking one away from a user — through
 * the admin API, or the service behind `authd users set-roles|set-scopes` — writes the user's
 * "not before", so a demoted admin's token stops working at once; the session itself continues
 * and its next refresh carries only what is left.
 */
import crypto from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, PASSWORD, seed, seedResourceServer, token } from '../support/fixtures';

const ISSUER = 'https://authd.test';
const SECOND = 1000;
const REVOKED = { error: 'invalid_token', error_description: 'The token has been revoked.' };

describe.each(backends({ postgresWithoutRedis: true }))('demoting a user on $name', (backend) => {
  let stack: TestStack;
  let app: Express;
  let api: { id: string; secret: string };
  let rootToken: string;

  beforeAll(async () => {
    stack = await openStack(backend);
    app = (await seed(stack)).app;
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
    await stack.services.users.create({ username: 'root@example.com', password: PASSWORD, scopes: ['authd:admin'] });
  });
  afterAll(() => stack.close());

  beforeEach(async () => {
    stack.clock.advance(2 * SECOND); // past any "not before" an earlier test wrote
    rootToken = (await login('root@example.com')).access;
  });

  async function login(username: string, clientId = 'admin-cli'): Promise<{ access: string; refresh: string }> {
    const res = await token(app, { grant_type: 'password', client_id: clientId, username, password: PASSWORD });
    expect(res.status).toBe(200);
    return { access: res.body.access_token, refresh: res.body.refresh_token };
  }
  const newUser = (roles: string[], scopes: string[]) =>
    stack.services.users.create({
      username: `user-${crypto.randomUUID()}@example.com`,
      password: PASSWORD,
      roles,
      scopes,
    });
  const adminKeys = (bearer: string) => request(app).get('/admin/keys').set('Authorization', `Bearer ${bearer}`);
  const patch = (id: string, body: object) =>
    request(app).patch(`/admin/users/${id}`).set('Authorization', `Bearer ${rootToken}`).send(body);
  const active = async (accessToken: string) =>
    (
      await request(app)
        .post('/oauth/introspect')
        .type('form')
        .set('Authorization', basic(api.id, api.secret))
        .send({ token: accessToken })
    ).body.active;
  /** The user's "not before" as the verifier kit reads it from Redis (null on the embedded backend). */
  const indexedNotBefore = (userId: string) =>
    stack.services.redis?.get(`{rv}:user:${userId}`) ?? Promise.resolve(null);

  it("PATCH removing the admin scope ends the demoted admin's token at once at /admin, introspection and in the index; the session continues with less", async () => {
    const bob = await newUser([], ['authd:admin']);
    const bobs = await login(bob.username);
    expect((await adminKeys(bobs.access)).status).toBe(200);

    const res = await patch(bob.id, { scopes: [] });
    expect(res.status).toBe(200);
    expect({ status: (await adminKeys(bobs.access)).status, body: (await adminKeys(bobs.access)).body }).toEqual({
      status: 401,
      body: REVOKED,
    });
    expect(await active(bobs.access)).toBe(false);
    if (stack.backend === 'postgres+redis') expect(await indexedNotBefore(bob.id)).toBe(String(stack.clock.now()));

    // The session was not ended: the next refresh works, without the scope that was taken away.
    stack.clock.advance(SECOND);
    const refreshed = await token(app, {
      grant_type: 'refresh_token',
      client_id: 'admin-cli',
      refresh_token: bobs.refresh,
    });
    expect({ status: refreshed.status, scope: refreshed.body.scope }).toEqual({ status: 200, scope: '' });
    expect((await adminKeys(refreshed.body.access_token)).status).toBe(403);

    await stack.services.audit.flush();
    const [event] = await stack.services.audit.query({ types: ['user_scopes_changed'], userId: bob.id, limit: 1 });
    expect(event.details).toEqual(
      expect.objectContaining({ scopes: [], removed: ['authd:admin'], tokens_revoked: true }),
    );
  });

  it('removing a role through the service (what `authd users set-roles` calls) ends the tokens that carry it', async () => {
    const carol = await newUser(['editor', 'user'], ['profile']);
    const carols = await login(carol.username, 'web');
    expect(decodeJwt(carols.access).payload.roles).toEqual(['editor', 'user']);
    expect(await active(carols.access)).toBe(true);

    await stack.services.users.setRoles(carol.username, ['user']);
    expect(await active(carols.access)).toBe(false);
    if (stack.backend === 'postgres+redis') expect(await indexedNotBefore(carol.id)).toBe(String(stack.clock.now()));
  });

  it('removing a scope through the service (`authd users set-scopes`) does the same', async () => {
    const dave = await newUser([], ['profile', 'read']);
    const daves = await login(dave.username, 'web');
    await stack.services.users.setScopes({ id: dave.id }, ['profile']);
    expect(await active(daves.access)).toBe(false);
  });

  it('adding roles or scopes, or setting the same ones again, leaves the tokens alone', async () => {
    const erin = await newUser(['user'], ['authd:admin']);
    const erins = await login(erin.username);
    expect((await patch(erin.id, { roles: ['user', 'support'], scopes: ['authd:admin', 'profile'] })).status).toBe(200);
    await stack.services.users.setRoles({ id: erin.id }, ['support', 'user']);
    expect((await adminKeys(erins.access)).status).toBe(200);
    expect(await active(erins.access)).toBe(true);
    expect(await indexedNotBefore(erin.id)).toBeNull();
    await stack.services.audit.flush();
    const [event] = await stack.services.audit.query({ types: ['user_roles_changed'], userId: erin.id, limit: 1 });
    expect(event.details).toEqual({ roles: ['support', 'user'] });
  });
});
