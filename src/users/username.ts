import unhomoglyph from 'unhomoglyph';
import { DomainError } from '../errors';

export const USERNAME_MAX_LENGTH = 254; // long enough for any email address

/**
 * Usernames are compared trimmed, NFKC-normalised and case-folded, so "Alice@Example.com " and
 * "alice@example.com" are one account. Emails are fine; whitespace and control characters are not.
 */
export function normalizeUsername(raw: string): string {
  const trimmed = raw.normalize('NFKC').trim();
  if (trimmed.length === 0) throw new DomainError('invalid', 'Username must not be empty.', 'invalid_username');
  if ([...trimmed].length > USERNAME_MAX_LENGTH)
    throw new DomainError('invalid', `Username must be at most ${USERNAME_MAX_LENGTH} characters.`, 'invalid_username');
  if (/[\s\p{C}]/u.test(trimmed))
    throw new DomainError('invalid', 'Username must not contain spaces or control characters.', 'invalid_username');
  return trimmed.toLowerCase();
}

export function displayUsername(raw: string): string {
  return raw.normalize('NFKC').trim();
}

/**
 * The Unicode UTS #39 skeleton of a normalised username: NFD, each character mapped to its
 * prototype in the Unicode confusables table (Cyrillic "а" to Latin "a", "1" to "l", "m" to
 * "rn"), NFD again. Two names that look alike have one skeleton. Lower-cased at the end because
 * usernames are case-insensitive but shown as typed ("BOB0" next to "BOBO").
 */
export function usernameSkeleton(normalized: string): string {
  return unhomoglyph(normalized.normalize('NFD')).normalize('NFD').toLowerCase();
}
