import argon2 from 'argon2';
import type { ConcurrencyLimiter } from './hash-limiter';
import { verifyLegacyHash } from './legacy-hashes';

export interface Argon2Parameters {
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordVerification {
  ok: boolean;
  /** The hash was made with other parameters than the configured ones: store a fresh one. */
  needsRehash: boolean;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<PasswordVerification>;
  /** Spends the same time as a real verification, for users that do not exist. */
  verifyDummy(password: string): Promise<void>;
}

const unlimited: ConcurrencyLimiter = {
  run: (fn) => fn(),
  stats: () => ({ active: 0, queued: 0, concurrency: Infinity }),
};

/** Every Argon2 computation (hash, verify, dummy verify) goes through the limiter. */
export function createPasswordHasher(
  params: Argon2Parameters,
  limiter: ConcurrencyLimiter = unlimited,
): PasswordHasher {
  const options = {
    type: argon2.argon2id,
    memoryCost: params.memoryKiB,
    timeCost: params.timeCost,
    parallelism: params.parallelism,
  } as const;
  // Made lazily once: a hash of a random password at the configured cost.
  let dummyHash: Promise<string> | undefined;

  return {
    hash(password) {
      return limiter.run(() => argon2.hash(password.normalize('NFKC'), options));
    },
    async verify(hash, password) {
      if (!hash.startsWith('$argon2')) {
        // An imported hash of another system (bcrypt, scrypt, PBKDF2): verified once, then replaced.
        const ok = await limiter.run(() => verifyLegacyHash(hash, password));
        return { ok, needsRehash: ok };
      }
      const ok = await limiter.run(() => argon2.verify(hash, password.normalize('NFKC')).catch(() => false)); // an unreadable stored hash never verifies
      // Other parameters, or another variant (argon2i/argon2d hashes from an import): upgrade.
      return { ok, needsRehash: ok && (!hash.startsWith('$argon2id$') || argon2.needsRehash(hash, options)) };
    },
    async verifyDummy(password) {
      // Made once, inside the limiter like any hash; a failure is not kept, so the next call retries.
      dummyHash ??= limiter
        .run(() => argon2.hash(crypto.randomUUID(), options))
        .catch((error) => {
          dummyHash = undefined;
          throw error;
        });
      const hash = await dummyHash;
      await limiter.run(() => argon2.verify(hash, password.normalize('NFKC')).catch(() => false));
    },
  };
}
