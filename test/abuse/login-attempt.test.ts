import { beginLoginAttempt, checkThrottled } from '../../src/abuse/login-attempt';
import type { ThrottleDecision } from '../../src/abuse/login-throttle';
import { OAuthError } from '../../src/errors';
import { backends, openStack, type TestStack } from '../support/backends';

class WrongSecret extends Error {}
class StoreDown extends Error {}
const isFailure = (error: unknown) => error instanceof WrongSecret;

/** The one sequence every check of a secret runs, on the real throttle of each backend (lock after 3 failures). */
describe.each(backends())('a login attempt on $name', (backend) => {
  let stack: TestStack;
  let n = 0;
  /** A fresh user each test, so the counters start at zero. */
  let who: { username: string; ip: string };

  beforeAll(async () => {
    stack = await openStack(backend, { AUTHD_LOGIN_MAX_FAILURES: '3', AUTHD_LOGIN_LOCKOUT: '60' });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    who = { username: `user-${++n}@example.com`, ip: `192.0.2.${n}` };
  });

  const fail = () => checkThrottled(stack.services.throttle, who, () => Promise.reject(new WrongSecret()), isFailure);

  async function refusal(promise: Promise<unknown>): Promise<OAuthError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }

  it('refuses once locked, with the 429 and its Retry-After, and tells onRefused first', async () => {
    for (let i = 0; i < 3; i++) await expect(fail()).rejects.toBeInstanceOf(WrongSecret);
    const refused: ThrottleDecision[] = [];
    const error = await refusal(
      beginLoginAttempt(stack.services.throttle, who, { noun: 'login attempts', onRefused: (d) => refused.push(d) }),
    );
    expect({ code: error.code, status: error.status, headers: error.headers, description: error.description }).toEqual({
      code: 'temporarily_unavailable',
      status: 429,
      headers: { 'Retry-After': '60' },
      description: 'Too many failed login attempts; try again in 60 seconds.',
    });
    expect(refused).toEqual([{ allowed: false, retryAfterSeconds: 60, reason: 'user_ip_locked' }]);
    // The check never runs while refused.
    let ran = false;
    const again = await refusal(
      checkThrottled(
        stack.services.throttle,
        who,
        async () => {
          ran = true;
        },
        isFailure,
      ),
    );
    expect({ ran, description: again.description }).toEqual({
      ran: false,
      description: 'Too many failed attempts; try again in 60 seconds.',
    });
  });

  it('gives back an attempt whose check threw something other than a failure', async () => {
    for (let i = 0; i < 2; i++) await expect(fail()).rejects.toBeInstanceOf(WrongSecret);
    // The third attempt would arm the lock, but the store was down: it does not count.
    await expect(
      checkThrottled(stack.services.throttle, who, () => Promise.reject(new StoreDown()), isFailure),
    ).rejects.toBeInstanceOf(StoreDown);
    await expect(fail()).rejects.toBeInstanceOf(WrongSecret); // the real third failure
    expect((await refusal(fail())).status).toBe(429);
  });

  it('a returned value is no failure by default; succeeded() clears the count, release() leaves it', async () => {
    for (let i = 0; i < 2; i++) await expect(fail()).rejects.toBeInstanceOf(WrongSecret);
    const held = await beginLoginAttempt(stack.services.throttle, who);
    await expect(held.check(async () => 'checked')).resolves.toBe('checked');
    await held.release(); // a password right, a second factor still to come: not a success
    await expect(fail()).rejects.toBeInstanceOf(WrongSecret); // third failure: locked
    expect((await refusal(fail())).status).toBe(429);

    who = { username: `user-${++n}@example.com`, ip: `192.0.2.${n}` };
    for (let i = 0; i < 2; i++) await expect(fail()).rejects.toBeInstanceOf(WrongSecret);
    await expect(checkThrottled(stack.services.throttle, who, async () => 'ok', isFailure)).resolves.toBe('ok');
    for (let i = 0; i < 2; i++) await expect(fail()).rejects.toBeInstanceOf(WrongSecret);
    // Two failures since the success: still allowed.
    await expect(checkThrottled(stack.services.throttle, who, async () => 'ok', isFailure)).resolves.toBe('ok');
  });
});
