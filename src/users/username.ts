import { DomainError } from '../errors';

export const USERNAME_MAX_LENGTH = 254; // long enough for any email address

/**
 * Usernames are compared trimmed, NFKC-normalised and case-folded, so "Alice@Example.com " and
 * "alice@example.com" are one account. Emails are fine; whitespace and control characters are not.
 */
export function normalizeUsername(raw: string): string {
  const trimmed = raw.normalize('NFKC').trim();
  if (trimmed.length === 0) throw new DomainError('invalid', 'Username must not be empty.');
  if ([...trimmed].length > USERNAME_MAX_LENGTH) throw new DomainError('invalid', `Username must be at most ${USERNAME_MAX_LENGTH} characters.`);
  if (/[\s\p{C}]/u.test(trimmed)) throw new DomainError('invalid', 'Username must not contain spaces or control characters.');
  return trimmed.toLowerCase();
}

export function displayUsername(raw: string): string {
  return raw.normalize('NFKC').trim();
}
