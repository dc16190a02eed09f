import crypto from 'node:crypto';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

/**
 * Password hashes made by other systems, accepted at import and verified with their own algorithm
 * at the next login (which then stores an Argon2id hash at authd's parameters):
 *
 * - bcrypt `$2a$` `$2b$` `$2y$` (Supabase, passlib, PHP, bcrypt/bcryptjs);
 * - Argon2 `$argon2id$` `$argon2i$` in the PHC string format (argon2-cffi, passlib, pwdlib), and
 *   Django's `argon2$argon2id$…` (stored without the `argon2` prefix);
 * - scrypt in passlib's format `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<key>`;
 * - PBKDF2-HMAC-SHA256 in passlib's `$pbkdf2-sha256$<iterations>$<salt>$<key>` and Django's
 *   `pbkdf2_sha256$<iterations>$<salt>$<key>`.
 *
 * passlib's salts and keys are "adapted base64" (standard alphabet with `.` for `+`, no padding)
 * and decode to raw bytes; Django's salt is used as its UTF-8 text and its key is standard base64.
 * Cost parameters are bounded, so an imported hash cannot make one login burn seconds of CPU or
 * gigabytes of memory.
 */
export const LEGACY_HASH_LIMITS = {
  bcryptCost: 13,
  pbkdf2Iterations: 2_000_000,
  scryptMemoryBytes: 64 * 1024 * 1024, // 128 · N · r
  scryptParallelism: 4,
  argon2MemoryKiB: 128 * 1024,
  argon2TimeCost: 16,
  argon2Parallelism: 16,
} as const;

export type HashScheme = 'argon2' | 'bcrypt' | 'scrypt' | 'pbkdf2-sha256';

interface ParsedHash {
  scheme: HashScheme;
  /** The form authd stores. */
  stored: string;
  verify(password: string): Promise<boolean>;
}

export type HashCheck = { ok: true; scheme: HashScheme; stored: string } | { ok: false; problem: string };

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;
const pbkdf2 = promisify(crypto.pbkdf2);

class HashProblem extends Error {}

const decodeAb64 = (text: string) => Buffer.from(text.replace(/\./g, '+'), 'base64');

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function bounded(value: number, max: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new HashProblem(`${what} must be a positive integer`);
  if (value > max) throw new HashProblem(`${what} ${value} is above the accepted maximum of ${max}`);
  return value;
}

/** A key of 16 to 64 bytes, as every format here writes. */
function checkKey(key: Buffer, salt: Buffer): Buffer {
  if (key.length < 16 || key.length > 64) throw new HashProblem('the key must be 16 to 64 bytes');
  if (salt.length < 1 || salt.length > 1024) throw new HashProblem('the salt must be 1 to 1024 bytes');
  return key;
}

const AB64 = '[A-Za-z0-9./]+';
const B64 = '[A-Za-z0-9+/]+={0,2}';

const PATTERNS: Array<{ pattern: RegExp; parse(match: RegExpMatchArray, hash: string): ParsedHash }> = [
  {
    pattern: /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/,
    parse([, cost], hash) {
      bounded(Number(cost), LEGACY_HASH_LIMITS.bcryptCost, 'the bcrypt cost');
      if (Number(cost) < 4) throw new HashProblem('the bcrypt cost must be at least 4');
      return {
        scheme: 'bcrypt',
        stored: hash,
        // bcrypt reads at most 72 bytes of the password, like every implementation the hash came from.
        verify: async (password) =>
          sameBytes(Buffer.from(await bcrypt.hash(password, hash.slice(0, 29))), Buffer.from(hash)),
      };
    },
  },
  {
    // Verified by the argon2 package like authd's own hashes; only its costs are checked here.
    // The parameters come in any order: node-argon2 writes m,p,t and argon2-cffi m,t,p.
    pattern:
      /^(?:argon2)?(\$argon2(?:id|i)\$(?:v=(?:16|19)\$)?([mtp]=\d{1,10},[mtp]=\d{1,10},[mtp]=\d{1,10})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+)$/,
    parse([, phc, list]) {
      const params = Object.fromEntries(list.split(',').map((pair) => pair.split('=')));
      if (Object.keys(params).length !== 3)
        throw new HashProblem('the Argon2 parameters must name m, t and p once each');
      bounded(Number(params.m), LEGACY_HASH_LIMITS.argon2MemoryKiB, 'the Argon2 memory (KiB)');
      bounded(Number(params.t), LEGACY_HASH_LIMITS.argon2TimeCost, 'the Argon2 time cost');
      bounded(Number(params.p), LEGACY_HASH_LIMITS.argon2Parallelism, 'the Argon2 parallelism');
      return {
        scheme: 'argon2',
        stored: phc,
        verify: () => Promise.reject(new Error('argon2 hashes are verified by the password hasher')),
      };
    },
  },
  {
    pattern: new RegExp(`^\\$scrypt\\$ln=(\\d{1,2}),r=(\\d{1,3}),p=(\\d{1,3})\\$(${AB64})\\$(${AB64})$`),
    parse([, ln, r, p, salt64, key64], hash) {
      const N = 2 ** Number(ln);
      const blockSize = bounded(Number(r), 1024, 'the scrypt block size r');
      const parallelization = bounded(Number(p), LEGACY_HASH_LIMITS.scryptParallelism, 'the scrypt parallelism p');
      if (Number(ln) < 1) throw new HashProblem('the scrypt ln must be at least 1');
      const memory = 128 * N * blockSize;
      if (memory > LEGACY_HASH_LIMITS.scryptMemoryBytes)
        throw new HashProblem(
          `the scrypt memory 128·N·r = ${memory} bytes is above the accepted maximum of ${LEGACY_HASH_LIMITS.scryptMemoryBytes}`,
        );
      const salt = decodeAb64(salt64);
      const key = checkKey(decodeAb64(key64), salt);
      const options = { N, r: blockSize, p: parallelization, maxmem: memory + 1024 * 1024 };
      return {
        scheme: 'scrypt',
        stored: hash,
        verify: async (password) => sameBytes(await scrypt(password, salt, key.length, options), key),
      };
    },
  },
  {
    pattern: new RegExp(`^\\$pbkdf2-sha256\\$(\\d{1,10})\\$(${AB64})\\$(${AB64})$`),
    parse([, iterations, salt64, key64], hash) {
      const rounds = bounded(Number(iterations), LEGACY_HASH_LIMITS.pbkdf2Iterations, 'the PBKDF2 iteration count');
      const salt = decodeAb64(salt64);
      const key = checkKey(decodeAb64(key64), salt);
      return {
        scheme: 'pbkdf2-sha256',
        stored: hash,
        verify: async (password) => sameBytes(await pbkdf2(password, salt, rounds, key.length, 'sha256'), key),
      };
    },
  },
  {
    pattern: new RegExp(`^pbkdf2_sha256\\$(\\d{1,10})\\$([^$]+)\\$(${B64})$`),
    parse([, iterations, saltText, key64], hash) {
      const rounds = bounded(Number(iterations), LEGACY_HASH_LIMITS.pbkdf2Iterations, 'the PBKDF2 iteration count');
      const salt = Buffer.from(saltText, 'utf8');
      const key = checkKey(Buffer.from(key64, 'base64'), salt);
      return {
        scheme: 'pbkdf2-sha256',
        stored: hash,
        verify: async (password) => sameBytes(await pbkdf2(password, salt, rounds, key.length, 'sha256'), key),
      };
    },
  },
];

function parseHash(hash: string): ParsedHash {
  if (hash.length > 1024) throw new HashProblem('the hash is longer than 1024 characters');
  for (const { pattern, parse } of PATTERNS) {
    const match = hash.match(pattern);
    if (match) return parse(match, hash);
  }
  throw new HashProblem(
    'unknown password hash format (accepted: bcrypt $2a$/$2b$/$2y$, $argon2id$, $argon2i$, passlib $scrypt$ and $pbkdf2-sha256$, Django pbkdf2_sha256$ and argon2$)',
  );
}

/** Whether an imported hash is one authd can verify, within the cost limits; and the form to store. */
export function checkImportedHash(hash: string): HashCheck {
  try {
    const { scheme, stored } = parseHash(hash);
    return { ok: true, scheme, stored };
  } catch (error) {
    if (error instanceof HashProblem) return { ok: false, problem: error.message };
    throw error;
  }
}

/**
 * Verifies a password against a stored hash of another system (not Argon2). The password is used
 * as given (UTF-8), as the system that made the hash saw it. An unreadable hash never verifies.
 */
export async function verifyLegacyHash(hash: string, password: string): Promise<boolean> {
  let parsed: ParsedHash;
  try {
    parsed = parseHash(hash);
  } catch (error) {
    if (error instanceof HashProblem) return false;
    throw error;
  }
  return parsed.scheme !== 'argon2' && parsed.verify(password);
}
