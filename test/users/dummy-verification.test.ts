/**
 * "Hash a dummy password for unknown users so timing does not reveal which accounts exist":
 * counted, not timed. An unknown user must cost exactly the Argon2 work of a known user with a
 * wrong password — one real verification through the hashing limiter — however the login arrives.
 */
import argon2 from 'argon2';
import { backends, openStack, type TestStack } from '../support/backends';
import { passwordLogin, seed, type Fixtures } from '../support/fixtures';

describe.each(backends())('Argon2 work for unknown users on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;

  beforeAll(async () => {
    stack = await openStack(backend);
    f = await seed(stack);
    // The dummy hash is made once, at the first unknown user: make it before counting.
    await stack.services.users.verifyLogin('warm-up@example.com', 'whatever');
  });
  afterAll(() => stack.close());

  /** Argon2 verifications (real ones: the spy calls through) and limiter slots taken by fn. */
  async function argon2Work(
    fn: () => Promise<unknown>,
  ): Promise<{ verifications: number; limiterRuns: number; costs: string[] }> {
    const verify = jest.spyOn(argon2, 'verify');
    const run = jest.spyOn(stack.services.limiter, 'run');
    try {
      await fn();
      // The cost parameters of each hash verified against: the dummy must cost what a real one does.
      const costs = verify.mock.calls.map(([hash]) => hash.split('$')[3].split(',').sort().join(','));
      return { verifications: verify.mock.calls.length, limiterRuns: run.mock.calls.length, costs };
    } finally {
      verify.mockRestore();
      run.mockRestore();
    }
  }

  it('verifyLogin spends one verification at the configured cost on an unknown user, as on a wrong password', async () => {
    const known = await argon2Work(() => stack.services.users.verifyLogin(f.alice.username, 'wrong password entirely'));
    const unknown = await argon2Work(() =>
      stack.services.users.verifyLogin('nobody@example.com', 'wrong password entirely'),
    );
    const unusable = await argon2Work(() => stack.services.users.verifyLogin('\u0000', 'wrong password entirely'));
    expect(known).toEqual({ verifications: 1, limiterRuns: 1, costs: ['m=8192,p=1,t=1'] });
    expect(unknown).toEqual(known);
    expect(unusable).toEqual(known);
  });

  it('the password grant does the same Argon2 work for an unknown user as for a wrong password', async () => {
    const refused = async (params: Record<string, string>) =>
      expect((await passwordLogin(f.app, params)).body.error).toBe('invalid_grant');
    const known = await argon2Work(() => refused({ password: 'wrong password entirely' }));
    const unknown = await argon2Work(() =>
      refused({ username: 'nobody@example.com', password: 'wrong password entirely' }),
    );
    expect(known).toEqual({ verifications: 1, limiterRuns: 1, costs: ['m=8192,p=1,t=1'] });
    expect(unknown).toEqual(known);
  });
});
