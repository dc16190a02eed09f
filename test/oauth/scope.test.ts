import { OAuthError } from '../../src/errors';
import {
  formatScope,
  intersect,
  isScopeToken,
  MAX_SCOPE_TOKENS,
  missingFrom,
  parseScope,
} from '../../src/scopes/scope';

function refusal(value: string): unknown {
  try {
    parseScope(value);
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    const e = error as OAuthError;
    return { code: e.code, status: e.status, description: e.description };
  }
  throw new Error(`parseScope accepted ${JSON.stringify(value)}`);
}

describe('parseScope (RFC 6749 §3.3)', () => {
  it.each([
    ['read', ['read']],
    ['read write', ['read', 'write']],
    ['write read', ['write', 'read']],
    ['read write read', ['read', 'write']],
    ['read read read', ['read']],
    ['  read   write ', ['read', 'write']],
    ['invoices:read https://api.example.com/orders.write', ['invoices:read', 'https://api.example.com/orders.write']],
    // Every printable ASCII character but the double quote and the backslash: %x21 / %x23-5B / %x5D-7E.
    ["!#$%&'()*+,-./0123456789:;<=>?@AZ[]^_`az{|}~", ["!#$%&'()*+,-./0123456789:;<=>?@AZ[]^_`az{|}~"]],
    ['Read read', ['Read', 'read']], // case-sensitive
  ])('%j → %j', (value, tokens) => {
    expect(parseScope(value)).toEqual(tokens);
  });

  it.each(['', ' ', '     '])('refuses the empty scope %j with invalid_request', (value) => {
    expect(refusal(value)).toEqual({
      code: 'invalid_request',
      status: 400,
      description: 'The scope parameter is empty.',
    });
  });

  it.each([
    ['a double quote', 'read "write"'],
    ['a backslash', 'read wr\\ite'],
    ['a tab separator', 'read\twrite'],
    ['a newline', 'read\nwrite'],
    ['a NUL', 'read\u0000'],
    ['a DEL', 'read\u007f'],
    ['a non-ASCII letter', 'café'],
    ['a no-break space', 'read\u00a0write'],
    ['an emoji', '🔑'],
    ['a token over 128 characters', 'x'.repeat(129)],
  ])('refuses %s with invalid_request', (_label, value) => {
    expect(refusal(value)).toEqual({
      code: 'invalid_request',
      status: 400,
      description: 'The scope parameter is malformed.',
    });
  });

  it(`allows ${MAX_SCOPE_TOKENS} tokens and refuses more`, () => {
    const tokens = Array.from({ length: MAX_SCOPE_TOKENS }, (_, i) => `s${i}`);
    expect(parseScope(tokens.join(' '))).toEqual(tokens);
    expect(refusal([...tokens, 'one-more'].join(' '))).toEqual({
      code: 'invalid_request',
      status: 400,
      description: 'The scope parameter has too many values.',
    });
  });

  it('allows a 128-character token', () => {
    expect(parseScope('x'.repeat(128))).toEqual(['x'.repeat(128)]);
  });

  it('answers the error body of RFC 6749 §5.2', () => {
    let caught: unknown;
    try {
      parseScope('"');
    } catch (error) {
      caught = error;
    }
    expect((caught as OAuthError).toJSON()).toEqual({
      error: 'invalid_request',
      error_description: 'The scope parameter is malformed.',
    });
  });
});

describe('scope helpers', () => {
  it.each([
    ['read', true],
    ['a:b/c.d', true],
    ['', false],
    ['a b', false],
    ['"', false],
    ['\\', false],
    ['é', false],
  ])('isScopeToken(%j) is %s', (value, expected) => {
    expect(isScopeToken(value)).toBe(expected);
  });

  it('formats scopes space-delimited, and parses its own output back', () => {
    expect(formatScope(['profile', 'read'])).toBe('profile read');
    expect(formatScope([])).toBe('');
    expect(parseScope(formatScope(['a', 'b:c', 'd']))).toEqual(['a', 'b:c', 'd']);
  });

  it('lists the requested scopes missing from the allowed ones, in request order', () => {
    expect(missingFrom(['write', 'read', 'admin'], ['read', 'profile'])).toEqual(['write', 'admin']);
    expect(missingFrom(['read'], ['read', 'write'])).toEqual([]);
    expect(missingFrom([], [])).toEqual([]);
  });

  it('intersects in the order of the first list', () => {
    expect(intersect(['write', 'read', 'admin'], ['read', 'write'])).toEqual(['write', 'read']);
    expect(intersect(['a'], [])).toEqual([]);
  });
});
