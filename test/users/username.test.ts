import { DomainError } from '../../src/errors';
import { displayUsername, normalizeUsername, USERNAME_MAX_LENGTH, usernameSkeleton } from '../../src/users/username';

function refusal(raw: string): { kind: string; message: string } {
  try {
    normalizeUsername(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return { kind: (error as DomainError).kind, message: (error as DomainError).message };
  }
  throw new Error(`normalizeUsername accepted ${JSON.stringify(raw)}`);
}

describe('normalizeUsername', () => {
  it.each([
    ['bob', 'bob'],
    ['Bob', 'bob'],
    ['  bob  ', 'bob'],
    ['\tbob\n', 'bob'],
    ['Alice@Example.com', 'alice@example.com'],
    ['  ALICE@example.COM ', 'alice@example.com'],
    ['first.last+tag@sub.example.co.uk', 'first.last+tag@sub.example.co.uk'],
    ["o'brien_2-x", "o'brien_2-x"],
    // NFKC: full-width letters and the Kelvin sign become ASCII.
    ['ＡＬＩＣＥ', 'alice'],
    ['\u212Aelvin', 'kelvin'],
    // NFKC: a decomposed "é" and a precomposed one are the same name.
    ['Jose\u0301', 'jos\u00e9'],
    ['JOS\u00c9', 'jos\u00e9'],
    ['ÄRGER', 'ärger'],
    ['Ωmega', 'ωmega'],
    ['用户', '用户'],
    // A no-break space at the edge becomes a space under NFKC and is trimmed.
    ['\u00a0bob\u00a0', 'bob'],
  ])('%j → %j', (raw, normalized) => {
    expect(normalizeUsername(raw)).toBe(normalized);
  });

  it('makes differently written forms of one name equal', () => {
    const forms = ['alice@example.com', 'Alice@Example.com', ' ALICE@EXAMPLE.COM', 'ａｌｉｃｅ@example.com'];
    expect(new Set(forms.map(normalizeUsername))).toEqual(new Set(['alice@example.com']));
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['only a tab and a newline', '\t\n'],
  ])('refuses %s as empty', (_label, raw) => {
    expect(refusal(raw)).toEqual({ kind: 'invalid', message: 'Username must not be empty.' });
  });

  it.each([
    ['a space inside', 'bob smith'],
    ['a tab inside', 'bob\tsmith'],
    ['a newline inside', 'bob\nsmith'],
    ['a no-break space inside', 'bob\u00a0smith'],
    ['an ideographic space inside', 'bob\u3000smith'],
    ['a NUL', 'bob\u0000'],
    ['an escape', '\u001b[31mbob'],
    ['a DEL', 'bob\u007f'],
    ['a zero-width space', 'bob\u200bsmith'],
    ['a right-to-left override', 'bob\u202egpj.exe'],
    ['a line separator', 'bob\u2028smith'],
  ])('refuses %s', (_label, raw) => {
    expect(refusal(raw)).toEqual({
      kind: 'invalid',
      message: 'Username must not contain spaces or control characters.',
    });
  });

  it(`allows up to ${USERNAME_MAX_LENGTH} characters, enough for any email address`, () => {
    expect(USERNAME_MAX_LENGTH).toBe(254);
    const longest = 'a'.repeat(64) + '@' + 'b'.repeat(185) + '.com'; // 254 characters
    expect(longest).toHaveLength(254);
    expect(normalizeUsername(longest.toUpperCase())).toBe(longest);
    // Counted in code points, after trimming.
    expect(normalizeUsername('  ' + '😀'.repeat(254) + '  ')).toBe('😀'.repeat(254));
  });

  it.each([
    ['255 ASCII characters', 'a'.repeat(255)],
    ['255 emoji', '😀'.repeat(255)],
  ])('refuses %s', (_label, raw) => {
    expect(refusal(raw)).toEqual({ kind: 'invalid', message: 'Username must be at most 254 characters.' });
  });
});

describe('displayUsername', () => {
  it.each([
    ['  Alice@Example.com ', 'Alice@Example.com'],
    ['ＡＬＩＣＥ', 'ALICE'],
    ['Jose\u0301', 'Jos\u00e9'],
  ])('keeps the case but trims and normalises %j', (raw, shown) => {
    expect(displayUsername(raw)).toBe(shown);
  });
});

describe('usernameSkeleton (UTS #39)', () => {
  it.each([
    ['alice', '\u0430lice'], // Cyrillic a
    ['paypal', 'p\u0430yp\u0430l'],
    ['scam', '\u0455\u0441\u0430m'], // Cyrillic s, c, a
    ['bobo', 'bob0'],
    ['userl', 'user1'],
    ['modern', 'rnodern'],
    ['jos\u00e9', 'jose\u0301'],
  ])('%j and %j share a skeleton', (a, b) => {
    expect(usernameSkeleton(normalizeUsername(a))).toBe(usernameSkeleton(normalizeUsername(b)));
  });

  it.each([
    ['alice', 'alicia'],
    ['bob', 'rob'],
    ['user1', 'user2'],
    ['jose', 'jos\u00e9'],
  ])('%j and %j do not', (a, b) => {
    expect(usernameSkeleton(normalizeUsername(a))).not.toBe(usernameSkeleton(normalizeUsername(b)));
  });
});
