/**
 * A signing key authd stops trusting must stop verifying at the kit too (issue 10 part 1):
 *   - in Redis revocation mode, at once: the kit reads <prefix>{rv}:kid:<kid> in its one MGET and
 *     refuses with key_revoked, even while the key is still in its cached JWKS;
 *   - in every mode, at the kit's next JWKS fetch: a kid that has left authd's JWKS is not served
 *     from the old cache (reason unknown_key).
 * The tokens are forged with the old private key, as an attacker holding a leaked .pem would.
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { createVerifier, revokedKeyKey, type RedisLike, type VerifierOptions } from '@authd/verifier';
import { rotateSigningKey } from '../../src/tokens/key-management';
import type { RingKey } from '../../src/tokens/key-ring';
import { backends, type TestStack } from '../support/backends';
import { decodeJwt, PASSWORD } from '../support/fixtures';
import { loginAt, startLiveAuthd, type LiveAuthd } from './live-authd';

jest.setTimeout(60_000);

const AUDIENCE = 'https://orders.test';
const JWKS_PATH = '/.well-known/jwks.json';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe.each(backends())('the kit and a signing key authd no longer trusts, authd on $name', (backend) => {
  let stack: TestStack;
  let authd: LiveAuthd;
  let issuer: string;

  beforeAll(async () => {
    authd = await startLiveAuthd(backend, { AUTHD_JWKS_MAX_AGE: '600' });
    ({ stack, issuer } = authd);
    await stack.services.clientService.create({
      id: 'orders-web',
      name: 'Orders web',
      confidential: false,
      firstParty: true,
      grantTypes: ['password'],
      scopes: ['read'],
      defaultScopes: ['read'],
      audience: AUDIENCE,
    });
    await stack.services.users.create({
      username: 'bob@example.com',
      password: PASSWORD,
      roles: ['user'],
      scopes: ['read'],
    });
  });

  afterAll(() => authd?.close());

  const login = async () => (await loginAt(issuer, { clientId: 'orders-web', username: 'bob@example.com' })).access;

  /** A fresh token (iat now) with a real token's claims, signed with `key`'s private key under its kid. */
  function forgeWith(key: RingKey, claimsOf: string): string {
    const now = Math.floor(stack.clock.now() / 1000);
    const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: key.kid })}.${b64({ ...decodeJwt(claimsOf).payload, iat: now, exp: now + 300, jti: crypto.randomUUID() })}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), key.privateKey!).toString('base64url')}`;
  }

  function jwksCounter() {
    let calls = 0;
    const counted: typeof fetch = (input, init) => {
      if (new URL(String(input)).pathname === JWKS_PATH) calls++;
      return fetch(input, init);
    };
    return { fetch: counted, calls: () => calls };
  }

  const options = (extra: Partial<VerifierOptions>): VerifierOptions => ({
    issuer,
    audience: AUDIENCE,
    now: () => stack.clock.now(),
    ...extra,
  });

  if (backend.redisUrl) {
    it('refuses every token of a kid revoked in the Redis index at once (key_revoked), read in the same single MGET, while the JWKS cache still holds the key', async () => {
      const redis = new Redis(backend.redisUrl!);
      try {
        const mgets: string[][] = [];
        const recording: RedisLike = {
          mget: (...keys) => {
            mgets.push(keys);
            return redis.mget(...keys);
          },
        };
        const jwks = jwksCounter();
        const verifier = createVerifier(
          options({ fetch: jwks.fetch, revocation: { redis: recording, keyPrefix: stack.config.redisPrefix } }),
        );
        const key = stack.services.ring.signingKey();
        const token = await login();
        await expect(verifier.verifyAccessToken(token)).resolves.toMatchObject({ clientId: 'orders-web' });

        const entry = stack.config.redisPrefix + revokedKeyKey(key.kid);
        expect(mgets).toEqual([expect.arrayContaining([entry])]);
        await redis.set(entry, String(stack.clock.now()));
        try {
          for (const presented of [token, forgeWith(key, token)]) {
            await expect(verifier.verifyAccessToken(presented)).rejects.toMatchObject({
              code: 'invalid_token',
              reason: 'key_revoked',
            });
          }
        } finally {
          await redis.del(entry);
        }
        expect(verifier.keySet.stats().keys).toContain(key.kid);
        expect(jwks.calls()).toBe(1);
        // One MGET per verification: epoch, jti, sid, user and kid together.
        expect(mgets).toHaveLength(3);
        for (const keys of mgets) expect(keys).toHaveLength(5);
        await expect(verifier.verifyAccessToken(token)).resolves.toMatchObject({ clientId: 'orders-web' });
      } finally {
        await redis.quit();
      }
    });
  }

  // Last in this file: it moves authd's clock past the old key's last possible token.
  it("refuses a kid that has left authd's JWKS once the kit refetches it (unknown_key), instead of serving its cached key", async () => {
    const jwks = jwksCounter();
    const verifier = createVerifier(options({ fetch: jwks.fetch }));
    const old = stack.services.ring.signingKey();
    const token = await login();
    await verifier.verifyAccessToken(token);
    expect(jwks.calls()).toBe(1);

    // An emergency rotation: the old key stops signing at once, and stays published (so its
    // tokens keep verifying) until the last token it could have signed has expired.
    await rotateSigningKey(stack.services.keyManagement, true);
    await stack.services.ring.reload();
    await expect(verifier.verifyAccessToken(forgeWith(old, token))).resolves.toMatchObject({ clientId: 'orders-web' });

    stack.clock.advance(stack.services.keyManagement.maxTokenLifetimeMs + 1000);
    await stack.services.ring.reload();
    const published = (await (await fetch(`${issuer}${JWKS_PATH}`)).json()) as { keys: Array<{ kid: string }> };
    expect(published.keys.map((k) => k.kid)).not.toContain(old.kid);

    // The kit's cached JWKS has run out (max-age 600 s): its next fetch no longer has the old kid.
    await expect(verifier.verifyAccessToken(forgeWith(old, token))).rejects.toMatchObject({
      code: 'invalid_token',
      reason: 'unknown_key',
    });
    expect(jwks.calls()).toBe(2);
    expect(verifier.keySet.stats().keys).not.toContain(old.kid);
    await expect(verifier.verifyAccessToken(await login())).resolves.toMatchObject({ clientId: 'orders-web' });
  });
});
