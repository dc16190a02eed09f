import { dictionary } from '@zxcvbn-ts/language-common';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

// About 49,000 of the most common passwords found in breaches, maintained by the zxcvbn-ts project.
const COMMON_PASSWORDS: ReadonlySet<string> = new Set(
  (dictionary as Record<string, string[]>)['passwords-common'].map((p) => p.toLowerCase()),
);

/**
 * NIST SP 800-63B §5.1.1.2: length between 8 and 128 characters (counted in Unicode code points
 * after NFKC normalisation), not a commonly used or breached value, and no composition rules.
 * Returns the problem in words, or undefined when the password is acceptable.
 */
export function checkPasswordPolicy(password: string): string | undefined {
  const normalized = password.normalize('NFKC');
  const length = [...normalized].length;
  if (length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters.`;
  // Spaces and any printable character are fine (SP 800-63B); control characters are not typed by people.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(normalized)) return 'Password must not contain control characters.';
  if (COMMON_PASSWORDS.has(normalized.toLowerCase()))
    return 'Password is too common: it appears in lists of breached passwords.';
  return undefined;
}
