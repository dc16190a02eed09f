import crypto from 'node:crypto';

/** 32 random bytes: 256 bits of entropy, so a fast keyed digest is as safe as a slow hash. */
export function generateClientSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export interface ClientSecretDigester {
  digest(secret: string): string;
  /** Constant-time comparison of a presented secret with a stored digest. */
  matches(secret: string, storedDigest: string | null): boolean;
}

/** HMAC-SHA256 under a server key: a stolen table of digests is useless without the key. */
export function createClientSecretDigester(key: Buffer): ClientSecretDigester {
  const digest = (secret: string) => crypto.createHmac('sha256', key).update(secret, 'utf8').digest('base64url');
  // Compared against when there is no stored digest, so unknown clients cost the same.
  const placeholder = digest(crypto.randomUUID());
  return {
    digest,
    matches(secret, storedDigest) {
      const actual = Buffer.from(digest(secret), 'utf8');
      const expected = Buffer.from(storedDigest ?? placeholder, 'utf8');
      // Digests have one fixed length, so the length test reveals nothing.
      const equal = actual.length === expected.length && crypto.timingSafeEqual(actual, expected);
      return equal && storedDigest !== null;
    },
  };
}
