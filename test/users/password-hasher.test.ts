import argon2 from 'argon2';
import { parseConfig } from '../../src/config';
import { createConcurrencyLimiter } from '../../src/users/hash-limiter';
import { createPasswordHasher, type PasswordHasher } from '../../src/users/password-hasher';

/** The PHC string's parts: "$argon2id$v=19$m=…,t=…,p=…$salt$hash". */
function parsePhc(hash: string): {
  id: string;
  version: string;
  params: Record<string, string>;
  salt: string;
  digest: string;
} {
  const [empty, id, version, params, salt, digest, ...rest] = hash.split('$');
  expect({ empty, rest }).toEqual({ empty: '', rest: [] });
  return {
    id,
    version,
    params: Object.fromEntries(params.split(',').map((p) => p.split('=') as [string, string])),
    salt,
    digest,
  };
}

const PASSWORD = 'correct horse battery staple';

describe('password hasher with the default parameters', () => {
  // The defaults come from the configuration, so this suite pays the production cost on purpose.
  const defaults = parseConfig({}).argon2;
  let hasher: PasswordHasher;
  let hash: string;

  beforeAll(async () => {
    hasher = createPasswordHasher(defaults);
    hash = await hasher.hash(PASSWORD);
  });

  it("uses OWASP's Argon2id recommendation: m=19456 KiB, t=2, p=1", () => {
    expect(defaults).toEqual({ memoryKiB: 19_456, timeCost: 2, parallelism: 1 });
  });

  it('produces an argon2id hash encoding m=19456, t=2, p=1', () => {
    expect(parsePhc(hash)).toEqual({
      id: 'argon2id',
      version: 'v=19',
      params: { m: '19456', t: '2', p: '1' },
      salt: expect.stringMatching(/^[A-Za-z0-9+/]{22}$/), // 16 random bytes
      digest: expect.stringMatching(/^[A-Za-z0-9+/]{43}$/), // 32 bytes
    });
    expect(hash).not.toContain(PASSWORD);
  });

  it('salts every hash', async () => {
    const again = await hasher.hash(PASSWORD);
    expect(again).not.toBe(hash);
    expect(parsePhc(again).salt).not.toBe(parsePhc(hash).salt);
  });

  it('verifies the right password and needs no rehash', async () => {
    expect(await hasher.verify(hash, PASSWORD)).toEqual({ ok: true, needsRehash: false });
  });

  it.each([
    ['a wrong password', 'correct horse battery stapler'],
    ['another case', 'Correct horse battery staple'],
    ['a trailing space', PASSWORD + ' '],
    ['the empty string', ''],
  ])('refuses %s', async (_label, password) => {
    expect(await hasher.verify(hash, password)).toEqual({ ok: false, needsRehash: false });
  });

  it.each([
    ['weaker memory', { type: argon2.argon2id, memoryCost: 8192, timeCost: 2, parallelism: 1 }],
    ['fewer passes', { type: argon2.argon2id, memoryCost: 19_456, timeCost: 1, parallelism: 1 }],
    ['more lanes', { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 2 }],
  ] as const)('asks for a rehash of a correct password hashed with %s', async (_label, options) => {
    const old = await argon2.hash(PASSWORD, options);
    expect(await hasher.verify(old, PASSWORD)).toEqual({ ok: true, needsRehash: true });
    // A wrong password never asks for a rehash, whatever the parameters.
    expect(await hasher.verify(old, 'not the password')).toEqual({ ok: false, needsRehash: false });
  });

  // The variant is a parameter too: an argon2i or argon2d hash (e.g. imported from another system)
  // at the same cost must be upgraded to argon2id on the next successful login.
  it.each([
    ['argon2i', argon2.argon2i],
    ['argon2d', argon2.argon2d],
  ] as const)('asks for a rehash of a correct password hashed with %s at the same cost', async (_label, type) => {
    const old = await argon2.hash(PASSWORD, { type, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(await hasher.verify(old, PASSWORD)).toEqual({ ok: true, needsRehash: true });
  });

  it.each([
    ['an empty string', ''],
    ['garbage', 'not-a-hash'],
    ['a bcrypt hash', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'],
    ['a truncated argon2id hash', '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ'],
    [
      'an unknown Argon2 version',
      '$argon2id$v=99$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ],
  ])('answers false, not a throw, for %s stored as the hash', async (_label, stored) => {
    await expect(hasher.verify(stored, PASSWORD)).resolves.toEqual({ ok: false, needsRehash: false });
  });

  it.each([
    ['a ligature', 'ﬁnal password', 'final password'],
    ['full-width letters', 'ｓｅｃｒｅｔ ｐａｓｓ', 'secret pass'],
    ['a decomposed accent', 'cafe\u0301 au lait', 'caf\u00e9 au lait'],
  ])('treats NFKC-equivalent passwords as one (%s)', async (_label, stored, presented) => {
    const h = await hasher.hash(stored);
    expect(await hasher.verify(h, presented)).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.verify(h, stored)).toEqual({ ok: true, needsRehash: false });
    const reverse = await hasher.hash(presented);
    expect(await hasher.verify(reverse, stored)).toEqual({ ok: true, needsRehash: false });
  });

  it('runs a real Argon2id verification for unknown users, against a hash of the configured cost', async () => {
    const verify = jest.spyOn(argon2, 'verify');
    try {
      await expect(hasher.verifyDummy('ﬁnal password')).resolves.toBeUndefined();
      // One verification, as for a wrong password: against a hash made with the same parameters as
      // a real one, of the NFKC form of what was typed, and it fails.
      expect(verify).toHaveBeenCalledTimes(1);
      const [dummyHash, presented] = verify.mock.calls[0];
      expect(presented).toBe('final password');
      expect(parsePhc(dummyHash).params).toEqual(parsePhc(hash).params);
      expect(parsePhc(dummyHash).id).toBe('argon2id');
      await expect(verify.mock.results[0].value).resolves.toBe(false);
    } finally {
      verify.mockRestore();
    }
  });

  it('runs every computation through the limiter', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 10, maxWaitMs: 30_000 });
    const run = jest.spyOn(limiter, 'run');
    const limited = createPasswordHasher(defaults, limiter);
    const h = await limited.hash(PASSWORD);
    await limited.verify(h, PASSWORD);
    expect(run).toHaveBeenCalledTimes(2);
    // The first dummy verification also makes the dummy hash, inside the limiter; later ones reuse it.
    await limited.verifyDummy(PASSWORD);
    expect(run).toHaveBeenCalledTimes(4);
    await limited.verifyDummy('another password');
    expect(run).toHaveBeenCalledTimes(5);
    expect(limiter.stats()).toEqual({ active: 0, queued: 0, concurrency: 1 });
  });
});
