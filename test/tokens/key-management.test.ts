import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLOCK_SKEW_SECONDS } from '@authd/verifier';
import { parseConfig } from '../../src/config';
import { openServices } from '../../src/services';
import { readMigrations } from '../../src/store/migrate';
import { generateSigningKey, savePrivateKey } from '../../src/tokens/key-files';
import {
  ensureSigningKey,
  listSigningKeys,
  retireSigningKey,
  revokeSigningKey,
  rotateSigningKey,
} from '../../src/tokens/key-management';
import { createKeyRepository } from '../../src/tokens/key-repository';
import { NoSigningKeyError } from '../../src/tokens/key-ring';
import {
  backends,
  createScratchDatabase,
  FAST_ARGON2,
  openStack,
  silentLogger,
  tempDir,
  type TestStack,
} from '../support/backends';
import { domainError } from '../support/domain-error';
import { waitUntil } from '../support/suite';

const publishedKids = (stack: TestStack): string[] =>
  (JSON.parse(stack.services.ring.jwks().body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();

/** Keys activating at one instant are listed in kid order: compare in kid order. */
const byKid = <T extends { kid: string }>(keys: T[]): T[] => [...keys].sort((a, b) => (a.kid < b.kid ? -1 : 1));

const pemFiles = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.pem'))
    .sort();

describe.each(backends())('signing keys on $name', (backend) => {
  let stack: TestStack;
  let start: number;
  /** What the first start left behind, observed before any test changes the keys. */
  let firstStart: {
    keys: Awaited<ReturnType<typeof listSigningKeys>>;
    pemFiles: string[];
    modes: Record<string, number>;
    privateKeyN: string | undefined;
    signingKid: string;
    published: string[];
  };

  beforeAll(async () => {
    stack = await openStack(backend);
    start = stack.clock.now();
    const keys = await listSigningKeys(km());
    const dir = stack.config.keysDir;
    const files = [...pemFiles(dir), 'client-secret.key'];
    firstStart = {
      keys,
      pemFiles: pemFiles(dir),
      modes: Object.fromEntries(files.map((f) => [f, fs.statSync(path.join(dir, f)).mode & 0o777])),
      privateKeyN:
        keys[0] &&
        crypto
          .createPublicKey(crypto.createPrivateKey(fs.readFileSync(path.join(dir, `${keys[0].kid}.pem`), 'utf8')))
          .export({ format: 'jwk' }).n,
      signingKid: stack.services.ring.signingKey().kid,
      published: publishedKids(stack),
    };
  });
  afterAll(() => stack.close());

  // Each test starts from a first start again: no keys but one fresh active key, the clock at its start.
  beforeEach(async () => {
    stack.clock.set(start);
    await stack.services.db.query('DELETE FROM signing_keys');
    await stack.services.db.query("DELETE FROM revocations WHERE kind = 'kid'");
    for (const file of pemFiles(stack.config.keysDir)) fs.unlinkSync(path.join(stack.config.keysDir, file));
    await ensureSigningKey(km());
    await stack.services.ring.reload();
  });

  const km = () => stack.services.keyManagement;
  // 30 d (refresh absolute) + the rule set's clock skew; standby is JWKS max-age + ring refresh = 600 s + 60 s.
  const MAX_TOKEN_LIFETIME_MS = (30 * 86_400 + CLOCK_SKEW_SECONDS) * 1000;
  const STANDBY_MS = (600 + 60) * 1000;

  it('derives its timings from the configuration', () => {
    expect({ maxTokenLifetimeMs: km().maxTokenLifetimeMs, standbyMs: km().standbyMs, keysDir: km().keysDir }).toEqual({
      maxTokenLifetimeMs: MAX_TOKEN_LIFETIME_MS,
      standbyMs: STANDBY_MS,
      keysDir: stack.config.keysDir,
    });
  });

  it('creates one active key at first start, its private half readable by the owner only', () => {
    const { keys } = firstStart;
    expect(keys).toEqual([
      {
        kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        publicJwk: { kty: 'RSA', n: expect.any(String), e: 'AQAB', kid: keys[0].kid, alg: 'RS256', use: 'sig' },
        createdAt: new Date(start),
        activatesAt: new Date(start),
        retiresAt: null,
        revokedAt: null,
        state: 'active',
        hasPrivateKey: true,
      },
    ]);
    const { kid } = keys[0];
    expect(firstStart).toEqual({
      keys,
      pemFiles: [`${kid}.pem`],
      // The private key and the client-secret HMAC key beside it: owner read/write only.
      modes: { [`${kid}.pem`]: 0o600, 'client-secret.key': 0o600 },
      // The file holds the private half of the published public key.
      privateKeyN: keys[0].publicJwk.n,
      signingKid: kid,
      published: [kid],
    });
  });

  it('does not create a second key when one is active (a restart)', async () => {
    const [first] = await listSigningKeys(km());
    expect(await ensureSigningKey(km())).toBeUndefined();
    expect((await listSigningKeys(km())).map((k) => k.kid)).toEqual([first.kid]);
  });

  it('rotates through standby, active, retired and expired as the clock moves', async () => {
    const [old] = await listSigningKeys(km());
    const { tokens, ring } = stack.services;
    const signedByOld = await tokens.issueAccessToken({
      subject: 'u1',
      clientId: 'c1',
      audience: 'https://api.test',
      scopes: ['read'],
      roles: [],
      ttlSeconds: 900,
    });

    const fresh = await rotateSigningKey(km());
    expect(fresh).toEqual({
      kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      publicJwk: expect.objectContaining({ kty: 'RSA', kid: fresh.kid, alg: 'RS256', use: 'sig' }),
      createdAt: new Date(start),
      activatesAt: new Date(start + STANDBY_MS),
      retiresAt: null,
      revokedAt: null,
    });
    expect(fresh.kid).not.toBe(old.kid);
    expect(fs.statSync(path.join(stack.config.keysDir, `${fresh.kid}.pem`)).mode & 0o777).toBe(0o600);

    // Standby: published (so verifiers can fetch it before it signs), but not signing.
    await ring.reload();
    expect(publishedKids(stack)).toEqual([old.kid, fresh.kid].sort());
    expect(ring.signingKey().kid).toBe(old.kid);
    expect(await listSigningKeys(km())).toEqual([
      { ...old, retiresAt: new Date(start + STANDBY_MS), state: 'active', hasPrivateKey: true },
      { ...fresh, state: 'standby', hasPrivateKey: true },
    ]);

    stack.clock.advance(STANDBY_MS - 1);
    expect(ring.signingKey().kid).toBe(old.kid);

    // Activation: the new key signs; the old one is retired but still verifies and is still published.
    stack.clock.advance(1);
    expect(ring.signingKey().kid).toBe(fresh.kid);
    expect(tokens.currentKid()).toBe(fresh.kid);
    expect((await listSigningKeys(km())).map((k) => [k.kid, k.state])).toEqual([
      [old.kid, 'retired'],
      [fresh.kid, 'active'],
    ]);
    expect(await ring.verificationKey(old.kid)).toBeInstanceOf(crypto.KeyObject);
    expect(publishedKids(stack)).toEqual([old.kid, fresh.kid].sort());
    await expect(tokens.verifyAccessToken(signedByOld.token)).resolves.toMatchObject({ sub: 'u1', client_id: 'c1' });

    // Still verifying until the longest token it may have signed has expired.
    stack.clock.advance(MAX_TOKEN_LIFETIME_MS - 1);
    await ring.reload();
    expect(await ring.verificationKey(old.kid)).toBeInstanceOf(crypto.KeyObject);
    expect(publishedKids(stack)).toEqual([old.kid, fresh.kid].sort());

    // Expired: neither published nor verifying, with or without a reload.
    stack.clock.advance(1);
    expect(await ring.verificationKey(old.kid)).toBeUndefined();
    expect(publishedKids(stack)).toEqual([fresh.kid]);
    await ring.reload();
    expect(await ring.verificationKey(old.kid)).toBeUndefined();
    expect(publishedKids(stack)).toEqual([fresh.kid]);
    expect(ring.signingKey().kid).toBe(fresh.kid);
    expect((await listSigningKeys(km())).map((k) => [k.kid, k.state])).toEqual([
      [old.kid, 'expired'],
      [fresh.kid, 'active'],
    ]);
  });

  it('activates at once and retires the others at once with immediate rotation', async () => {
    const [old] = await listSigningKeys(km());
    const fresh = await rotateSigningKey(km(), true);
    expect(fresh.activatesAt).toEqual(new Date(start));
    await stack.services.ring.reload();
    expect(stack.services.ring.signingKey().kid).toBe(fresh.kid);
    expect(byKid(await listSigningKeys(km()))).toEqual(
      byKid([
        { ...old, retiresAt: new Date(start), state: 'retired', hasPrivateKey: true },
        { ...fresh, state: 'active', hasPrivateKey: true },
      ]),
    );
    // The old key keeps verifying what it signed.
    expect(await stack.services.ring.verificationKey(old.kid)).toBeInstanceOf(crypto.KeyObject);
    expect(publishedKids(stack)).toEqual([old.kid, fresh.kid].sort());
  });

  it('refuses to retire the only active key without force', async () => {
    const [only] = await listSigningKeys(km());
    expect(await domainError(retireSigningKey(km(), only.kid))).toEqual({
      kind: 'invalid',
      message: expect.stringContaining('only active key'),
    });
    expect((await listSigningKeys(km())).map((k) => k.state)).toEqual(['active']);

    // A standby key does not count: it cannot sign yet.
    await rotateSigningKey(km());
    expect((await domainError(retireSigningKey(km(), only.kid))).kind).toBe('invalid');
  });

  it('retires the only active key with force, leaving nothing to sign with', async () => {
    const [only] = await listSigningKeys(km());
    await retireSigningKey(km(), only.kid, true);
    expect(await listSigningKeys(km())).toEqual([
      { ...only, retiresAt: new Date(start), state: 'retired', hasPrivateKey: true },
    ]);
    await stack.services.ring.reload();
    expect(() => stack.services.ring.signingKey()).toThrow(NoSigningKeyError);
    expect(publishedKids(stack)).toEqual([only.kid]);
  });

  it('refuses to retire a key twice', async () => {
    const [old] = await listSigningKeys(km());
    await rotateSigningKey(km());
    stack.clock.advance(STANDBY_MS);
    // The old key retired by itself when the new one activated.
    // Retiring is not distrusting: the answer says so and names the command that is.
    const answer = {
      kind: 'invalid',
      message: `Key ${old.kid} is already retired; it still verifies the tokens it signed until they expire. If it leaked, run "authd keys revoke ${old.kid}".`,
    };
    expect(await domainError(retireSigningKey(km(), old.kid))).toEqual(answer);
    expect(await domainError(retireSigningKey(km(), old.kid, true))).toEqual(answer);
  });

  describe('revocation', () => {
    const signedBy = (kid: string) =>
      stack.services.tokens
        .issueAccessToken({
          subject: 'u1',
          clientId: 'c1',
          audience: 'https://api.test',
          scopes: [],
          roles: [],
          ttlSeconds: 900,
        })
        .then((t) => {
          expect(JSON.parse(Buffer.from(t.token.split('.')[0], 'base64url').toString()).kid).toBe(kid);
          return t.token;
        });
    const kidRevocations = () =>
      stack.services.db.query<{ subject: string; revoked_at: Date; expires_at: Date }>(
        "SELECT subject, revoked_at, expires_at FROM revocations WHERE kind = 'kid'",
      );
    const indexed = (kid: string) => stack.services.redis!.get(`{rv}:kid:${kid}`);

    it('revokes a retired key at once: it neither verifies nor is published, and the revocation is durable and indexed', async () => {
      const [old] = await listSigningKeys(km());
      const token = await signedBy(old.kid);
      const fresh = await rotateSigningKey(km(), true);
      await stack.services.ring.reload();
      await expect(stack.services.tokens.verifyAccessToken(token)).resolves.toMatchObject({ sub: 'u1' });

      stack.clock.advance(1000);
      expect(await revokeSigningKey(km(), old.kid)).toEqual({ liveRefreshTokens: 0 });
      expect(byKid(await listSigningKeys(km()))).toEqual(
        byKid([
          {
            ...old,
            retiresAt: new Date(start),
            revokedAt: new Date(start + 1000),
            state: 'revoked',
            hasPrivateKey: true,
          },
          { ...fresh, state: 'active', hasPrivateKey: true },
        ]),
      );
      // The revocations table indexes it until the last token it can have signed is past.
      expect(await kidRevocations()).toEqual([
        {
          subject: old.kid,
          revoked_at: new Date(start + 1000),
          expires_at: new Date(start + 1000 + MAX_TOKEN_LIFETIME_MS),
        },
      ]);
      if (stack.backend === 'postgres+redis') expect(await indexed(old.kid)).toBe(String(start + 1000));

      await stack.services.ring.reload();
      expect(publishedKids(stack)).toEqual([fresh.kid]);
      expect(await stack.services.ring.verificationKey(old.kid)).toBeUndefined();
      expect(stack.services.ring.key(old.kid)).toBeUndefined();
      expect(stack.services.ring.revokedKey(old.kid)).toBeInstanceOf(crypto.KeyObject);
      await expect(stack.services.tokens.verifyAccessToken(token)).rejects.toMatchObject({
        name: 'InvalidTokenError',
        code: 'key_revoked',
      });
      expect(await domainError(revokeSigningKey(km(), old.kid))).toEqual({
        kind: 'invalid',
        message: `Key ${old.kid} is already revoked.`,
      });
      expect(await domainError(retireSigningKey(km(), old.kid, true))).toEqual({
        kind: 'invalid',
        message: `Key ${old.kid} is already revoked.`,
      });
    });

    if (backend.name === 'postgres+redis')
      it('on Postgres + Redis: publishes revoked kids again at every re-seed of the index', async () => {
        const [old] = await listSigningKeys(km());
        await rotateSigningKey(km(), true, true);
        const redis = stack.services.redis!;
        expect(await indexed(old.kid)).toBe(String(start));
        // Redis loses its data: the epoch marker goes with it, and the next lookup starts a re-seed.
        await redis.del(`{rv}:kid:${old.kid}`, '{rv}:epoch');
        await stack.services.revocations.isRevoked({ jti: 'x', sub: 'u1', iat: 0 });
        await waitUntil(
          'the re-seed to publish the revoked kid',
          async () => (await indexed(old.kid)) === String(start),
        );
        expect(await redis.pttl(`{rv}:kid:${old.kid}`)).toBeGreaterThan(MAX_TOKEN_LIFETIME_MS - 60_000);
      });

    it('refuses to revoke the only active key, an unknown kid, and revoke_old without an immediate rotation', async () => {
      const [only] = await listSigningKeys(km());
      expect(await domainError(revokeSigningKey(km(), only.kid))).toEqual({
        kind: 'invalid',
        message:
          'This is the only active key: run "authd keys rotate --immediate --revoke-old" to replace and revoke it in one step.',
      });
      expect(await domainError(revokeSigningKey(km(), 'A'.repeat(43)))).toEqual({
        kind: 'not_found',
        message: `No signing key with kid ${'A'.repeat(43)}.`,
      });
      expect(await domainError(rotateSigningKey(km(), false, true))).toEqual({
        kind: 'invalid',
        message: 'Revoking the old keys needs an immediate rotation: nothing else could sign.',
      });
      expect((await listSigningKeys(km())).map((k) => [k.kid, k.state])).toEqual([[only.kid, 'active']]);
      expect(await kidRevocations()).toEqual([]);
    });

    it('rotates and revokes every other key in one step (rotate --immediate --revoke-old)', async () => {
      const [old] = await listSigningKeys(km());
      const standby = await rotateSigningKey(km());
      const fresh = await rotateSigningKey(km(), true, true);
      expect(fresh.revoked?.sort()).toEqual([old.kid, standby.kid].sort());
      await stack.services.ring.reload();
      expect(stack.services.ring.signingKey().kid).toBe(fresh.kid);
      expect(publishedKids(stack)).toEqual([fresh.kid]);
      expect(byKid(await listSigningKeys(km())).map((k) => [k.kid, k.state])).toEqual(
        byKid([
          { kid: old.kid, state: 'revoked' },
          { kid: standby.kid, state: 'revoked' },
          { kid: fresh.kid, state: 'active' },
        ]).map((k) => [k.kid, k.state]),
      );
      expect((await kidRevocations()).map((r) => r.subject).sort()).toEqual([old.kid, standby.kid].sort());
    });

    it('revoking a pending standby key cancels its rotation: the current key keeps signing', async () => {
      const [current] = await listSigningKeys(km());
      const standby = await rotateSigningKey(km());
      await revokeSigningKey(km(), standby.kid);
      stack.clock.advance(STANDBY_MS);
      await stack.services.ring.reload();
      expect(stack.services.ring.signingKey().kid).toBe(current.kid);
      expect(publishedKids(stack)).toEqual([current.kid]);
    });

    it('never signs with a revoked key, even one whose private key this instance holds', async () => {
      const [old] = await listSigningKeys(km());
      const other = await generateSigningKey();
      await savePrivateKey(stack.config.keysDir, other);
      // An older key still active beside the current one: revoke the current, newer one.
      await createKeyRepository(stack.services.db).insert({
        kid: other.kid,
        publicJwk: other.publicJwk,
        createdAt: new Date(start - 1000),
        activatesAt: new Date(start - 1000),
        retiresAt: null,
        revokedAt: null,
      });
      await stack.services.ring.reload();
      expect(stack.services.ring.signingKey().kid).toBe(old.kid);
      await revokeSigningKey(km(), old.kid);
      await stack.services.ring.reload();
      expect(stack.services.ring.signingKey().kid).toBe(other.kid);
      await signedBy(other.kid);
    });
  });

  it('retires one of two active keys without force; the other keeps signing', async () => {
    // Two active keys at once (e.g. one restored from a backup): insert the second one directly.
    const [first] = await listSigningKeys(km());
    const generated = await generateSigningKey();
    await savePrivateKey(stack.config.keysDir, generated);
    stack.clock.advance(1000);
    const now = new Date(stack.clock.now());
    await createKeyRepository(stack.services.db).insert({
      kid: generated.kid,
      publicJwk: generated.publicJwk,
      createdAt: now,
      activatesAt: now,
      retiresAt: null,
      revokedAt: null,
    });
    await stack.services.ring.reload();
    expect(stack.services.ring.signingKey().kid).toBe(generated.kid); // the newest active key signs

    await retireSigningKey(km(), generated.kid);
    await stack.services.ring.reload();
    expect(stack.services.ring.signingKey().kid).toBe(first.kid);
    expect((await listSigningKeys(km())).map((k) => [k.kid, k.state])).toEqual([
      [first.kid, 'active'],
      [generated.kid, 'retired'],
    ]);
  });

  it('keeps a key signing when the standby key replacing it is retired (a rotation cancelled)', async () => {
    const [old] = await listSigningKeys(km());
    const standby = await rotateSigningKey(km());
    // Allowed: another key (the old one) is active.
    await retireSigningKey(km(), standby.kid);
    await stack.services.ring.reload();

    // When the cancelled key would have activated, something must still sign.
    stack.clock.advance(STANDBY_MS);
    await stack.services.ring.reload();
    const states = (await listSigningKeys(km())).map((k) => [k.kid, k.state]);
    expect(states).toContainEqual([old.kid, 'active']);
    expect(stack.services.ring.signingKey().kid).toBe(old.kid);
  });

  it('refuses an unknown kid', async () => {
    const kid = 'A'.repeat(43);
    expect(await domainError(retireSigningKey(km(), kid))).toEqual({
      kind: 'not_found',
      message: `No signing key with kid ${kid}.`,
    });
  });

  it('reports a key whose private half is missing from the keys directory', async () => {
    const [old] = await listSigningKeys(km());
    const fresh = await rotateSigningKey(km(), true);
    fs.unlinkSync(path.join(stack.config.keysDir, `${fresh.kid}.pem`));
    expect(byKid(await listSigningKeys(km())).map((k) => [k.kid, k.state, k.hasPrivateKey])).toEqual(
      byKid([
        { kid: old.kid, state: 'retired', hasPrivateKey: true },
        { kid: fresh.kid, state: 'active', hasPrivateKey: false },
      ]).map((k) => [k.kid, k.state, k.hasPrivateKey]),
    );
  });

  if (backend.name === 'postgres+redis')
    it('on Postgres: two instances starting at once on a fresh database make one key and migrate once', async () => {
      const scratch = await createScratchDatabase();
      const keysDir = tempDir('authd-keys-race-');
      try {
        const config = parseConfig({
          DATABASE_URL: scratch.url,
          AUTHD_KEYS_DIR: keysDir,
          AUTHD_ISSUER: 'https://authd.test',
          NODE_ENV: 'test',
          ...FAST_ARGON2,
        });
        const [a, b] = await Promise.all([
          openServices(config, { logger: silentLogger }),
          openServices(config, { logger: silentLogger }),
        ]);
        try {
          const keys = await a.db.query<{ kid: string }>('SELECT kid FROM signing_keys');
          expect(keys).toHaveLength(1);
          expect(a.ring.signingKey().kid).toBe(keys[0].kid);
          expect(b.ring.signingKey().kid).toBe(keys[0].kid);
          expect(pemFiles(keysDir)).toEqual([`${keys[0].kid}.pem`]);

          const versions = (await readMigrations()).map((m) => m.version);
          const applied = await a.db.query<{ version: string; n: number }>(
            'SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version',
          );
          expect(applied).toEqual(versions.map((version) => ({ version, n: 1 })));

          // Both hold the same client-secret key: a secret made through one matches through the other.
          expect(b.digester.digest('s')).toBe(a.digester.digest('s'));
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      } finally {
        await scratch.drop();
        fs.rmSync(keysDir, { recursive: true, force: true });
      }
    });
});
