import { checkPasswordPolicy, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../src/users/password-policy';

const TOO_SHORT = `Password must be at least ${PASSWORD_MIN_LENGTH} characters.`;
const TOO_LONG = `Password must be at most ${PASSWORD_MAX_LENGTH} characters.`;
const TOO_COMMON = 'Password is too common: it appears in lists of breached passwords.';

describe('checkPasswordPolicy (NIST SP 800-63B §5.1.1.2)', () => {
  it('allows 8 to 128 characters', () => {
    expect({ min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH }).toEqual({ min: 8, max: 128 });
  });

  it.each([
    ['empty', '', TOO_SHORT],
    ['7 characters', 'xk3#pq9', TOO_SHORT],
    ['8 characters', 'xk3#pq9z', undefined],
    ['128 characters', 'xk3#pq9z'.repeat(16), undefined],
    ['129 characters', 'xk3#pq9z'.repeat(16) + 'a', TOO_LONG],
    // An astral-plane emoji is one code point (two UTF-16 units): seven of them are still too short.
    ['7 emoji', '🦊'.repeat(7), TOO_SHORT],
    ['8 emoji', '🦊'.repeat(8), undefined],
    ['128 emoji', '🦊'.repeat(128), undefined],
    ['129 emoji', '🦊'.repeat(129), TOO_LONG],
    ['6 CJK characters', '密码很安全吗', TOO_SHORT],
    ['8 mixed-script characters', 'пароль密码', undefined],
    // NFKC first: the ligature "ﬃ" becomes "ffi", so three ligatures and a letter are 10 characters.
    ['ligatures counted after NFKC', 'ﬃﬃﬃx', undefined],
  ])('%s → %s', (_label, password, expected) => {
    expect(checkPasswordPolicy(password)).toBe(expected);
  });

  it.each([
    ['a NUL', 'secret\u0000password'],
    ['a tab', 'secret\tpassword'],
    ['a newline', 'secret password\n'],
    ['an escape', '\u001b[31msecret password'],
    ['a DEL', 'secret password\u007f'],
  ])('refuses %s (control characters are not typed by people)', (_label, password) => {
    expect(checkPasswordPolicy(password)).toBe('Password must not contain control characters.');
  });

  it.each([
    'password',
    'PASSWORD',
    'PassWord',
    'password1',
    'Password1',
    '12345678',
    'qwertyuiop',
    'QwErTyUiOp',
    'iloveyou',
    'ILoveYou',
    'trustno1',
    'sunshine',
    'Football',
    'letmein1',
    // Full-width letters normalise (NFKC) to a common password.
    'ｐａｓｓｗｏｒｄ',
  ])('refuses the common password %j whatever its case', (password) => {
    expect(checkPasswordPolicy(password)).toBe(TOO_COMMON);
  });

  it.each([
    ['a long lowercase passphrase', 'correct horse battery staple'],
    ['lowercase letters only', 'zmqvtrplkw'],
    ['digits only, not a common sequence', '80417263951'],
    ['no digit, no symbol, no upper case', 'purplemonkeydishwasherzebra'],
    ['repeated letters (not in the list)', 'aaaaaaaaaaaa'],
    ['spaces inside', 'my cat eats olives'],
    ['a common password with more words', 'password is not my password'],
  ])('imposes no composition rules: accepts %s', (_label, password) => {
    expect(checkPasswordPolicy(password)).toBeUndefined();
  });
});
