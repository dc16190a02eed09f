import crypto from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from 'jose';
import { createJwtSigner } from '../../src/tokens/jwt-signer';
import { generateSigningKey } from '../../src/tokens/key-files';
import type { RingKey } from '../../src/tokens/key-ring';

async function ringKey(): Promise<RingKey> {
  const generated = await generateSigningKey();
  const now = new Date(0);
  return {
    kid: generated.kid,
    publicJwk: generated.publicJwk,
    createdAt: now,
    activatesAt: now,
    retiresAt: null,
    revokedAt: null,
    privateKey: generated.privateKey,
    publicKey: crypto.createPublicKey(generated.privateKey),
  };
}

const claims = {
  iss: 'https://auth.example',
  sub: 'user-1',
  aud: 'https://api.example',
  exp: 2_000_000_000,
  iat: 1_999_999_100,
  jti: 'f3a7c1e2-0000-4000-8000-000000000001',
  client_id: 'web',
  scope: 'read write',
  roles: ['admin'],
  sid: 'session-1',
  name: 'Zoë "quoted" \u2028 ☃',
};

describe('jwt signer', () => {
  it('makes exactly the token jose makes for the same header and claims (RS256 is deterministic)', async () => {
    const key = await ringKey();
    const signer = createJwtSigner();
    for (const typ of ['at+jwt', 'rt+jwt']) {
      const ours = await signer.sign(typ, claims, key);
      const jose = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ, kid: key.kid })
        .sign(key.privateKey!);
      expect(ours).toBe(jose);
      // The cached header segment is reused, not mixed up between types.
      expect(await signer.sign(typ, claims, key)).toBe(jose);
    }
  });

  it('signs tokens that verify against the published JWK, with the header it was asked for', async () => {
    const key = await ringKey();
    const token = await createJwtSigner().sign('at+jwt', claims, key);
    const { payload, protectedHeader } = await jwtVerify(token, await importJWK(key.publicJwk, 'RS256'), {
      algorithms: ['RS256'],
      typ: 'at+jwt',
      currentDate: new Date(1_999_999_200_000),
    });
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: key.kid });
    expect(payload).toEqual(claims);
  });

  it('signs many tokens at once, each with its own claims', async () => {
    const key = await ringKey();
    const signer = createJwtSigner();
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signer.sign('at+jwt', { ...claims, jti: String(i) }, key)),
    );
    const publicKey = await importJWK(key.publicJwk, 'RS256');
    const jtis = await Promise.all(
      tokens.map(
        async (t) => (await jwtVerify(t, publicKey, { currentDate: new Date(1_999_999_200_000) })).payload.jti,
      ),
    );
    expect(jtis).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(decodeProtectedHeader(tokens[0]!).kid).toBe(key.kid);
  });

  it('refuses a key whose private half this instance does not hold', async () => {
    const key = { ...(await ringKey()), privateKey: undefined };
    await expect(createJwtSigner().sign('at+jwt', claims, key)).rejects.toThrow(`no private key for ${key.kid}`);
  });
});
