import crypto from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
// No 0/O, 1/I/L: codes are read off paper. 31 symbols, 12 of them: about 59 bits each.
const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const LENGTH = 12;

function randomCode(): string {
  let code = '';
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[crypto.randomInt(ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

export function generateRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, randomCode);
}

/** What the user typed, as stored: case, spaces and dashes do not matter; undefined when it cannot be a code. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const clean = input.replace(/[\s-]/g, '').toUpperCase();
  return clean.length === LENGTH && [...clean].every((c) => ALPHABET.includes(c)) ? clean : undefined;
}

/** Keyed, because the codes are short enough that an unkeyed digest could be brute-forced from a dump. */
export function digestRecoveryCode(key: Buffer, normalized: string): string {
  return crypto.createHmac('sha256', key).update(normalized).digest('base64url');
}
