import crypto from 'node:crypto';
import { createClientSecretDigester, generateClientSecret } from '../../src/clients/client-secret';

describe('generateClientSecret', () => {
  it('has at least 256 bits of entropy, in base64url', () => {
    const secret = generateClientSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(Buffer.from(secret, 'base64url').length).toBeGreaterThanOrEqual(32);
  });

  it('is different every time', () => {
    const secrets = Array.from({ length: 200 }, generateClientSecret);
    expect(new Set(secrets).size).toBe(200);
  });
});

describe('client secret digester', () => {
  const key = crypto.randomBytes(32);
  const digester = createClientSecretDigester(key);
  const secret = generateClientSecret();

  it('is HMAC-SHA256 under the server key, in base64url', () => {
    const expected = crypto.createHmac('sha256', key).update(secret, 'utf8').digest('base64url');
    expect(digester.digest(secret)).toBe(expected);
    expect(digester.digest(secret)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(digester.digest(secret)).not.toContain(secret);
  });

  it('is not a plain hash: another key gives another digest', () => {
    const other = createClientSecretDigester(crypto.randomBytes(32));
    expect(other.digest(secret)).not.toBe(digester.digest(secret));
    expect(digester.digest(secret)).not.toBe(crypto.createHash('sha256').update(secret).digest('base64url'));
  });

  it('is deterministic under one key', () => {
    expect(createClientSecretDigester(Buffer.from(key)).digest(secret)).toBe(digester.digest(secret));
  });

  it('matches only the right secret', () => {
    const stored = digester.digest(secret);
    expect(digester.matches(secret, stored)).toBe(true);
    expect(digester.matches(generateClientSecret(), stored)).toBe(false);
    expect(digester.matches(secret.slice(0, -1), stored)).toBe(false);
    expect(digester.matches(secret + 'x', stored)).toBe(false);
    expect(digester.matches('', stored)).toBe(false);
    expect(digester.matches(secret.toUpperCase(), stored)).toBe(false);
  });

  it('matches nothing against a null digest (a public client), not even an empty secret', () => {
    expect(digester.matches(secret, null)).toBe(false);
    expect(digester.matches('', null)).toBe(false);
  });

  it('matches nothing against a malformed stored digest', () => {
    expect(digester.matches(secret, '')).toBe(false);
    expect(digester.matches(secret, 'short')).toBe(false);
    expect(digester.matches(secret, digester.digest(secret) + 'A')).toBe(false);
    // A digest made under another key does not match.
    expect(digester.matches(secret, createClientSecretDigester(crypto.randomBytes(32)).digest(secret))).toBe(false);
  });

  it('does not match the secret against its own digest as a secret', () => {
    const stored = digester.digest(secret);
    expect(digester.matches(stored, stored)).toBe(false);
  });

  // A guard against a quiet `===`: the comparison must be crypto.timingSafeEqual, for a wrong
  // secret of the right length too, and for an unknown client (against the placeholder).
  it('decides through crypto.timingSafeEqual, on the digests, whatever the secret', () => {
    const stored = digester.digest(secret);
    const wrong = generateClientSecret();
    expect(wrong).toHaveLength(secret.length);
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      expect([
        digester.matches(secret, stored),
        digester.matches(wrong, stored),
        digester.matches(wrong, null),
      ]).toEqual([true, false, false]);
      expect(compare.mock.calls).toEqual([
        [Buffer.from(stored), Buffer.from(stored)],
        [Buffer.from(digester.digest(wrong)), Buffer.from(stored)],
        [Buffer.from(digester.digest(wrong)), expect.any(Buffer)],
      ]);
      // Its answer is the answer: were it to say "equal", the wrong secret would match.
      compare.mockReturnValueOnce(true);
      expect(digester.matches(wrong, stored)).toBe(true);
    } finally {
      compare.mockRestore();
    }
  });
});
