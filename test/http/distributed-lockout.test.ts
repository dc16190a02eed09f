import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * The per-user ceiling must slow a distributed guess without handing the attacker a lockout of
 * the owner. The reproduction: 10 source addresses × 5 wrong passwords, with the default limits.
 * The owner still gets in from a network they logged in from before, and from a browser holding
 * the device cookie of an earlier sign-in; fresh addresses are refused without a password check.
 */

const APP_ORIGIN = 'https://app.test';
const WRONG = 'not the password at all';
const ADMIN_PASSWORD = 'admin horse battery staple';

describe.each(backends({ postgresWithoutRedis: true }))('distributed guessing at one account on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let seq = 0;
  const address = () => {
    ++seq;
    return `10.7.${seq >> 8}.${seq & 255}`;
  };

  function login(ip: string, password: string, extra: { clientId?: string; headers?: Record<string, string> } = {}) {
    return token(
      f.app,
      { grant_type: 'password', client_id: extra.clientId ?? 'web', username: 'alice@example.com', password },
      { 'X-Forwarded-For': ip, ...extra.headers },
    );
  }

  /** A sign-in through the cookie-mode client: its device cookie (name=value). */
  async function browserSignIn(ip: string, username = 'alice@example.com'): Promise<string> {
    const res = await token(
      f.app,
      { grant_type: 'password', client_id: 'spa', username, password: PASSWORD },
      { 'X-Forwarded-For': ip, Origin: APP_ORIGIN },
    );
    expect(res.status).toBe(200);
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] as unknown as string[]);
    const device = cookies.find((c) => c.startsWith('authd_device='))!;
    expect(device).toMatch(
      /^authd_device=\d+\.[\w-]{43}; Path=\/oauth; Max-Age=7776000; HttpOnly; SameSite=Strict; Secure$/,
    );
    return device.split(';')[0];
  }

  /** The reproduction: ten addresses, five wrong passwords each, each answered invalid_grant. */
  async function distributedAttack(): Promise<void> {
    for (let a = 0; a < 10; a++) {
      const ip = address();
      for (let i = 0; i < 5; i++) {
        const res = await login(ip, `${WRONG} ${a}.${i}`);
        expect({ a, i, status: res.status }).toEqual({ a, i, status: 400 });
      }
    }
  }

  function expectUserLimit(res: request.Response): void {
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 429, error: 'temporarily_unavailable' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  }

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_TRUST_PROXY: 'loopback', AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '60000' });
    f = await seed(stack);
    await stack.services.clientService.create({
      id: 'spa',
      name: 'Web app',
      confidential: false,
      firstParty: true,
      grantTypes: ['password', 'refresh_token'],
      scopes: ['profile'],
      defaultScopes: ['profile'],
      audience: 'https://api.test',
      cookieMode: true,
      allowedOrigins: [APP_ORIGIN],
    });
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
    await stack.services.users.create({
      username: 'root@example.com',
      password: ADMIN_PASSWORD,
      scopes: ['authd:admin'],
    });
  }, 180_000); // a loaded machine can take half a minute to start PGlite
  // Each test in a fresh window, its locks long gone.
  beforeEach(() => stack.clock.advance(2 * 3600_000));
  afterAll(() => stack.close());

  it('runs with the default limits: 5 failures per user+IP, 10 networks per user', () => {
    expect(stack.config.loginThrottle).toMatchObject({ userIpFailures: 5, userFailures: 10 });
  });

  it('lets the owner in from a network they signed in from before; a fresh address is refused without a password check', async () => {
    const home = address();
    expect((await login(home, PASSWORD)).status).toBe(200);
    await distributedAttack();

    const hashing = jest.spyOn(stack.services.limiter, 'run');
    expectUserLimit(await login(address(), WRONG));
    expectUserLimit(await login(address(), PASSWORD));
    expect(hashing).not.toHaveBeenCalled();
    hashing.mockRestore();

    expect((await login(home, PASSWORD)).status).toBe(200);
    const throttled = (await stack.services.audit.query({ types: ['login_throttled'], limit: 10 }))[0];
    expect(throttled.details).toMatchObject({ reason: 'user_limit' });
  });

  it('lets the owner in from a fresh network with the device cookie of an earlier browser sign-in, and nobody else', async () => {
    const device = await browserSignIn(address());
    await distributedAttack();

    const cafe = address();
    expectUserLimit(await login(cafe, PASSWORD, { clientId: 'spa', headers: { Origin: APP_ORIGIN } }));
    const forged = device.replace(/\.[\w-]{43}$/, `.${'A'.repeat(43)}`);
    expectUserLimit(await login(cafe, PASSWORD, { clientId: 'spa', headers: { Origin: APP_ORIGIN, Cookie: forged } }));
    const res = await login(cafe, PASSWORD, { clientId: 'spa', headers: { Origin: APP_ORIGIN, Cookie: device } });
    expect(res.status).toBe(200);
  });

  it("does not let one user's device cookie vouch for another user", async () => {
    await stack.services.users.create({ username: 'bob@example.com', password: PASSWORD, scopes: ['profile'] });
    const bobsDevice = await browserSignIn(address(), 'bob@example.com');
    await distributedAttack();
    expectUserLimit(
      await login(address(), PASSWORD, { clientId: 'spa', headers: { Origin: APP_ORIGIN, Cookie: bobsDevice } }),
    );
  });

  it('keeps the user+IP lock for a known network: five wrong passwords from home lock home', async () => {
    const home = address();
    expect((await login(home, PASSWORD)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login(home, `${WRONG} ${i}`)).status).toBe(400);
    const locked = await login(home, PASSWORD);
    expect({ status: locked.status, retryAfter: locked.headers['retry-after'] }).toEqual({
      status: 429,
      retryAfter: '60',
    });
  });

  it('POST /admin/users/{id}/unlock clears the ceiling at once and is audited with the admin as actor', async () => {
    await distributedAttack();
    const fresh = address();
    expectUserLimit(await login(fresh, PASSWORD));

    const admin = await token(
      f.app,
      { grant_type: 'password', client_id: 'admin-cli', username: 'root@example.com', password: ADMIN_PASSWORD },
      { 'X-Forwarded-For': address() },
    );
    expect(admin.status).toBe(200);
    const bearer = { Authorization: `Bearer ${admin.body.access_token}` };
    const res = await request(f.app).post(`/admin/users/${f.alice.id}/unlock`).set(bearer);
    expect(res.status).toBe(204);
    expect((await login(fresh, PASSWORD)).status).toBe(200);

    const [event] = await stack.services.audit.query({ types: ['user_unlocked'], userId: f.alice.id, limit: 1 });
    expect(event).toMatchObject({ type: 'user_unlocked', userId: f.alice.id, details: { actor: expect.any(String) } });

    expect(
      (await request(f.app).post('/admin/users/00000000-0000-4000-8000-000000000000/unlock').set(bearer)).status,
    ).toBe(404);
    const notAdmin = await login(address(), PASSWORD);
    expect(
      (
        await request(f.app)
          .post(`/admin/users/${f.alice.id}/unlock`)
          .set({ Authorization: `Bearer ${notAdmin.body.access_token}` })
      ).status,
    ).toBe(401);
  });
});
