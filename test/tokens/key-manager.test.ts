import { backends, openStack, type TestStack } from '../support/backends';
import { domainError } from '../support/domain-error';
import { basic, decodeJwt, PASSWORD, seed, token, type Fixtures } from '../support/fixtures';
import request from 'supertest';

const publishedKids = (stack: TestStack): string[] =>
  (JSON.parse(stack.services.ring.jwks().body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();

/**
 * Every change made through the key manager reaches this instance's ring before the call returns.
 * The ring's background refresh never runs here (openStack starts none) and its interval is an
 * hour, so anything the ring knows after a change it learned from the manager's reload.
 */
describe.each(backends())('the key manager on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_KEY_RING_REFRESH: '3600' });
    f = await seed(stack);
  });
  afterAll(() => stack.close());

  const machineToken = async () => {
    const res = await token(
      f.app,
      { grant_type: 'client_credentials' },
      { Authorization: basic('machine', f.machine.secret) },
    );
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 200, error: undefined });
    return res.body.access_token as string;
  };

  it('rotate --immediate: the very next token is signed by the new key, which the JWKS publishes', async () => {
    const before = stack.services.ring.signingKey().kid;
    const key = await stack.services.keys.rotate({ immediate: true });
    expect(key.kid).not.toBe(before);
    expect(stack.services.ring.signingKey().kid).toBe(key.kid);
    expect(publishedKids(stack)).toEqual([before, key.kid].sort());
    expect(decodeJwt(await machineToken()).header.kid).toBe(key.kid);
  });

  it('a standby rotation is in the ring at once, and retiring that standby key shows at once too', async () => {
    const signing = stack.services.ring.signingKey().kid;
    const standby = await stack.services.keys.rotate();
    expect(stack.services.ring.states().find((k) => k.kid === standby.kid)?.state).toBe('standby');
    expect(publishedKids(stack)).toContain(standby.kid);
    // The current key was scheduled to retire when the standby activates: the ring has the schedule.
    expect(stack.services.ring.key(signing)?.retiresAt).toEqual(standby.activatesAt);
    await stack.services.keys.retire(standby.kid);
    // Retiring a key that never signed cancels the rotation: the current key's retirement is gone.
    expect(stack.services.ring.key(signing)?.retiresAt).toBeNull();
    expect(stack.services.ring.key(standby.kid)?.retiresAt).toEqual(new Date(stack.clock.now()));
    expect(stack.services.ring.signingKey().kid).toBe(signing);
  });

  it('revoke: the key leaves the ring at once (no signing, no verifying, not published)', async () => {
    const old = stack.services.ring.signingKey().kid;
    const oldToken = await machineToken();
    const next = await stack.services.keys.rotate({ immediate: true });
    const { liveRefreshTokens } = await stack.services.keys.revoke(old);
    expect(liveRefreshTokens).toBe(0);
    expect(stack.services.ring.key(old)).toBeUndefined();
    expect(stack.services.ring.revokedKey(old)).toBeDefined();
    expect(publishedKids(stack)).not.toContain(old);
    await expect(stack.services.tokens.verifyAccessToken(oldToken)).rejects.toThrow();
    expect(stack.services.ring.signingKey().kid).toBe(next.kid);
  });

  it('a refused change throws the domain error and leaves the ring as it was', async () => {
    const signing = stack.services.ring.signingKey().kid;
    const before = stack.services.ring.states().map((k) => `${k.kid}:${k.state}`);
    expect(await domainError(stack.services.keys.retire('no-such-kid'))).toEqual({
      kind: 'not_found',
      message: 'No signing key with kid no-such-kid.',
    });
    expect(await domainError(stack.services.keys.rotate({ revokeOld: true }))).toEqual({
      kind: 'invalid',
      message: 'Revoking the old keys needs an immediate rotation: nothing else could sign.',
    });
    expect(stack.services.ring.states().map((k) => `${k.kid}:${k.state}`)).toEqual(before);
    expect(stack.services.ring.signingKey().kid).toBe(signing);
  });

  it('POST /admin/keys/rotate: the next token is signed by the new key without waiting for the ring refresh', async () => {
    await stack.services.clientService.create({
      id: 'admin-cli',
      name: 'Admin',
      confidential: false,
      firstParty: true,
      grantTypes: ['password'],
      scopes: ['authd:admin'],
      defaultScopes: ['authd:admin'],
      audience: stack.config.issuer,
    });
    await stack.services.users.create({ username: 'root@example.com', password: PASSWORD, scopes: ['authd:admin'] });
    const login = await token(f.app, {
      grant_type: 'password',
      client_id: 'admin-cli',
      username: 'root@example.com',
      password: PASSWORD,
    });
    expect(login.status).toBe(200);
    const before = stack.services.ring.signingKey().kid;
    const rotated = await request(f.app)
      .post('/admin/keys/rotate')
      .set('Authorization', `Bearer ${login.body.access_token}`)
      .send({ immediate: true });
    expect(rotated.status).toBe(201);
    expect(rotated.body.kid).not.toBe(before);
    expect(decodeJwt(await machineToken()).header.kid).toBe(rotated.body.kid);
    const jwks = await request(f.app).get('/.well-known/jwks.json');
    expect((jwks.body.keys as Array<{ kid: string }>).map((k) => k.kid)).toContain(rotated.body.kid);
  });
});
