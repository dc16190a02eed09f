import { DomainError } from '../errors';

export const EMAIL_MAX_LENGTH = 254; // RFC 5321 §4.5.3.1.3: a path is at most 256 octets, brackets included

/**
 * Email addresses are stored as given (trimmed, NFKC) and compared lower-cased: almost no mail
 * system treats the local part as case-sensitive, and two accounts for "Bob@x" and "bob@x" would
 * receive each other's password resets. Only the shape is checked; delivery proves the rest.
 */
export function normalizeEmail(raw: string): { email: string; normalized: string } {
  const email = raw.normalize('NFKC').trim();
  if ([...email].length > EMAIL_MAX_LENGTH)
    throw new DomainError('invalid', `Email must be at most ${EMAIL_MAX_LENGTH} characters.`, 'invalid_email');
  if (!/^[^\s@\p{C}]+@[^\s@\p{C}]+\.[^\s@\p{C}.]+$/u.test(email))
    throw new DomainError('invalid', 'Email must look like name@example.com.', 'invalid_email');
  return { email, normalized: email.toLowerCase() };
}
