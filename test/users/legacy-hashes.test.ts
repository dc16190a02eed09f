import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';
import { createConcurrencyLimiter } from '../../src/users/hash-limiter';
import { checkImportedHash, LEGACY_HASH_LIMITS, verifyLegacyHash } from '../../src/users/legacy-hashes';
import { createPasswordHasher } from '../../src/users/password-hasher';

/**
 * Hashes of other systems. The fixed vectors were made by passlib 1.7.4 and Django 3.2 on Debian 12
 * (python3-passlib, python3-django, python3-argon2); the others by bcryptjs and Node's crypto here,
 * written in passlib's encoding.
 */
const PASSLIB_PASSWORD = 'pässwörd from passlib';
const DJANGO_PASSWORD = 'lètmein from Django';
const FIXED: Array<{ description: string; hash: string; password: string; scheme: string }> = [
  {
    description: 'passlib bcrypt $2b$',
    scheme: 'bcrypt',
    password: PASSLIB_PASSWORD,
    hash: '$2b$05$luqDlnXG8e9dmaIa5mXTQO8dRsQwMtr7uNaFE/Ubv1xGa916Pcauq',
  },
  {
    description: 'passlib bcrypt $2y$',
    scheme: 'bcrypt',
    password: PASSLIB_PASSWORD,
    hash: '$2y$05$1e0BjmPr7DmKKnXGwSF2VOS5y4BgNr3.p8WVZ0fDyetPx4zcjDeSy',
  },
  {
    description: 'passlib bcrypt $2a$',
    scheme: 'bcrypt',
    password: PASSLIB_PASSWORD,
    hash: '$2a$05$DudEc8yRM9ykiSGzmUB7n.lwpBIyrB7mHg16CN/XuOt1e16Jm6QJO',
  },
  {
    description: 'passlib $pbkdf2-sha256$',
    scheme: 'pbkdf2-sha256',
    password: PASSLIB_PASSWORD,
    hash: '$pbkdf2-sha256$29000$ZgzBOEdo7b33HkMopTSGMA$iG.RTxBQ9lcHVlSkStP/SW5zNi7EswM9MOcBpt6JKuU',
  },
  {
    description: 'passlib $scrypt$',
    scheme: 'scrypt',
    password: PASSLIB_PASSWORD,
    hash: '$scrypt$ln=10,r=8,p=1$AYDwvpdy7h3j/F8rZSwlZA$JgeXOlyNYO9CfamUXGjhdPV/TMZwTUJjS8QqcFacB9k',
  },
  {
    description: 'passlib $argon2id$',
    scheme: 'argon2',
    password: PASSLIB_PASSWORD,
    hash: '$argon2id$v=19$m=1024,t=2,p=1$l1Lq3ZvTWgvBuFfKuZcSAg$/kVzv9fIIzBvWvMwaKUOXQ',
  },
  {
    description: 'passlib $argon2i$',
    scheme: 'argon2',
    password: PASSLIB_PASSWORD,
    hash: '$argon2i$v=19$m=1024,t=2,p=1$4ry3VmothRAixPgfwzjn3A$1KVSpQ6KKMqfuNc1GhM1Iw',
  },
  {
    description: 'Django pbkdf2_sha256$',
    scheme: 'pbkdf2-sha256',
    password: DJANGO_PASSWORD,
    hash: 'pbkdf2_sha256$20000$seasaltAbc123$ZQBrpO/ynEzT42tGfHgIw0W/MziPHw83PYugyNvHqcQ=',
  },
  {
    description: 'Django argon2$argon2id$',
    scheme: 'argon2',
    password: DJANGO_PASSWORD,
    hash: 'argon2$argon2id$v=19$m=1024,t=2,p=1$c2Vhc2FsdEFiYzEyMw$2HU2PdlIAuLJCf89wodM0g',
  },
];

const ab64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '').replace(/\+/g, '.');

/** The same formats, produced by the reference implementations available to Node. */
function generated(password: string) {
  const salt = crypto.randomBytes(16);
  return [
    { description: 'bcryptjs $2b$', scheme: 'bcrypt', hash: bcrypt.hashSync(password, 6) },
    {
      description: 'Node scrypt as $scrypt$',
      scheme: 'scrypt',
      hash: `$scrypt$ln=12,r=8,p=2$${ab64(salt)}$${ab64(crypto.scryptSync(password, salt, 32, { N: 4096, r: 8, p: 2 }))}`,
    },
    {
      description: 'Node pbkdf2 as $pbkdf2-sha256$',
      scheme: 'pbkdf2-sha256',
      hash: `$pbkdf2-sha256$12000$${ab64(salt)}$${ab64(crypto.pbkdf2Sync(password, salt, 12000, 32, 'sha256'))}`,
    },
    {
      description: 'Node pbkdf2 as Django pbkdf2_sha256$',
      scheme: 'pbkdf2-sha256',
      hash: `pbkdf2_sha256$15000$NaCl42$${crypto.pbkdf2Sync(password, 'NaCl42', 15000, 32, 'sha256').toString('base64')}`,
    },
  ];
}

describe('legacy password hashes', () => {
  const hasher = createPasswordHasher({ memoryKiB: 8192, timeCost: 1, parallelism: 1 });

  describe.each(FIXED)('$description (fixed vector)', ({ hash, password, scheme }) => {
    it('is accepted for import, as its own scheme', () => {
      const check = checkImportedHash(hash);
      expect(check).toEqual({ ok: true, scheme, stored: hash.replace(/^argon2\$/, '$') });
    });

    it('verifies the right password (and asks for a rehash to Argon2id), refuses a wrong one', async () => {
      const stored = (checkImportedHash(hash) as { stored: string }).stored;
      await expect(hasher.verify(stored, password)).resolves.toEqual({ ok: true, needsRehash: true });
      await expect(hasher.verify(stored, `${password}!`)).resolves.toEqual({ ok: false, needsRehash: false });
      // The password as the other system saw it: bytes, not normalised (authd's own Argon2 path normalises NFKC).
      if (scheme !== 'argon2')
        await expect(hasher.verify(stored, password.normalize('NFD'))).resolves.toEqual({
          ok: false,
          needsRehash: false,
        });
    });
  });

  const password = `generated ${crypto.randomBytes(6).toString('hex')} ✓`;
  describe.each(generated(password))('$description', ({ hash, scheme }) => {
    it('is accepted and verifies only the right password', async () => {
      expect(checkImportedHash(hash)).toEqual({ ok: true, scheme, stored: hash });
      await expect(hasher.verify(hash, password)).resolves.toEqual({ ok: true, needsRehash: true });
      await expect(hasher.verify(hash, 'generated but wrong')).resolves.toEqual({ ok: false, needsRehash: false });
    });
  });

  it("accepts authd's own Argon2id hashes (node-argon2 writes m,p,t), so an export imports into another authd", async () => {
    const own = await hasher.hash(PASSLIB_PASSWORD);
    expect(own).toMatch(/^\$argon2id\$v=19\$m=8192,p=1,t=1\$/);
    expect(checkImportedHash(own)).toEqual({ ok: true, scheme: 'argon2', stored: own });
  });

  it('runs legacy verifications inside the hash limiter', async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueue: 0, maxWaitMs: 1000 });
    const limited = createPasswordHasher({ memoryKiB: 8192, timeCost: 1, parallelism: 1 }, limiter);
    const first = limited.verify(FIXED[3].hash, PASSLIB_PASSWORD);
    expect(limiter.stats().active).toBe(1);
    await expect(limited.verify(FIXED[3].hash, PASSLIB_PASSWORD)).rejects.toThrow('password hashing is at capacity');
    await expect(first).resolves.toEqual({ ok: true, needsRehash: true });
  });

  it.each([
    ['a plain text password', 'hunter22hunter22', /unknown password hash format/],
    ['an MD5 digest', '5f4dcc3b5aa765d61d8327deb882cf99', /unknown password hash format/],
    [
      'passlib $pbkdf2-sha512$',
      '$pbkdf2-sha512$25000$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA',
      /unknown password hash format/,
    ],
    ['$argon2d$', '$argon2d$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', /unknown password hash format/],
    [
      'a truncated bcrypt hash',
      '$2b$05$luqDlnXG8e9dmaIa5mXTQO8dRsQwMtr7uNaFE/Ubv1xGa916Pcau',
      /unknown password hash format/,
    ],
    ['bcrypt cost 14', bcryptWithCost(14), /the bcrypt cost 14 is above the accepted maximum of 13/],
    ['bcrypt cost 31', bcryptWithCost(31), /the bcrypt cost 31 is above the accepted maximum of 13/],
    ['bcrypt cost 3', bcryptWithCost(3), /at least 4/],
    [
      'PBKDF2 with 2,000,001 iterations',
      `$pbkdf2-sha256$2000001$c2FsdHNhbHQ$${ab64(crypto.randomBytes(32))}`,
      /PBKDF2 iteration count 2000001 is above the accepted maximum of 2000000/,
    ],
    [
      'Django PBKDF2 with 10^9 iterations',
      `pbkdf2_sha256$1000000000$salt$${crypto.randomBytes(32).toString('base64')}`,
      /above the accepted maximum/,
    ],
    [
      'PBKDF2 with 0 iterations',
      `$pbkdf2-sha256$0$c2FsdHNhbHQ$${ab64(crypto.randomBytes(32))}`,
      /must be a positive integer/,
    ],
    ['PBKDF2 with a 4-byte key', `$pbkdf2-sha256$1000$c2FsdHNhbHQ$${ab64(crypto.randomBytes(4))}`, /16 to 64 bytes/],
    [
      'scrypt N = 2^20',
      `$scrypt$ln=20,r=8,p=1$c2FsdHNhbHQ$${ab64(crypto.randomBytes(32))}`,
      /scrypt memory .* above the accepted maximum/,
    ],
    [
      'scrypt p = 64',
      `$scrypt$ln=10,r=8,p=64$c2FsdHNhbHQ$${ab64(crypto.randomBytes(32))}`,
      /parallelism p 64 is above the accepted maximum of 4/,
    ],
    [
      'Argon2 with 4 GiB',
      '$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      /Argon2 memory \(KiB\) 4194304 is above the accepted maximum of 131072/,
    ],
    [
      'Argon2 naming m twice',
      '$argon2id$v=19$m=1024,m=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      /must name m, t and p once each/,
    ],
    [
      'Argon2 with t = 100',
      '$argon2id$v=19$m=1024,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
      /time cost 100 is above/,
    ],
  ])('refuses %s', async (_what, hash, problem) => {
    const check = checkImportedHash(hash);
    expect(check).toEqual({ ok: false, problem: expect.stringMatching(problem) });
    // Stored anyway (by hand, an older authd), it never verifies and costs nothing.
    await expect(verifyLegacyHash(hash, 'hunter22hunter22')).resolves.toBe(false);
  });

  it('keeps the limits documented in the README', () => {
    expect(LEGACY_HASH_LIMITS).toEqual({
      bcryptCost: 13,
      pbkdf2Iterations: 2_000_000,
      scryptMemoryBytes: 64 * 1024 * 1024,
      scryptParallelism: 4,
      argon2MemoryKiB: 131072,
      argon2TimeCost: 16,
      argon2Parallelism: 16,
    });
  });
});

/** A well-formed bcrypt string of any cost, without spending that cost. */
function bcryptWithCost(cost: number): string {
  return `$2b$${String(cost).padStart(2, '0')}$${FIXED[0].hash.slice(7)}`;
}
