import { createDatabaseLoginThrottle } from '../../src/abuse/database-login-throttle';
import type { LoginThrottle, ThrottleDecision } from '../../src/abuse/login-throttle';
import { backends, openStack, type Backend, type TestStack } from '../support/backends';

/**
 * The contract of the login throttle, run against every implementation behind the interface:
 *   - the Redis script (stack.services.throttle on postgres+redis),
 *   - the database transaction on the embedded database (stack.services.throttle on embedded),
 *   - the database transaction on real Postgres (what a deployment with DATABASE_URL but no
 *     REDIS_URL runs; real row locks and a connection pool, unlike single-connection PGlite).
 * Times come from the injectable test clock on every implementation: nothing sleeps.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const WINDOW = 15 * MINUTE;

const LIMITS = {
  AUTHD_LOGIN_MAX_FAILURES: '5',
  AUTHD_LOGIN_MAX_FAILURES_PER_IP: '20',
  AUTHD_LOGIN_MAX_FAILURES_PER_USER: '12',
  AUTHD_LOGIN_LOCKOUT: '60',
  AUTHD_LOGIN_LOCKOUT_MAX: '600',
};

interface Implementation {
  name: string;
  backend: Backend;
  /** The database implementation reads its rows from login_throttle; the Redis one must leave that table alone. */
  storesInDatabase: boolean;
  pick(stack: TestStack): LoginThrottle;
}

const implementations: Implementation[] = backends().flatMap((backend): Implementation[] =>
  backend.redisUrl
    ? [
        {
          name: 'the Redis script (postgres+redis)',
          backend,
          storesInDatabase: false,
          pick: (s) => s.services.throttle,
        },
        {
          name: 'the database throttle on real Postgres',
          backend,
          storesInDatabase: true,
          pick: (s) => createDatabaseLoginThrottle(s.services.db, s.config.loginThrottle, s.clock),
        },
      ]
    : [
        {
          name: `the database throttle (${backend.name})`,
          backend,
          storesInDatabase: true,
          pick: (s) => s.services.throttle,
        },
      ],
);

const ALLOWED: ThrottleDecision = { allowed: true };

/**
 * The decisions as a caller sees them: `lockSetAt` (which attempt armed the lock, for release())
 * is bookkeeping, checked by the release tests in test/http/brute-force.test.ts.
 */
function withoutLockMarks(throttle: LoginThrottle): LoginThrottle {
  return {
    ...throttle,
    async begin(username, ip, options) {
      const decision = await throttle.begin(username, ip, options);
      if (!decision.allowed) return decision;
      return { allowed: true };
    },
  };
}
const locked = (retryAfterSeconds: number): ThrottleDecision => ({
  allowed: false,
  reason: 'user_ip_locked',
  retryAfterSeconds,
});

describe.each(implementations)('login throttle: $name', (impl) => {
  let stack: TestStack;
  let throttle: LoginThrottle;

  // Every test takes fresh usernames and addresses, so tests share no counters (they do share the clock).
  let seq = 0;
  const user = () => `user-${++seq}@example.com`;
  const ip = () => {
    ++seq;
    return `10.${(seq >> 16) & 255}.${(seq >> 8) & 255}.${seq & 255}`;
  };

  /** n attempts one after the other; their decisions. */
  async function attempts(n: number, username: string, address: string): Promise<ThrottleDecision[]> {
    const decisions: ThrottleDecision[] = [];
    for (let i = 0; i < n; i++) decisions.push(await throttle.begin(username, address));
    return decisions;
  }

  /** Locks username at address: exactly five admitted attempts, the last of which sets the lock. */
  async function lock(username: string, address: string): Promise<void> {
    expect(await attempts(5, username, address)).toEqual(Array(5).fill(ALLOWED));
    expect(await throttle.begin(username, address)).toEqual(locked(60));
  }

  beforeAll(async () => {
    stack = await openStack(impl.backend, LIMITS);
    throttle = withoutLockMarks(impl.pick(stack));
  }, 180_000); // a loaded machine can take half a minute to start PGlite
  afterAll(() => stack.close());

  it('is configured with the small limits of this suite, on the intended store', async () => {
    expect(stack.config.loginThrottle).toEqual({
      userIpFailures: 5,
      ipFailures: 20,
      userFailures: 12,
      windowMs: WINDOW,
      lockoutBaseMs: 60 * SECOND,
      lockoutMaxMs: 600 * SECOND,
    });
    await throttle.begin(user(), ip());
    const [{ n }] = await stack.services.db.query<{ n: number }>('SELECT count(*)::int AS n FROM login_throttle');
    if (impl.storesInDatabase) expect(n).toBeGreaterThan(0);
    else expect(n).toBe(0);
  });

  it('admits exactly 5 of 20 parallel attempts at one user+IP and refuses the rest with user_ip_locked, 60 s', async () => {
    const [u, a] = [user(), ip()];
    const decisions = await Promise.all(Array.from({ length: 20 }, () => throttle.begin(u, a)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions.filter((d) => !d.allowed)).toEqual(Array(15).fill(locked(60)));
    // The refused attempts were not counted: the lock is still the first one.
    expect(await throttle.begin(u, a)).toEqual(locked(60));
  });

  it('counts the lock down with the clock and admits the next attempt the moment it ends', async () => {
    const [u, a] = [user(), ip()];
    expect(await attempts(4, u, a)).toEqual(Array(4).fill(ALLOWED));
    expect(await throttle.begin(u, a)).toEqual(ALLOWED); // the 5th is still checked, and locks
    expect(await throttle.begin(u, a)).toEqual(locked(60));
    stack.clock.advance(30 * SECOND);
    expect(await throttle.begin(u, a)).toEqual(locked(30));
    stack.clock.advance(29_500);
    expect(await throttle.begin(u, a)).toEqual(locked(1)); // rounds up, never 0
    stack.clock.advance(500);
    expect(await throttle.begin(u, a)).toEqual(ALLOWED);
  });

  it('doubles the lock with every further failure after it passes — 60, 120, 240, 480 s — capped at 600 s', async () => {
    const [u, a] = [user(), ip()];
    await lock(u, a);
    // [the lock that is waited out, the lock the next failure sets]
    for (const [wait, next] of [
      [60, 120],
      [120, 240],
      [240, 480],
      [480, 600],
      [600, 600],
    ]) {
      stack.clock.advance(wait * SECOND);
      expect(await throttle.begin(u, a)).toEqual(ALLOWED);
      expect(await throttle.begin(u, a)).toEqual(locked(next));
    }
  });

  it('keeps a lock long enough: one second before it ends the attempt is still refused', async () => {
    const [u, a] = [user(), ip()];
    await lock(u, a);
    stack.clock.advance(60 * SECOND);
    expect(await throttle.begin(u, a)).toEqual(ALLOWED);
    stack.clock.advance(119 * SECOND);
    expect(await throttle.begin(u, a)).toEqual(locked(1));
  });

  it('leaves another user at the same IP, and the same user at another IP, unaffected', async () => {
    const [alice, bob, home, office] = [user(), user(), ip(), ip()];
    await lock(alice, home);
    expect(await attempts(4, bob, home)).toEqual(Array(4).fill(ALLOWED));
    expect(await attempts(4, alice, office)).toEqual(Array(4).fill(ALLOWED));
    expect(await throttle.begin(alice, home)).toEqual(locked(60));
  });

  it('clears the user+IP counter on success: five more attempts are admitted afterwards', async () => {
    const [u, a] = [user(), ip()];
    expect(await attempts(4, u, a)).toEqual(Array(4).fill(ALLOWED));
    await throttle.succeeded(u, a);
    await lock(u, a);
  });

  it('lifts the lock set by the 5th attempt when that attempt turns out to be the right password', async () => {
    const [u, a] = [user(), ip()];
    expect(await attempts(5, u, a)).toEqual(Array(5).fill(ALLOWED));
    await throttle.succeeded(u, a);
    await lock(u, a);
  });

  it('after a success, starts the lockout over at 60 s rather than carrying on doubling', async () => {
    const [u, a] = [user(), ip()];
    await lock(u, a);
    stack.clock.advance(60 * SECOND);
    expect(await throttle.begin(u, a)).toEqual(ALLOWED);
    expect(await throttle.begin(u, a)).toEqual(locked(120));
    stack.clock.advance(120 * SECOND);
    expect(await throttle.begin(u, a)).toEqual(ALLOWED);
    await throttle.succeeded(u, a);
    await lock(u, a);
  });

  it('refuses an IP past its ceiling across usernames (ip_limit), with the rest of the window as retry-after', async () => {
    const a = ip();
    for (let i = 0; i < 20; i++) expect(await throttle.begin(user(), a)).toEqual(ALLOWED);
    expect(await throttle.begin(user(), a)).toEqual({ allowed: false, reason: 'ip_limit', retryAfterSeconds: 900 });
    stack.clock.advance(100 * SECOND);
    expect(await throttle.begin(user(), a)).toEqual({ allowed: false, reason: 'ip_limit', retryAfterSeconds: 800 });
    // The ceiling is per address: the same usernames elsewhere are fine.
    expect(await throttle.begin(user(), ip())).toEqual(ALLOWED);
  });

  it('admits up to the IP ceiling in a parallel burst across usernames, and no more', async () => {
    const a = ip();
    const decisions = await Promise.all(Array.from({ length: 30 }, () => throttle.begin(user(), a)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    expect(decisions.filter((d) => !d.allowed)).toEqual(
      Array(10).fill({ allowed: false, reason: 'ip_limit', retryAfterSeconds: 900 }),
    );
  });

  it('refuses a user past the ceiling across addresses (user_limit), with the rest of the window as retry-after', async () => {
    const u = user();
    for (let i = 0; i < 12; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
    expect(await throttle.begin(u, ip())).toEqual({ allowed: false, reason: 'user_limit', retryAfterSeconds: 900 });
    stack.clock.advance(5 * MINUTE);
    expect(await throttle.begin(u, ip())).toEqual({ allowed: false, reason: 'user_limit', retryAfterSeconds: 600 });
    // Another user is unaffected.
    expect(await throttle.begin(user(), ip())).toEqual(ALLOWED);
  });

  it('admits up to the user ceiling in a parallel burst across addresses, and no more', async () => {
    const u = user();
    const decisions = await Promise.all(Array.from({ length: 20 }, () => throttle.begin(u, ip())));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(12);
    expect(decisions.filter((d) => !d.allowed)).toEqual(
      Array(8).fill({ allowed: false, reason: 'user_limit', retryAfterSeconds: 900 }),
    );
  });

  it('gives back the attempt of a success on the IP and user ceilings', async () => {
    const a = ip();
    const names = Array.from({ length: 20 }, () => user());
    for (const name of names) expect(await throttle.begin(name, a)).toEqual(ALLOWED);
    expect((await throttle.begin(user(), a)).allowed).toBe(false);
    await throttle.succeeded(names[0], a);
    expect(await throttle.begin(user(), a)).toEqual(ALLOWED);
    expect(await throttle.begin(user(), a)).toMatchObject({ allowed: false, reason: 'ip_limit' });
  });

  it('resets the user+IP counter after 15 min + 1 s without attempts', async () => {
    const [u, a] = [user(), ip()];
    expect(await attempts(4, u, a)).toEqual(Array(4).fill(ALLOWED));
    stack.clock.advance(WINDOW + SECOND);
    // Were the four still counted, the next attempt would lock and the one after be refused.
    await lock(u, a);
  });

  it('still counts within the window: 15 min - 1 s later the 5th attempt locks', async () => {
    const [u, a] = [user(), ip()];
    expect(await attempts(4, u, a)).toEqual(Array(4).fill(ALLOWED));
    stack.clock.advance(WINDOW - SECOND);
    expect(await throttle.begin(u, a)).toEqual(ALLOWED);
    expect(await throttle.begin(u, a)).toEqual(locked(60));
  });

  it('resets the IP and user ceilings after 15 min + 1 s', async () => {
    const [a, u] = [ip(), user()];
    for (let i = 0; i < 20; i++) expect(await throttle.begin(user(), a)).toEqual(ALLOWED);
    for (let i = 0; i < 12; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
    expect(await throttle.begin(user(), a)).toMatchObject({ allowed: false, reason: 'ip_limit' });
    expect(await throttle.begin(u, ip())).toMatchObject({ allowed: false, reason: 'user_limit' });
    stack.clock.advance(WINDOW + SECOND);
    expect(await throttle.begin(user(), a)).toEqual(ALLOWED);
    expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
  });

  it('unlock(user) clears the locks of that user at every IP, and its counters', async () => {
    const [u, other, a, b] = [user(), user(), ip(), ip()];
    await lock(u, a);
    await lock(u, b);
    await lock(other, a);
    await throttle.unlock(u);
    // Fresh counters at both addresses: five attempts each before the lock, not one.
    await lock(u, a);
    await lock(u, b);
    // Nobody else was unlocked.
    expect(await throttle.begin(other, a)).toEqual(locked(60));
  });

  it('unlock(user) lifts a grown lockout at once', async () => {
    const [u, a] = [user(), ip()];
    await lock(u, a);
    stack.clock.advance(60 * SECOND);
    await throttle.begin(u, a);
    expect(await throttle.begin(u, a)).toEqual(locked(120));
    await throttle.unlock(u);
    // Counting starts over: the next lock is 60 s again, not 240 s.
    await lock(u, a);
  });

  it('unlock(user) clears the per-user ceiling across addresses', async () => {
    const u = user();
    const USER_LIMIT = { allowed: false, reason: 'user_limit', retryAfterSeconds: 900 };
    for (let i = 0; i < 12; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
    expect(await throttle.begin(u, ip())).toEqual(USER_LIMIT);
    await throttle.unlock(u);
    // The count starts over: twelve new networks get their try again, and the thirteenth is refused.
    for (let i = 0; i < 12; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
    expect(await throttle.begin(u, ip())).toEqual(USER_LIMIT);
  });

  describe('the per-user ceiling counts networks and spares the owner', () => {
    const USER_LIMIT = { allowed: false, reason: 'user_limit', retryAfterSeconds: 900 };

    /** Fills u's per-user ceiling: one failure from each of 12 fresh addresses. */
    async function fillUserCeiling(u: string): Promise<void> {
      for (let i = 0; i < 12; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
      expect(await throttle.begin(u, ip())).toEqual(USER_LIMIT);
    }

    it('counts many failures from one network once: 3 addresses × 4 failures leave room for more addresses', async () => {
      const u = user();
      for (let i = 0; i < 3; i++) expect(await attempts(4, u, ip())).toEqual(Array(4).fill(ALLOWED));
      // Twelve failures, but three networks: nine more networks still get a try.
      for (let i = 0; i < 9; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
      expect(await throttle.begin(u, ip())).toEqual(USER_LIMIT);
    });

    it('past the ceiling, lets a network already counted go on until its user+IP lock', async () => {
      const [u, first] = [user(), ip()];
      expect(await throttle.begin(u, first)).toEqual(ALLOWED);
      for (let i = 0; i < 11; i++) expect(await throttle.begin(u, ip())).toEqual(ALLOWED);
      expect(await throttle.begin(u, ip())).toEqual(USER_LIMIT);
      expect(await attempts(4, u, first)).toEqual(Array(4).fill(ALLOWED));
      expect(await throttle.begin(u, first)).toEqual(locked(60));
    });

    it('admits a network the user logged in from before past the ceiling, still under its user+IP lock', async () => {
      const [u, home] = [user(), ip()];
      await throttle.begin(u, home);
      await throttle.succeeded(u, home);
      await fillUserCeiling(u);
      expect(await throttle.begin(u, home)).toEqual(ALLOWED);
      await throttle.succeeded(u, home);
      // Guessing from home is still stopped by the user+IP lock.
      await lock(u, home);
    });

    it('admits a trusted device from a fresh network past the ceiling; the same network without it is refused', async () => {
      const [u, cafe] = [user(), ip()];
      await fillUserCeiling(u);
      expect(await throttle.begin(u, cafe)).toEqual(USER_LIMIT);
      expect(await throttle.begin(u, cafe, { trustedDevice: true })).toEqual(ALLOWED);
    });

    it('does not count failures from known networks or devices toward the ceiling', async () => {
      const [u, home] = [user(), ip()];
      await throttle.begin(u, home);
      await throttle.succeeded(u, home);
      for (let i = 0; i < 4; i++) expect(await throttle.begin(u, home)).toEqual(ALLOWED);
      for (let i = 0; i < 12; i++) expect(await throttle.begin(u, ip(), { trustedDevice: true })).toEqual(ALLOWED);
      // None of the above filled the ceiling: twelve fresh networks still get their try.
      await fillUserCeiling(u);
    });

    it('forgets a known network after 90 days', async () => {
      const [u, home] = [user(), ip()];
      await throttle.begin(u, home);
      await throttle.succeeded(u, home);
      stack.clock.advance(90 * 86_400 * SECOND + SECOND);
      await fillUserCeiling(u);
      expect(await throttle.begin(u, home)).toEqual(USER_LIMIT);
    });

    it('gives the network back on success and on release, so the owner does not fill the ceiling', async () => {
      const u = user();
      for (let i = 0; i < 12; i++) {
        const address = ip();
        const decision = await impl.pick(stack).begin(u, address);
        expect(decision).toMatchObject({ allowed: true, newNetwork: true });
        if (i % 2) await throttle.succeeded(u, address);
        else await throttle.release(u, address, decision);
      }
      await fillUserCeiling(u);
    });

    it('is refused in a parallel burst from fresh networks past the ceiling, while a known network gets in', async () => {
      const [u, home] = [user(), ip()];
      await throttle.begin(u, home);
      await throttle.succeeded(u, home);
      const decisions = await Promise.all([
        ...Array.from({ length: 20 }, () => throttle.begin(u, ip())),
        throttle.begin(u, home),
      ]);
      expect(decisions.filter((d) => d.allowed)).toHaveLength(13);
      expect(decisions[20]).toEqual(ALLOWED);
    });
  });

  it('unlock of a user with no counters is harmless', async () => {
    await expect(throttle.unlock(user())).resolves.toBeUndefined();
  });
});
