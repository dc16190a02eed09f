import request from 'supertest';
import { backends, openStack, type TestStack } from '../support/backends';
import { passwordLogin, seed, type Fixtures } from '../support/fixtures';

/**
 * A registration flood at the production Argon2 cost: registrations are counted per address
 * (IPv4, IPv6 /64) before any hashing, and get a quarter of the hashing slots, behind logins.
 * The reproduction: 300 registrations, 48 at a time, while a user logs in. Nothing asserts timings.
 */

const ENV = {
  AUTHD_REGISTRATION: 'true',
  AUTHD_TRUST_PROXY: 'loopback',
  AUTHD_ARGON2_MAX_CONCURRENCY: '4',
  AUTHD_ARGON2_MEMORY_KIB: '19456',
  AUTHD_ARGON2_TIME_COST: '2',
};
const PASSPHRASE = 'a perfectly decent passphrase';

describe.each(backends({ postgresWithoutRedis: true }))('a registration flood on $name', (backend) => {
  let stack: TestStack;
  let f: Fixtures;
  let seq = 0;

  const register = (forwardedFor: string) =>
    request(f.app)
      .post('/register')
      .type('form')
      .set('X-Forwarded-For', forwardedFor)
      .send({ username: `flood-${++seq}@example.com`, password: PASSPHRASE });

  const tally = (statuses: number[]) => {
    const counts: Record<number, number> = {};
    for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
    return counts;
  };

  beforeAll(async () => {
    stack = await openStack(backend, ENV);
    f = await seed(stack);
  }, 180_000); // a loaded machine can take half a minute to start PGlite
  beforeEach(() => stack.clock.advance(2 * 3600_000));
  afterAll(() => stack.close());

  it('gives registration one of the four hashing slots', () => {
    expect(stack.config.argon2Capacity.concurrency).toBe(4);
  });

  it.each([
    ['one IPv4 address', (i: number) => (i % 2 ? '203.0.113.50' : '::ffff:203.0.113.50')],
    ['one IPv6 /64', (i: number) => `2001:db8:77:1::${(i + 1).toString(16)}`],
  ])(
    'admits 10 registrations an hour from %s and refuses the rest with 429 before hashing',
    async (_label, addressOf) => {
      const create = jest.spyOn(stack.services.registrationUsers, 'create');
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => register(addressOf(i))));
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
      // The ten admitted were hashed (or refused as busy by the registration lane, never by the logins' share).
      expect(statuses.filter((s) => s !== 429).every((s) => s === 202 || s === 503)).toBe(true);
      expect(create).toHaveBeenCalledTimes(10);
      create.mockRestore();
      const refused = answers.find((r) => r.status === 429)!;
      expect(refused.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: expect.stringMatching(
          /^Too many registrations from this address; try again in \d+ seconds\.$/,
        ),
      });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3500);
      // Another address is not affected.
      expect((await register('198.51.100.200')).status).toBe(202);
    },
  );

  it('lets a legitimate login through during 300+ registrations from many addresses, 48 at a time', async () => {
    let loginsDone = false;
    let sent = 0;
    const floodStatuses: number[] = [];
    const worker = async () => {
      while (!loginsDone || sent < 300) {
        const n = sent++;
        floodStatuses.push((await register(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`)).status);
      }
    };
    const flood = Promise.all(Array.from({ length: 48 }, worker));

    const logins: number[] = [];
    try {
      // Logins start once registrations are hashing.
      while (stack.services.limiter.stats().active === 0) await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < 5; i++) {
        const res = await passwordLogin(f.app);
        logins.push(res.status);
        expect(stack.services.limiter.stats().active).toBeLessThanOrEqual(4);
      }
    } finally {
      loginsDone = true;
      await flood;
    }
    expect(logins).toEqual([200, 200, 200, 200, 200]);
    expect(floodStatuses.length).toBeGreaterThanOrEqual(300);
    const counts = tally(floodStatuses);
    // Most of the flood was refused as busy at once; none of it broke anything.
    expect(Object.keys(counts).sort()).toEqual(expect.arrayContaining(['202', '503']));
    expect(Object.keys(counts).filter((s) => s !== '202' && s !== '503')).toEqual([]);
  });
});
