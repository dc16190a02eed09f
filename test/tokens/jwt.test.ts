/**
 * The server's own token checks (src/tokens/jwt.ts) are the kit's rule set plus what only the
 * issuer knows: kids of authd's shape, revoked keys, no tolerance on exp. One rule at a time, each
 * refusal asserted by its stable code (InvalidTokenError.code), never by its message.
 */
import crypto from 'node:crypto';
import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import { InvalidTokenError, verifyJwt, type VerifyOptions } from '../../src/tokens/jwt';
import type { KeyRing } from '../../src/tokens/key-ring';
import { createTokenIssuer } from '../../src/tokens/token-issuer';
import { createTestClock, type TestClock } from '../support/clock';
import { createKeyTable, HOUR } from './ring-fixture';

const ISSUER = 'https://authd.jwt.test';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const NOW = T0 / 1000;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe("the server's token checks", () => {
  let ring: KeyRing;
  let clock: TestClock;
  let table: ReturnType<typeof createKeyTable>;
  let kid: string;
  let privateKey: crypto.KeyObject;

  beforeAll(async () => {
    table = createKeyTable();
    clock = createTestClock(T0);
    ({ kid, privateKey } = await table.add(T0 - HOUR));
    ring = await table.ring(clock);
  });
  beforeEach(() => clock.set(T0));

  const claims = (changes: Record<string, unknown> = {}) => {
    const base: Record<string, unknown> = {
      iss: ISSUER,
      sub: 'u1',
      aud: ISSUER,
      exp: NOW + 300,
      iat: NOW,
      jti: 'j1',
      client_id: 'web',
      scope: 'read',
    };
    for (const [name, value] of Object.entries(changes)) {
      if (value === null) delete base[name];
      else base[name] = value;
    }
    return base;
  };
  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}, key = privateKey) => {
    const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid, ...header })}.${b64(payload)}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  };
  const codeOf = async (token: string, options: Partial<VerifyOptions> = {}) => {
    try {
      await verifyJwt(token, ring, { typ: 'at+jwt', issuer: ISSUER, now: clock.now(), ...options });
      return 'ok';
    } catch (error) {
      if (error instanceof InvalidTokenError) return error.code;
      throw error;
    }
  };

  it("accepts the issuer's own access token, and the token issuer's verifyAccessToken returns its claims", async () => {
    const issuer = createTokenIssuer({ ring, issuer: ISSUER, clock });
    const { token } = await issuer.issueAccessToken({
      subject: 'u1',
      clientId: 'web',
      audience: 'https://api.test',
      scopes: ['read'],
      roles: ['user'],
      ttlSeconds: 300,
    });
    expect(await codeOf(token)).toBe('ok');
    expect(await issuer.verifyAccessToken(token)).toMatchObject({
      sub: 'u1',
      client_id: 'web',
      aud: 'https://api.test',
      scope: 'read',
      roles: ['user'],
    });
  });

  it.each<[string, () => string, string]>([
    ["a kid not of authd's shape", () => sign(claims(), { kid: '../../etc/passwd' }), 'unknown_key'],
    ['a well-formed kid the ring does not know', () => sign(claims(), { kid: 'B'.repeat(43) }), 'unknown_key'],
    [
      'a header outside the allowlist (was allowed by the old denylist)',
      () => sign(claims(), { cty: 'JWT' }),
      'header',
    ],
    ['a jku header', () => sign(claims(), { jku: 'https://evil.example/jwks' }), 'header'],
    ['no client_id (not required before)', () => sign(claims({ client_id: null })), 'claims'],
    ['no aud', () => sign(claims({ aud: null })), 'claims'],
    ['sub not a string', () => sign(claims({ sub: 7 })), 'claims'],
    ["a refresh token's typ", () => sign(claims(), { typ: 'rt+jwt' }), 'type'],
    ['another issuer', () => sign(claims({ iss: 'https://evil.example' })), 'issuer'],
    ['exactly at exp: the issuer allows no tolerance on its own clock', () => sign(claims({ exp: NOW })), 'expired'],
    [
      "iat beyond the skew ahead (60 s before, now the rule set's 30 s)",
      () => sign(claims({ iat: NOW + CLOCK_SKEW_SECONDS + 1 })),
      'not_yet_valid',
    ],
    [
      "a foreign key under authd's kid",
      () => sign(claims(), {}, crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
      'signature',
    ],
    ['longer than the cap', () => sign(claims({ pad: 'x'.repeat(8192) })), 'too_long'],
  ])('refuses %s', async (_name, make, code) => {
    expect(await codeOf(make())).toBe(code);
  });

  it("accepts iat up to the skew ahead: instances' clocks differ a little", async () => {
    expect(await codeOf(sign(claims({ iat: NOW + CLOCK_SKEW_SECONDS })))).toBe('ok');
  });

  it('checks the audience only when asked, and the extra claims asked for', async () => {
    expect(await codeOf(sign(claims({ aud: 'https://other.test' })))).toBe('ok');
    expect(await codeOf(sign(claims({ aud: 'https://other.test' })), { audience: ISSUER })).toBe('audience');
    expect(await codeOf(sign(claims(), { typ: 'rt+jwt' }), { typ: 'rt+jwt', requiredClaims: ['sid'] })).toBe('claims');
    expect(
      await codeOf(sign(claims({ sid: 's1' }), { typ: 'rt+jwt' }), { typ: 'rt+jwt', requiredClaims: ['sid'] }),
    ).toBe('ok');
  });

  it("refuses a revoked key's token, unless told to look at it (then it is flagged)", async () => {
    const revokedTable = createKeyTable();
    const compromised = await revokedTable.add(T0 - 2 * HOUR, { revokedAt: T0 - HOUR });
    await revokedTable.add(T0 - HOUR);
    const revokedRing = await revokedTable.ring(clock);
    const token = sign(claims(), { kid: compromised.kid }, compromised.privateKey);
    const options = { typ: 'at+jwt', issuer: ISSUER, now: clock.now() };
    await expect(verifyJwt(token, revokedRing, options)).rejects.toMatchObject({
      name: 'InvalidTokenError',
      code: 'key_revoked',
    });
    expect(await verifyJwt(token, revokedRing, { ...options, acceptRevokedKey: true })).toMatchObject({
      kid: compromised.kid,
      keyRevoked: true,
    });
  });

  it('a refresh token keeps its own type and audience, and the token issuer requires its sid', async () => {
    const issuer = createTokenIssuer({ ring, issuer: ISSUER, clock });
    const noSid = sign(claims({ aud: `${ISSUER}/oauth/token` }), { typ: 'rt+jwt' });
    await expect(issuer.verifyRefreshToken(noSid)).rejects.toMatchObject({ code: 'claims' });
    const withSid = sign(claims({ aud: `${ISSUER}/oauth/token`, sid: 's1' }), { typ: 'rt+jwt' });
    expect(await issuer.verifyRefreshToken(withSid)).toEqual({
      jti: 'j1',
      userId: 'u1',
      clientId: 'web',
      sessionId: 's1',
    });
    await expect(issuer.verifyAccessToken(withSid)).rejects.toMatchObject({ code: 'type' });
    await expect(issuer.verifyRefreshToken(sign(claims({ sid: 's1' }), { typ: 'rt+jwt' }))).rejects.toMatchObject({
      code: 'audience',
    });
  });
});
