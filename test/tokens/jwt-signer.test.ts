import crypto from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from 'jose';
import { createJwtSigner, verifyRs256 } from '../../src/tokens/jwt-signer';
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

describe('RS256 signature check (verifyRs256)', () => {
  const sign = (privateKey: crypto.KeyObject, alg = 'RS256') =>
    new SignJWT(claims).setProtectedHeader({ alg, typ: 'at+jwt', kid: 'k' }).sign(privateKey);

  it('accepts what jose signs and refuses any change to the header, the payload or the signature', async () => {
    const key = await ringKey();
    const token = await sign(key.privateKey!);
    expect(await verifyRs256(token, key.publicKey)).toBe(true);
    const [header, payload, signature] = token.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'user-2' })).toString('base64url');
    const otherHeader = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: 'j' })).toString('base64url');
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    expect(await verifyRs256(`${header}.${otherPayload}.${signature}`, key.publicKey)).toBe(false);
    expect(await verifyRs256(`${otherHeader}.${payload}.${signature}`, key.publicKey)).toBe(false);
    expect(await verifyRs256(`${header}.${payload}.${flipped}`, key.publicKey)).toBe(false);
    expect(await verifyRs256(`${header}.${payload}.`, key.publicKey)).toBe(false);
    expect(await verifyRs256(`${header}.${payload}.${signature.slice(0, 40)}`, key.publicKey)).toBe(false);
  });

  it('refuses a signature by another key', async () => {
    const [signer, other] = [await ringKey(), await ringKey()];
    expect(await verifyRs256(await sign(signer.privateKey!), other.publicKey)).toBe(false);
  });

  it('refuses keys RS256 may not use, as jose does: RSA under 2048 bits, or not RSA', async () => {
    const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const token = await new Promise<string>((resolve, reject) => {
      // jose refuses to sign with it too; node:crypto makes the signature the check must refuse.
      const input = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: 'k' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      crypto.sign('sha256', Buffer.from(input), small.privateKey, (error, signature) =>
        error ? reject(error) : resolve(`${input}.${signature.toString('base64url')}`),
      );
    });
    expect(
      crypto.verify(
        'sha256',
        Buffer.from(token.slice(0, token.lastIndexOf('.'))),
        small.publicKey,
        Buffer.from(token.split('.')[2], 'base64url'),
      ),
    ).toBe(true);
    expect(await verifyRs256(token, small.publicKey)).toBe(false);
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(await verifyRs256(await sign(ec.privateKey, 'ES256'), ec.publicKey)).toBe(false);
  });
});
