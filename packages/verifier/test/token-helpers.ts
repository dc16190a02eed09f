/**
 * The kit's own test helpers: an RSA key with a JWKS, and tokens shaped like authd's access
 * tokens, with any header or claim changed (null removes it), signed here. No authd needed.
 */
import crypto from 'node:crypto';
import { createVerifier, type Verifier, type VerifierOptions } from '@authd/verifier';

export const ISSUER = 'https://auth.kit.test';
export const AUDIENCE = 'https://api.kit.test';
export const NOW_MS = Date.UTC(2026, 11, 1, 12, 0, 0);
export const NOW = NOW_MS / 1000;

export const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
export const KID = 'kit-test-key';
export const JWKS = {
  keys: [{ ...signingKey.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }],
};

type Json = Record<string, unknown>;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function apply(base: Json, changes: Json): Json {
  const result = { ...base };
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) delete result[name];
    else result[name] = value;
  }
  return result;
}

export function accessClaims(changes: Json = {}): Json {
  return apply(
    {
      iss: ISSUER,
      sub: 'user-1',
      aud: AUDIENCE,
      exp: NOW + 300,
      iat: NOW - 10,
      jti: 'jti-1',
      client_id: 'web',
      scope: 'read',
      roles: ['user'],
      sid: 'sid-1',
    },
    changes,
  );
}

/** A token signed with the test key (or `key`), with the header and claims changed as asked. */
export function mintToken(options: { header?: Json; claims?: Json; key?: crypto.KeyObject } = {}): string {
  const header = apply({ alg: 'RS256', typ: 'at+jwt', kid: KID }, options.header ?? {});
  const input = `${b64(header)}.${b64(accessClaims(options.claims))}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), options.key ?? signingKey.privateKey).toString('base64url')}`;
}

/** A user's token after a login with a second factor, `ageSeconds` ago. */
export const mfaClaims = (ageSeconds = 60): Json => ({
  acr: 'aal2',
  amr: ['pwd', 'otp', 'mfa'],
  auth_time: NOW - ageSeconds,
});

/** A verifier whose JWKS comes from memory and whose clock stands at NOW_MS. */
export function testVerifier(options: Partial<VerifierOptions> = {}): Verifier {
  const fetchJwks: typeof fetch = async () =>
    new Response(JSON.stringify(JWKS), {
      headers: { 'content-type': 'application/json', 'cache-control': 'max-age=600' },
    });
  return createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: `${ISSUER}/jwks`,
    fetch: fetchJwks,
    now: () => NOW_MS,
    ...options,
  });
}
