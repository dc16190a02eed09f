import { createLocalJWKSet, jwtVerify } from 'jose';
import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { basic, decodeJwt, passwordLogin, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

describe.each(backends())('password grant on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
  });
  afterAll(() => stack.close());

  it('issues an RFC 9068 access token and a refresh token with the default scope', async () => {
    const res = await passwordLogin(f.app);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    expect(res.body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.any(String),
      scope: 'profile read',
    });

    const jwks = (await request(f.app).get('/.well-known/jwks.json')).body;
    const { payload, protectedHeader } = await jwtVerify(res.body.access_token, createLocalJWKSet(jwks), {
      issuer: 'https://authd.test',
      audience: 'https://api.test',
      typ: 'at+jwt',
      currentDate: new Date(stack.clock.now()),
    });
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: expect.stringMatching(/^[\w-]{43}$/) });
    expect(payload).toEqual({
      iss: 'https://authd.test',
      sub: f.alice.id,
      aud: 'https://api.test',
      exp: Math.floor(stack.clock.now() / 1000) + 900,
      iat: Math.floor(stack.clock.now() / 1000),
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      client_id: 'web',
      scope: 'profile read',
      roles: ['user', 'editor'],
      sid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      // RFC 8176 / NIST SP 800-63B: a password alone.
      amr: ['pwd'],
      acr: 'aal1',
      auth_time: Math.floor(stack.clock.now() / 1000),
    });

    const refresh = decodeJwt(res.body.refresh_token);
    expect(refresh.header.typ).toBe('rt+jwt');
    expect(refresh.payload.aud).toBe('https://authd.test/oauth/token');
    expect(refresh.payload.sid).toBe(payload.sid);
    expect(refresh.payload.exp).toBe(Math.floor(stack.clock.now() / 1000) + 14 * 86400);
  });

  it('matches the username however it is cased or padded', async () => {
    const res = await passwordLogin(f.app, { username: '  ALICE@example.COM ' });
    expect(res.status).toBe(200);
  });

  it('grants a requested scope the client and user both have', async () => {
    const res = await passwordLogin(f.app, { scope: 'write read' });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('write read');
    expect(decodeJwt(res.body.access_token).payload.scope).toBe('write read');
  });

  it.each([
    ['a scope the client lacks', 'admin'],
    ['a scope the user lacks', 'profile read write'],
  ])('refuses %s with invalid_scope', async (_label, scope) => {
    if (scope === 'profile read write') await stack.services.users.setScopes('alice@example.com', ['profile', 'read']);
    const res = await passwordLogin(f.app, { scope });
    await stack.services.users.setScopes('alice@example.com', ['profile', 'read', 'write']);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_scope', error_description: expect.any(String) });
  });

  it('answers a wrong password and an unknown user identically', async () => {
    const wrong = await passwordLogin(f.app, { password: 'not the password' });
    const unknown = await passwordLogin(f.app, { username: 'nobody@example.com' });
    expect(wrong.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid username or password.' });
    expect(unknown.body).toEqual(wrong.body);
  });

  it('refuses a disabled user, and accepts the user again once enabled', async () => {
    await stack.services.users.setDisabled('alice@example.com', true);
    const refused = await passwordLogin(f.app);
    await stack.services.users.setDisabled('alice@example.com', false);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_grant');
    expect((await passwordLogin(f.app)).status).toBe(200);
  });

  it('lets a confidential first-party client log users in with Basic or post authentication', async () => {
    const viaBasic = await token(
      f.app,
      { grant_type: 'password', username: 'alice@example.com', password: PASSWORD },
      { Authorization: basic(f.backend.id, f.backend.secret) },
    );
    expect(viaBasic.status).toBe(200);
    expect(viaBasic.body.scope).toBe('profile');
    const viaPost = await token(f.app, {
      grant_type: 'password',
      client_id: f.backend.id,
      client_secret: f.backend.secret,
      username: 'alice@example.com',
      password: PASSWORD,
    });
    expect(viaPost.status).toBe(200);
  });

  it('refuses the password grant to a client not allowed it (unauthorized_client)', async () => {
    const res = await token(
      f.app,
      { grant_type: 'password', username: 'alice@example.com', password: PASSWORD },
      { Authorization: basic(f.thirdParty.id, f.thirdParty.secret) },
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unauthorized_client');
  });

  it.each([
    ['username', { username: '' }],
    ['password', { password: '' }],
  ])('answers invalid_request when %s is missing', async (_name, override) => {
    const res = await passwordLogin(f.app, override);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('rehashes a password stored with outdated Argon2 parameters on a successful login', async () => {
    const user = await stack.services.userRepository.findByNormalizedUsername('alice@example.com');
    const argon2 = await import('argon2');
    const oldHash = await argon2.hash(PASSWORD, {
      type: argon2.argon2id,
      memoryCost: 4096,
      timeCost: 1,
      parallelism: 1,
    });
    await stack.services.userRepository.update(user!.id, { passwordHash: oldHash }, new Date(stack.clock.now()));

    expect((await passwordLogin(f.app)).status).toBe(200);
    const after = await stack.services.userRepository.findByNormalizedUsername('alice@example.com');
    expect(after!.passwordHash).not.toBe(oldHash);
    expect(after!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=8192,p=1,t=1\$/);
    expect((await passwordLogin(f.app)).status).toBe(200);
  });

  it('never puts the password or its hash in a response', async () => {
    const res = await passwordLogin(f.app, { password: 'wrong-password-123' });
    expect(JSON.stringify(res.body)).not.toContain('wrong-password-123');
    expect(JSON.stringify(res.body)).not.toContain('$argon2');
  });
});
