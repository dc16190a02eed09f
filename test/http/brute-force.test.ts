import { createApp } from '../../src/app';
import { CapacityError } from '../../src/users/hash-limiter';
import { backends, openStack, type TestStack } from '../support/backends';
import { PASSWORD, seed, token, type Fixtures } from '../support/fixtures';

/**
 * Brute-force protection at the token endpoint, with the default limits (5 failures per user+IP,
 * then 60 s doubling). Each test guesses from its own address (X-Forwarded-For, trusted here), so
 * the tests share no user+IP counter. The clock is the injectable test clock: nothing sleeps.
 */

const WRONG = 'not the password at all';
const INVALID_GRANT = { error: 'invalid_grant', error_description: 'Invalid username or password.' };

describe.each(backends({ postgresWithoutRedis: true }))('brute-force protection over HTTP on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  let seq = 0;
  const address = () => `198.51.100.${++seq}`;

  /** A password login on the public client `web` from `ip`. */
  function login(ip: string, password: string, username = 'alice@example.com') {
    return token(f.app, { grant_type: 'password', client_id: 'web', username, password }, { 'X-Forwarded-For': ip });
  }

  /** Five wrong passwords from ip, each answered 400 invalid_grant. */
  async function guessFiveTimes(ip: string, username = 'alice@example.com'): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const res = await login(ip, `${WRONG} ${i}`, username);
      expect({ attempt: i + 1, status: res.status, body: res.body }).toEqual({
        attempt: i + 1,
        status: 400,
        body: INVALID_GRANT,
      });
    }
  }

  function expectThrottled(
    res: { status: number; headers: Record<string, string>; body: unknown },
    seconds: number,
  ): void {
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe(String(seconds));
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      error: 'temporarily_unavailable',
      error_description: expect.stringMatching(new RegExp(`try again in ${seconds} seconds`)),
    });
  }

  beforeAll(async () => {
    // A generous Argon2 queue timeout: this file is about the throttle, and a busy test machine must
    // not turn an admitted guess into a 503 (test/http/argon2-capacity.test.ts covers capacity).
    stack = await openStack(backend, { AUTHD_TRUST_PROXY: 'loopback', AUTHD_ARGON2_QUEUE_TIMEOUT_MS: '60000' });
    f = await seed(stack);
    await stack.services.users.create({ username: 'bob@example.com', password: PASSWORD, scopes: ['profile', 'read'] });
  });
  // alice's per-user ceiling (50 across addresses) would fill up over the file: every test starts in a fresh window.
  beforeEach(() => stack.clock.advance(16 * 60_000));
  afterEach(() => jest.restoreAllMocks());
  afterAll(() => stack.close());

  it('runs with the default limits: 5 failures per user+IP, 60 s lockout', () => {
    expect(stack.config.loginThrottle).toMatchObject({ userIpFailures: 5, lockoutBaseMs: 60_000 });
  });

  it('answers 5 wrong passwords with invalid_grant, then 429 Retry-After: 60 — even for the right password', async () => {
    const ip = address();
    await guessFiveTimes(ip);
    expectThrottled(await login(ip, PASSWORD), 60);
    expectThrottled(await login(ip, WRONG), 60);
  });

  it('runs no password check (no Argon2) for a refused attempt', async () => {
    const ip = address();
    const verifyLogin = jest.spyOn(stack.services.users, 'verifyLogin');
    const hashing = jest.spyOn(stack.services.limiter, 'run');
    await guessFiveTimes(ip);
    // The spies do see the admitted attempts.
    expect(verifyLogin).toHaveBeenCalledTimes(5);
    expect(hashing).toHaveBeenCalledTimes(5);

    verifyLogin.mockClear();
    hashing.mockClear();
    expectThrottled(await login(ip, PASSWORD), 60);
    expectThrottled(await login(ip, WRONG), 60);
    expect(verifyLogin).not.toHaveBeenCalled();
    expect(hashing).not.toHaveBeenCalled();
  });

  it('leaves the same user at another IP, and another user at the same IP, unaffected', async () => {
    const ip = address();
    await guessFiveTimes(ip);
    expectThrottled(await login(ip, PASSWORD), 60);

    expect((await login(address(), PASSWORD)).status).toBe(200);
    expect((await login(ip, PASSWORD, 'bob@example.com')).status).toBe(200);
    expect((await login(ip, WRONG, 'bob@example.com')).body).toEqual(INVALID_GRANT);
    // Still locked for alice at the first address.
    expectThrottled(await login(ip, PASSWORD), 60);
  });

  it('lets the right password in once the lock has passed, and clears the counter', async () => {
    const ip = address();
    await guessFiveTimes(ip);
    expectThrottled(await login(ip, PASSWORD), 60);
    stack.clock.advance(30_000);
    expectThrottled(await login(ip, PASSWORD), 30);
    stack.clock.advance(31_000);
    expect((await login(ip, PASSWORD)).status).toBe(200);
    // The success reset the counter: five fresh wrong guesses before the next lock.
    await guessFiveTimes(ip);
    expectThrottled(await login(ip, PASSWORD), 60);
  });

  it('doubles the lock when the guessing goes on after it passes', async () => {
    const ip = address();
    await guessFiveTimes(ip);
    stack.clock.advance(61_000);
    expect((await login(ip, WRONG)).body).toEqual(INVALID_GRANT);
    expectThrottled(await login(ip, PASSWORD), 120);
  });

  it('throttles an unknown username exactly like a real one (no enumeration through the lock)', async () => {
    const ip = address();
    await guessFiveTimes(ip, 'nobody@example.com');
    const unknown = await login(ip, PASSWORD, 'nobody@example.com');
    expectThrottled(unknown, 60);

    const ip2 = address();
    await guessFiveTimes(ip2);
    const known = await login(ip2, PASSWORD);
    expect(known.body).toEqual(unknown.body);
    expect(known.headers['retry-after']).toBe(unknown.headers['retry-after']);
  });

  it('counts differently written forms of one username as one user', async () => {
    const ip = address();
    const spellings = [
      'alice@example.com',
      'ALICE@example.com',
      '  Alice@Example.COM ',
      'alice@EXAMPLE.com',
      'aLiCe@example.com',
    ];
    for (const username of spellings) expect((await login(ip, WRONG, username)).status).toBe(400);
    expectThrottled(await login(ip, PASSWORD, 'Alice@Example.com'), 60);
  });

  it('audits wrong passwords as login_failed and refusals as login_throttled', async () => {
    const ip = address();
    await guessFiveTimes(ip);
    expectThrottled(await login(ip, PASSWORD), 60);
    expectThrottled(await login(ip, PASSWORD), 60);

    const failed = (await stack.services.audit.query({ types: ['login_failed'], limit: 1000 })).filter(
      (e) => e.ip === ip,
    );
    expect(failed).toHaveLength(5);
    for (const event of failed) {
      expect(event).toMatchObject({
        type: 'login_failed',
        userId: f.alice.id,
        clientId: 'web',
        ip,
        details: { reason: 'wrong_password' },
      });
    }
    const throttled = (await stack.services.audit.query({ types: ['login_throttled'], limit: 1000 })).filter(
      (e) => e.ip === ip,
    );
    expect(throttled).toHaveLength(2);
    for (const event of throttled) {
      expect(event).toMatchObject({
        type: 'login_throttled',
        clientId: 'web',
        ip,
        details: { reason: 'user_ip_locked', retry_after: 60 },
      });
    }
    // Neither carries the password.
    expect(JSON.stringify([...failed, ...throttled])).not.toContain(WRONG);
    expect(JSON.stringify([...failed, ...throttled])).not.toContain(PASSWORD);
  });

  it('admits exactly 5 of 20 parallel wrong guesses over HTTP; the other 15 get 429', async () => {
    const ip = address();
    const verifyLogin = jest.spyOn(stack.services.users, 'verifyLogin');
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => login(ip, `${WRONG} ${i}`)));
    const counts: Record<number, number> = {};
    for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
    expect(counts).toEqual({ 400: 5, 429: 15 });
    for (const res of responses.filter((r) => r.status === 429)) expectThrottled(res, 60);
    expect(verifyLogin).toHaveBeenCalledTimes(5);
  });

  it('does not let rotating X-Forwarded-For values escape the lock when no proxy is trusted', async () => {
    // The same services behind an app that trusts no proxy: every request counts at the socket address.
    const untrusting = createApp({ ...stack.config, trustProxy: false }, stack.services);
    const spoofed = (password: string) =>
      token(
        untrusting,
        { grant_type: 'password', client_id: 'web', username: 'alice@example.com', password },
        { 'X-Forwarded-For': address() },
      );
    for (let i = 0; i < 5; i++) expect((await spoofed(WRONG)).status).toBe(400);
    expectThrottled(await spoofed(PASSWORD), 60);
    expectThrottled(await spoofed(PASSWORD), 60);
  });

  // throttle.begin() counts the attempt before the password check; when the check itself cannot
  // run (Argon2 at capacity: "503, busy, Retry-After: 1") the attempt is given back, or a client
  // that honours Retry-After and retries with the RIGHT password would be locked out after five.
  it('does not count a login refused at Argon2 capacity (503) as a failed attempt', async () => {
    const ip = address();
    const hashing = jest.spyOn(stack.services.limiter, 'run').mockRejectedValue(new CapacityError());
    for (let i = 0; i < 5; i++) {
      const busy = await login(ip, PASSWORD);
      expect({ status: busy.status, retryAfter: busy.headers['retry-after'], error: busy.body.error }).toEqual({
        status: 503,
        retryAfter: '1',
        error: 'temporarily_unavailable',
      });
    }
    hashing.mockRestore();
    // Capacity is back; the user never entered a wrong password.
    const res = await login(ip, PASSWORD);
    expect({ status: res.status, body: res.body.error ?? 'tokens issued' }).toEqual({
      status: 200,
      body: 'tokens issued',
    });
  });

  it('logs the user in again at once after throttle.unlock (what `authd users unlock` calls)', async () => {
    const [ip, ip2] = [address(), address()];
    await guessFiveTimes(ip);
    await guessFiveTimes(ip2);
    expectThrottled(await login(ip, PASSWORD), 60);
    expectThrottled(await login(ip2, PASSWORD), 60);

    await stack.services.throttle.unlock('alice@example.com');
    expect((await login(ip, PASSWORD)).status).toBe(200);
    expect((await login(ip2, PASSWORD)).status).toBe(200);
  });
});
