/**
 * The rule set of access-token.ts, one rule at a time: a token that breaks just that rule is
 * refused with that rule's code; every other part of the token is valid. The server runs the
 * same function (src/tokens/jwt.ts), so these are its rules too.
 */
import crypto from 'node:crypto';
import {
  CLOCK_SKEW_SECONDS,
  RULES,
  TokenRuleError,
  toleranceOf,
  verifyTokenRules,
  type TokenRuleOptions,
} from '@authd/verifier';
import { AUDIENCE, ISSUER, KID, mintToken, NOW, NOW_MS, signingKey } from './token-helpers';

const OPTIONS: TokenRuleOptions = { issuer: ISSUER, audience: AUDIENCE, now: NOW_MS };
const resolveKey = async (kid: string) => (kid === KID ? signingKey.publicKey : undefined);
const foreign = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

async function codeOf(token: string, options: Partial<TokenRuleOptions> = {}): Promise<string> {
  try {
    await verifyTokenRules(token, resolveKey, { ...OPTIONS, ...options });
    return 'ok';
  } catch (error) {
    if (error instanceof TokenRuleError) return error.code;
    throw error;
  }
}

/** The longest token whose padding claim keeps it within `length` characters. */
function tokenOfLength(length: number): string {
  let best = mintToken({ claims: { pad: '' } });
  for (let n = Math.floor(((length - best.length) * 3) / 4); ; n++) {
    const next = mintToken({ claims: { pad: 'x'.repeat(n) } });
    if (next.length > length) return best;
    best = next;
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('the access-token rule set', () => {
  it('accepts a token that keeps every rule, and returns its header, claims and kid', async () => {
    const verified = await verifyTokenRules(mintToken(), resolveKey, OPTIONS);
    expect(verified.kid).toBe(KID);
    expect(verified.header).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: KID });
    expect(verified.payload).toMatchObject({ sub: 'user-1', client_id: 'web' });
  });

  const header = (changes: Record<string, unknown>) => mintToken({ header: changes });
  const claims = (changes: Record<string, unknown>) => mintToken({ claims: changes });

  it.each<[string, () => string, string]>([
    ['longer than the cap', () => mintToken({ claims: { pad: 'x'.repeat(RULES.maxTokenLength) } }), 'too_long'],
    ['two segments', () => mintToken().split('.').slice(0, 2).join('.'), 'malformed'],
    ['a segment that is no base64url', () => `${mintToken()}!`, 'malformed'],
    [
      'a signature of 4n+1 characters',
      () => {
        const t = mintToken();
        return t + 'A'.repeat((5 - (t.split('.')[2].length % 4)) % 4);
      },
      'malformed',
    ],
    [
      'a payload that is no JSON object',
      () => {
        const [h, , s] = mintToken().split('.');
        return `${h}.${Buffer.from('[1]').toString('base64url')}.${s}`;
      },
      'malformed',
    ],
    ['alg none', () => `${b64({ alg: 'none', typ: 'at+jwt', kid: KID })}.${mintToken().split('.')[1]}.`, 'algorithm'],
    ['alg HS256', () => header({ alg: 'HS256' }), 'algorithm'],
    ['alg RS512', () => header({ alg: 'RS512' }), 'algorithm'],
    ['typ JWT', () => header({ typ: 'JWT' }), 'type'],
    ['no typ', () => header({ typ: null }), 'type'],
    ['typ rt+jwt (a refresh token)', () => header({ typ: 'rt+jwt' }), 'type'],
    ['a jku header', () => header({ jku: 'https://evil.example/jwks' }), 'header'],
    ['an x5u header', () => header({ x5u: 'https://evil.example/cert' }), 'header'],
    ['a jwk header', () => header({ jwk: { kty: 'RSA' } }), 'header'],
    ['an x5c header', () => header({ x5c: ['MIIB'] }), 'header'],
    ['a crit header', () => header({ crit: ['exp'] }), 'header'],
    ['any other header', () => header({ cty: 'JWT' }), 'header'],
    ['no kid', () => header({ kid: null }), 'unknown_key'],
    ['an empty kid', () => header({ kid: '' }), 'unknown_key'],
    ['an unknown kid', () => header({ kid: 'other-key' }), 'unknown_key'],
    ['a foreign key under our kid', () => mintToken({ key: foreign.privateKey }), 'signature'],
    [
      'a changed payload',
      () => {
        const [h, , s] = mintToken().split('.');
        return `${h}.${mintToken({ claims: { scope: 'admin' } }).split('.')[1]}.${s}`;
      },
      'signature',
    ],
    ...RULES.requiredClaims.map((name): [string, () => string, string] => [
      `no ${name}`,
      () => claims({ [name]: null }),
      'claims',
    ]),
    ['sub a number', () => claims({ sub: 42 }), 'claims'],
    ['an empty jti', () => claims({ jti: '' }), 'claims'],
    ['client_id a list', () => claims({ client_id: ['web'] }), 'claims'],
    ['aud an empty list', () => claims({ aud: [] }), 'claims'],
    ['aud a number', () => claims({ aud: 1 }), 'claims'],
    ['exp a string', () => claims({ exp: 'tomorrow' }), 'claims'],
    ['iat a string', () => claims({ iat: 'now' }), 'claims'],
    ['nbf a string', () => claims({ nbf: 'soon' }), 'claims'],
    ['sid a number', () => claims({ sid: 1 }), 'claims'],
    ['scope a list', () => claims({ scope: ['read'] }), 'claims'],
    ['roles a string', () => claims({ roles: 'admin' }), 'claims'],
    ['acr a number', () => claims({ acr: 2 }), 'claims'],
    ['amr a string', () => claims({ amr: 'pwd' }), 'claims'],
    ['auth_time a string', () => claims({ auth_time: 'yesterday' }), 'claims'],
    ['another issuer', () => claims({ iss: 'https://evil.example' }), 'issuer'],
    ['the issuer with a trailing slash', () => claims({ iss: `${ISSUER}/` }), 'issuer'],
    ['another audience', () => claims({ aud: 'https://other.example' }), 'audience'],
    ['expired beyond the skew', () => claims({ exp: NOW - CLOCK_SKEW_SECONDS }), 'expired'],
    ['nbf beyond the skew ahead', () => claims({ nbf: NOW + CLOCK_SKEW_SECONDS + 1 }), 'not_yet_valid'],
    ['iat beyond the skew ahead', () => claims({ iat: NOW + CLOCK_SKEW_SECONDS + 1 }), 'not_yet_valid'],
    ['auth_time beyond the skew ahead', () => claims({ auth_time: NOW + CLOCK_SKEW_SECONDS + 1 }), 'not_yet_valid'],
  ])('refuses %s', async (_name, make, code) => {
    expect(await codeOf(make())).toBe(code);
  });

  it.each<[string, () => string]>([
    ['expired within the skew', () => claims({ exp: NOW - CLOCK_SKEW_SECONDS + 1 })],
    [
      'iat, nbf and auth_time at the edge of the skew',
      () =>
        claims({ iat: NOW + CLOCK_SKEW_SECONDS, nbf: NOW + CLOCK_SKEW_SECONDS, auth_time: NOW + CLOCK_SKEW_SECONDS }),
    ],
    ['an audience list holding ours', () => claims({ aud: ['https://other.example', AUDIENCE] })],
  ])('accepts %s', async (_name, make) => {
    const token = make();
    expect(await codeOf(token)).toBe('ok');
  });

  it('accepts a token at the cap', async () => {
    const token = tokenOfLength(RULES.maxTokenLength);
    expect(token.length).toBeGreaterThan(RULES.maxTokenLength - 4);
    expect(await codeOf(token)).toBe('ok');
  });

  it('accepts any audience when none is asked for (the server checks its own)', async () => {
    expect(await codeOf(claims({ aud: 'https://other.example' }), { audience: undefined })).toBe('ok');
  });

  it('judges exp by the expiry tolerance, and a tolerance of 0 refuses a token at its exp', async () => {
    expect(await codeOf(claims({ exp: NOW - 5 }), { expiryToleranceSeconds: 10 })).toBe('ok');
    expect(await codeOf(claims({ exp: NOW }), { expiryToleranceSeconds: 0 })).toBe('expired');
    expect(await codeOf(claims({ exp: NOW + 1 }), { expiryToleranceSeconds: 0 })).toBe('ok');
    // nbf/iat keep the full tolerance.
    expect(await codeOf(claims({ iat: NOW + 20 }), { expiryToleranceSeconds: 0 })).toBe('ok');
  });

  it('requires the extra claims asked for', async () => {
    expect(await codeOf(claims({ sid: null }), { requiredClaims: ['sid'] })).toBe('claims');
    expect(await codeOf(claims({}), { requiredClaims: ['sid'] })).toBe('ok');
  });

  it('reads another typ when asked, with the same rules', async () => {
    expect(await codeOf(header({ typ: 'rt+jwt' }), { typ: 'rt+jwt' })).toBe('ok');
    expect(await codeOf(mintToken(), { typ: 'rt+jwt' })).toBe('type');
  });

  it('lets a refusal thrown by the key lookup through (e.g. a revoked key)', async () => {
    const refusal = new TokenRuleError('key_revoked', 'revoked');
    await expect(
      verifyTokenRules(
        mintToken(),
        async () => {
          throw refusal;
        },
        OPTIONS,
      ),
    ).rejects.toBe(refusal);
  });

  it("allows a clock tolerance between 0 and the rule set's skew, and no more", () => {
    expect(toleranceOf(undefined)).toBe(CLOCK_SKEW_SECONDS);
    expect(toleranceOf(0)).toBe(0);
    expect(toleranceOf(CLOCK_SKEW_SECONDS)).toBe(CLOCK_SKEW_SECONDS);
    expect(() => toleranceOf(CLOCK_SKEW_SECONDS + 1)).toThrow(
      new RangeError(
        `a clock tolerance must lie between 0 and ${CLOCK_SKEW_SECONDS} seconds (authd keeps revocations and retired keys only that long past exp), not ${CLOCK_SKEW_SECONDS + 1}`,
      ),
    );
    expect(() => toleranceOf(-1)).toThrow(RangeError);
    expect(() => toleranceOf(Number.NaN)).toThrow(RangeError);
  });
});
