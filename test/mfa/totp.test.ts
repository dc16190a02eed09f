import crypto from 'node:crypto';
import {
  digestRecoveryCode,
  generateRecoveryCodes,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
} from '../../src/mfa/recovery-codes';
import { deriveMfaKeys, openSecret, sealSecret } from '../../src/mfa/secret-box';
import {
  base32Decode,
  base32Encode,
  matchTotp,
  provisioningUri,
  totpCode,
  type TotpAlgorithm,
} from '../../src/mfa/totp';

// RFC 6238 Appendix B: the seeds are ASCII, 20/32/64 bytes for SHA-1/256/512; 8 digits, 30 s steps.
const SEEDS: Record<TotpAlgorithm, Buffer> = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};
const VECTORS: Array<[number, string, TotpAlgorithm]> = [
  [59, '94287082', 'sha1'],
  [59, '46119246', 'sha256'],
  [59, '90693936', 'sha512'],
  [1111111109, '07081804', 'sha1'],
  [1111111109, '68084774', 'sha256'],
  [1111111109, '25091201', 'sha512'],
  [1111111111, '14050471', 'sha1'],
  [1111111111, '67062674', 'sha256'],
  [1111111111, '99943326', 'sha512'],
  [1234567890, '89005924', 'sha1'],
  [1234567890, '91819424', 'sha256'],
  [1234567890, '93441116', 'sha512'],
  [2000000000, '69279037', 'sha1'],
  [2000000000, '90698825', 'sha256'],
  [2000000000, '38618901', 'sha512'],
  [20000000000, '65353130', 'sha1'],
  [20000000000, '77737706', 'sha256'],
  [20000000000, '47863826', 'sha512'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(VECTORS)('at T=%i the code is %s (%s)', (time, code, algorithm) => {
    expect(totpCode(SEEDS[algorithm], Math.floor(time / 30), 8, algorithm)).toBe(code);
  });

  it('uses six digits of the SHA-1 code by default, as authenticator apps do', () => {
    expect(totpCode(SEEDS.sha1, Math.floor(59 / 30))).toBe('287082');
  });

  it('accepts one step of drift either way and no more, naming the step that matched', () => {
    const secret = crypto.randomBytes(20);
    const now = 1_767_268_800_000; // a step boundary
    const step = now / 30_000;
    for (const offset of [-1, 0, 1])
      expect(matchTotp(secret, totpCode(secret, step + offset), now)).toBe(step + offset);
    for (const offset of [-2, 2]) {
      const code = totpCode(secret, step + offset);
      // Another step in the window may share the code by chance (1 in 10^6 per step); only a clean miss tells.
      if (![-1, 0, 1].some((o) => totpCode(secret, step + o) === code))
        expect(matchTotp(secret, code, now)).toBeUndefined();
    }
  });

  it('refuses anything that is not six digits', () => {
    const secret = crypto.randomBytes(20);
    const code = totpCode(secret, 1000);
    for (const bad of ['', '12345', '1234567', `${code} `, 'abcdef', '١٢٣٤٥٦'])
      expect(matchTotp(secret, bad, 1000 * 30_000)).toBeUndefined();
  });

  it('encodes secrets in RFC 4648 base32 (its test vectors) and back', () => {
    const cases: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of cases) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded).toString()).toBe(plain);
    }
    expect(() => base32Decode('MZ1')).toThrow(/not base32/);
  });

  it('writes the Key URI Format authenticator apps scan', () => {
    const uri = provisioningUri(SEEDS.sha1, 'Acme Corp', 'alice@example.com');
    expect(uri).toBe(
      'otpauth://totp/Acme%20Corp:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30',
    );
  });
});

describe('MFA secrets at rest', () => {
  const keys = deriveMfaKeys(crypto.randomBytes(32));

  it('derives distinct keys for secrets and recovery codes', () => {
    expect(keys.secrets.equals(keys.recoveryCodes)).toBe(false);
    expect(keys.secrets).toHaveLength(32);
  });

  it('seals with AES-256-GCM bound to the user: another user, another key or a flipped bit does not open', () => {
    const secret = crypto.randomBytes(20);
    const sealed = sealSecret(keys.secrets, secret, 'user-1');
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain(base32Encode(secret));
    expect(openSecret(keys.secrets, sealed, 'user-1').equals(secret)).toBe(true);
    expect(() => openSecret(keys.secrets, sealed, 'user-2')).toThrow();
    expect(() => openSecret(deriveMfaKeys(crypto.randomBytes(32)).secrets, sealed, 'user-1')).toThrow();
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3], 'base64url');
    body[0] ^= 1;
    expect(() =>
      openSecret(keys.secrets, [...parts.slice(0, 3), body.toString('base64url')].join('.'), 'user-1'),
    ).toThrow();
  });
});

describe('recovery codes', () => {
  it('are ten distinct codes that read the same whatever the case, spaces or dashes', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(RECOVERY_CODE_COUNT);
    for (const code of codes) expect(code).toMatch(/^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$/);
    const [first] = codes;
    expect(normalizeRecoveryCode(` ${first.toLowerCase().replace(/-/g, ' ')} `)).toBe(first.replace(/-/g, ''));
    expect(normalizeRecoveryCode('not-a-code')).toBeUndefined();
    expect(normalizeRecoveryCode('0000-0000-0000')).toBeUndefined();
  });

  it('are stored as keyed digests', () => {
    const key = crypto.randomBytes(32);
    const digest = digestRecoveryCode(key, 'ABCDEFGHJKMN');
    expect(digest).not.toContain('ABCDEFGHJKMN');
    expect(digestRecoveryCode(crypto.randomBytes(32), 'ABCDEFGHJKMN')).not.toBe(digest);
  });
});
